import json

import torch

from superposition.families import family_of
from superposition.families.toy import figure_inputs
from superposition.pages import write_html
from typer.testing import CliRunner

from superposition import make_config, plots
from superposition.cli import app
from superposition.lab import build_model
from superposition.models import ComputationModel, NeuronModel, abs_construction
from superposition.runs import Run, history_frame
from superposition.train import History

runner = CliRunner()


def test_build_model_dispatches_on_kind():
    neuron = build_model(make_config(data=dict(n_features=6, feature_probability=[1, 0.1]), model=dict(kind="neuron", n_hidden=3)))
    comp = build_model(make_config(data=dict(n_features=6), model=dict(kind="abs", n_hidden=4, bias=False, init="zeros")))
    assert isinstance(neuron, NeuronModel) and neuron.W.shape == (2, 6, 3)
    assert isinstance(comp, ComputationModel) and comp.W1.shape == (1, 6, 4) and comp.W2.shape == (1, 4, 6)
    assert comp.b is None and not comp.W1.any()


def test_cli_trains_the_abs_model_on_signed_inputs_with_abs_targets(tmp_path):
    out = tmp_path / "abs"
    result = runner.invoke(app, ["train", "--model", "abs", "--n-features", "6", "--n-hidden", "12",
                                 "--feature-probability", "1,0.1", "--steps", "200", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "config.json").read_text())["data"]
    assert data["magnitude"] == "uniform_signed" and data["target"] == "abs"
    analysis = json.loads(runner.invoke(app, ["analyze", str(out), "--json"]).output)
    neurons = analysis["instances"][0]["neurons"]
    assert neurons["monosemantic"] + neurons["polysemantic"] + neurons["dead"] == 12
    result = runner.invoke(app, ["plot", str(out), "--out", str(tmp_path / "abs.html")])
    assert result.exit_code == 0 and "Neurons, sorted by their largest" in (tmp_path / "abs.html").read_text()


def test_neuron_figure_counts_polysemantic_neurons_and_names_the_model():
    cfg = make_config(data=dict(n_features=3, feature_probability=[1.0], magnitude="uniform_signed", target="abs"),
                      model=dict(kind="abs", n_hidden=6))
    model = abs_construction(3)
    with torch.no_grad():
        model.W1[0, 1, 0] = 0.7  # neuron 0 now reads features 0 and 1: polysemantic
    run = Run(config=cfg, model=model, history=history_frame(History(steps=[1], loss=[[0.0]])))
    f = figure_inputs(run)
    fig = plots.neurons(f.W, f.importance, f.labels, f.title, nonnegative_inputs=f.nonnegative)
    assert "1 of 6 neurons polysemantic" in fig.layout.annotations[0].text
    assert "computation model" in fig.layout.title.text and "target |x|" in fig.layout.title.text
    assert len(fig.data) == 3  # one stacked trace per feature that some neuron reads
    assert [t.text for t in family_of(run).figures(run)[0].layout.annotations] == [fig.layout.annotations[0].text]
