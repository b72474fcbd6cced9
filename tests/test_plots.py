"""The figures on hand-built runs (no training): titles from the config, one panel per instance, one trace per
feature, heatmaps and bars that show the metrics' numbers, and one offline HTML file with plotly.js inside once."""

import math
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch

from superposition.families import family_of
from superposition.families.toy import figure_inputs
from superposition.pages import write_html

from superposition import plots
from superposition.config import make_config
from superposition.errors import SuperpositionError
from superposition.models import ToyModel
from superposition.runs import Run

PROBS = [1.0, 0.03]


def pentagon() -> torch.Tensor:
    t = torch.arange(5) * 2 * math.pi / 5
    return torch.stack([t.cos(), t.sin()], dim=-1)


def two_orthogonal() -> torch.Tensor:
    """Features 0 and 1 on the two hidden axes, the rest ignored (what the dense instance learns)."""
    W = torch.zeros(5, 2)
    W[0, 0], W[1, 1] = 1.0, 0.9
    return W


def make_run(W: torch.Tensor | None = None, bias: bool = True, n_hidden: int = 2, **data) -> Run:
    data = dict(n_features=5, feature_probability=PROBS, importance_decay=0.9) | data
    config = make_config(data=data, model=dict(kind="relu", n_hidden=n_hidden, bias=bias))
    if W is None:
        W = torch.stack([two_orthogonal(), pentagon()])
    n_inst = W.shape[0]
    b = torch.linspace(-0.3, 0.2, n_inst * 5).reshape(n_inst, 5) if bias else None
    history = pd.DataFrame(
        [(step, k, 0.1 / (1 + step) + 0.01 * k) for step in (0, 100, 200) for k in range(n_inst)],
        columns=["step", "instance", "loss"],
    )
    return Run(config=config, model=ToyModel.from_weights(W, b), history=history, metrics=None)


def title(fig: go.Figure) -> str:
    return fig.layout.title.text


def run_title(config) -> str:
    return family_of(config).title(config)


def instance_label(config, k: int) -> str:
    return family_of(config).instance_label(config, k)


def features_2d(run: Run, instances=None) -> go.Figure:
    f = figure_inputs(run)
    return plots.features_2d(f.W, f.table, f.labels, f.title, instances)


@pytest.fixture
def run() -> Run:
    return make_run()


def test_run_title_is_built_from_the_config(run):
    text = run_title(run.config)
    assert "n=5" in text and "m=2" in text and "0.9^i" in text and "2 instances" in text and "ReLU" in text
    linear = make_config(data=dict(n_features=7), model=dict(kind="linear", n_hidden=3, bias=False))
    text = run_title(linear)
    assert "linear" in text and "n=7" in text and "m=3" in text and "equal importance" in text and "no bias" in text


def test_instance_labels_show_feature_probability(run):
    assert instance_label(run.config, 0) == "1−S = 1"
    assert instance_label(run.config, 1) == "1−S = 0.03"
    mixed = make_config(data=dict(n_features=2, feature_probability=[[0.1, 0.3]]))
    assert instance_label(mixed, 0) == "mean 1−S = 0.2"


def test_every_figure_is_titled_from_the_config(run):
    for fig in family_of(run).figures(run):
        assert isinstance(fig, go.Figure)
        assert "n=5" in title(fig) and "m=2" in title(fig) and "0.9^i" in title(fig)


def test_features_2d_has_one_panel_per_instance_and_one_line_per_feature(run):
    fig = features_2d(run)
    panels = {t.xaxis for t in fig.data}
    assert len(panels) == 2
    assert len(fig.data) == 2 * 5
    assert [a.text for a in fig.layout.annotations] == ["1−S = 1", "1−S = 0.03"]
    # The pentagon's tips lie on the unit circle at the hand-made angles; the lines start at the origin.
    pent = [t for t in fig.data if t.xaxis == "x2"]
    tips = np.array([[t.x[1], t.y[1]] for t in pent])
    np.testing.assert_allclose(tips, pentagon().numpy(), atol=1e-6)
    assert all(t.x[0] == 0 and t.y[0] == 0 for t in pent)
    # Equal aspect in every panel, and importance on a shared colour axis.
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis2.scaleanchor == "x2"
    assert fig.layout.coloraxis.colorbar.title.text == "importance"
    assert "projection" not in title(fig)


def test_features_2d_hover_names_feature_and_norm(run):
    fig = features_2d(run)
    trace = fig.data[1]  # instance 0, feature 1 (norm 0.9)
    assert "feature" in trace.hovertemplate and "‖W<sub>i</sub>‖" in trace.hovertemplate
    assert trace.customdata[1][1] == 1 and trace.customdata[1][2] == pytest.approx(0.9)


def test_features_2d_uses_structure_column_when_the_run_has_one(run):
    run.metrics = pd.DataFrame({"instance": [0] * 5 + [1] * 5, "feature": list(range(5)) * 2,
                                "structure": ["dedicated dimension"] * 5 + ["pentagon"] * 5})
    fig = features_2d(run)
    assert fig.data[7].customdata[1][-1] == "pentagon"
    assert "customdata[7]" in fig.data[7].hovertemplate


def test_features_2d_projects_when_hidden_is_not_2():
    W = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
    fig = features_2d(make_run(W, n_hidden=3))
    assert "m=3" in title(fig) and "projection" in title(fig)
    assert len(fig.data) == 10
    np.testing.assert_allclose([fig.data[6].x[1], fig.data[6].y[1]], W[1, 1, :2].numpy(), atol=1e-6)


def test_instances_selects_panels(run):
    fig = features_2d(run, instances=[1])
    assert len(fig.data) == 5 and [a.text for a in fig.layout.annotations] == ["1−S = 0.03"]
    with pytest.raises(SuperpositionError, match="instances"):
        features_2d(run, instances=[2])


def test_wtw_heatmap_is_w_wt_and_bars_are_norms(run):
    f = figure_inputs(run)
    fig = plots.wtw_and_norms(f.W, f.table, f.labels, f.title)
    heatmaps = [t for t in fig.data if isinstance(t, go.Heatmap)]
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert len(heatmaps) == len(bars) == 2
    W = run.W
    for k in range(2):
        np.testing.assert_allclose(np.array(heatmaps[k].z), (W[k] @ W[k].T).numpy(), atol=1e-6)
        np.testing.assert_allclose(np.array(bars[k].x), W[k].norm(dim=-1).numpy(), atol=1e-6)
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax, fig.layout.coloraxis.cmid) == (-1, 1, 0)
    # Bars coloured by superposition: 0 for the dedicated features, 2 cos^2(72) + 2 cos^2(144) for the pentagon.
    np.testing.assert_allclose(np.array(bars[0].marker.color)[:2], 0.0, atol=1e-6)
    expected = 2 * math.cos(math.radians(72)) ** 2 + 2 * math.cos(math.radians(144)) ** 2
    np.testing.assert_allclose(np.array(bars[1].marker.color), expected, atol=1e-5)
    assert (fig.layout.coloraxis2.cmin, fig.layout.coloraxis2.cmax) == (0, 1)
    labels = [a.text for a in fig.layout.annotations if a.text]
    assert labels == ["1−S = 1", "1−S = 0.03"]


def test_wtw_wraps_many_instances_into_blocks():
    W = pentagon().expand(12, 5, 2).clone()
    f = figure_inputs(make_run(W, feature_probability=[0.5] * 12))
    fig = plots.wtw_and_norms(f.W, f.table, f.labels, f.title, max_cols=5)
    assert sum(isinstance(t, go.Heatmap) for t in fig.data) == 12
    assert len({t.yaxis for t in fig.data}) == 24


def test_bias_heatmap_shows_b(run):
    f = figure_inputs(run)
    fig = plots.bias(f.b, f.labels, f.title)
    (heat,) = fig.data
    np.testing.assert_allclose(np.array(heat.z), run.b.numpy(), atol=1e-6)
    assert fig.layout.yaxis.ticktext == ("0: 1−S = 1", "1: 1−S = 0.03")


def test_model_without_bias_gives_the_no_bias_figure():
    f = figure_inputs(make_run(bias=False))
    fig = plots.bias(f.b, f.labels, f.title)
    assert len(fig.data) == 0 and "no bias" in title(fig) and "n=5" in title(fig)


def test_interference_shows_both_scores_per_instance(run):
    f = figure_inputs(run)
    fig = plots.interference(f.table, f.labels, f.title)
    assert len(fig.data) == 2 * 2
    signed, positive = fig.data[2], fig.data[3]  # the pentagon
    G = (run.W[1] @ run.W[1].T).numpy()
    np.testing.assert_allclose(np.array(signed.y), G.sum(1) - np.diag(G), atol=1e-5)
    np.testing.assert_allclose(np.array(positive.y), np.clip(G, 0, None).sum(1) - np.diag(G), atol=1e-5)
    assert [t.showlegend for t in fig.data] == [True, True, False, False]


def test_dimensionality_scatter_has_every_feature_and_the_fractions(run):
    f = figure_inputs(run)
    fig = plots.dimensionality_scatter(f.table, f.title)
    feats, per_inst = fig.data
    assert len(feats.x) == 10
    np.testing.assert_allclose(sorted(set(np.round(feats.x, 6))), [1.0, round(1 / 0.03, 6)])
    # Dedicated features: D = 1; ignored ones: 0; the pentagon: 2/5.
    np.testing.assert_allclose(np.array(feats.y), [1, 1, 0, 0, 0] + [0.4] * 5, atol=1e-5)
    lines = {round(s.y0, 6) for s in fig.layout.shapes if s.y0 == s.y1}
    assert lines == {round(v, 6) for v in (1, 3 / 4, 2 / 3, 1 / 2, 2 / 5, 3 / 8, 0)}
    assert all(s.line.dash == "dash" for s in fig.layout.shapes)
    assert {"2/5", "3/8", "3/4"} <= {a.text for a in fig.layout.annotations}
    # m / ||W||_F^2: 2 / (1 + 0.81) dense, 2 / 5 for the pentagon.
    np.testing.assert_allclose(np.array(per_inst.y), [2 / 1.81, 2 / 5], atol=1e-5)
    assert fig.layout.xaxis.type == "log"


def test_loss_history_one_line_per_instance_on_log_axis(run):
    f = figure_inputs(run)
    fig = plots.loss_history(run.history, f.labels, f.title)
    assert len(fig.data) == 2 and fig.layout.yaxis.type == "log"
    assert list(fig.data[1].y) == pytest.approx([0.1 + 0.01, 0.1 / 101 + 0.01, 0.1 / 201 + 0.01])
    assert fig.data[1].name == "1: 1−S = 0.03"


def test_a_run_whose_weights_disagree_with_its_config_is_refused(run):
    run.model = ToyModel.from_weights(torch.zeros(2, 5, 3))
    with pytest.raises(SuperpositionError, match="shape"):
        family_of(run).figures(run)


def test_write_html_is_one_offline_file_with_plotly_once(run, tmp_path):
    figs = family_of(run).figures(run)
    path = write_html(figs, tmp_path / "report" / "index.html", title=run_title(run.config))
    assert [p.name for p in path.parent.iterdir()] == ["index.html"]  # no temp file left behind
    page = path.read_text(encoding="utf-8")
    assert page.count("* plotly.js v") == 1  # the bundle's banner
    assert page.count("Plotly.newPlot(") == len(figs)
    assert page.count('class="sp-figure"') == len(figs)
    assert sorted(re.findall(r'id="(figure-\d+)"', page)) == sorted(f"figure-{i}" for i in range(len(figs)))
    assert "<script src=" not in page and 'src="http' not in page
    # The bundle mentions its CDN as a default setting; nothing outside the bundle may point anywhere.
    start = page.index("* plotly.js v")
    end = page.index("</script>", start)
    outside = page[:start] + page[end:]
    assert "cdn" not in outside.lower() and "http" not in outside.lower()
    assert "mathjax" not in outside.lower().replace("mathjaxconfig: 'local'", "")  # no MathJax script either
    title_text = "ReLU output model · n=5 features, m=2 hidden · 2 instances · importance 0.9^i"
    assert f"<title>{title_text}</title>" in page and f"<h1>{title_text}</h1>" in page
    assert len(page) > 1_000_000  # plotly.js itself is megabytes


def test_write_html_replaces_an_existing_file(run, tmp_path):
    path = tmp_path / "index.html"
    path.write_text("old")
    write_html([plots.loss_history(run.history, ["a", "b"], "t")], path, title="t <&>")
    page = path.read_text(encoding="utf-8")
    assert "<title>t &lt;&amp;&gt;</title>" in page and "old" != page


def test_labels_must_name_every_instance(run):
    f = figure_inputs(run)
    with pytest.raises(SuperpositionError, match="1 instance labels for 2 instances"):
        plots.features_2d(f.W, f.table, f.labels[:1], f.title)


def test_figures_read_tensors_and_titles_never_runs_or_configs():
    """The figures sit below the families: no plots module imports a run, a family, a config, the lab or the
    experiments (annotations only excepted), nor the plots package from inside itself; no figure takes a run."""
    import ast
    import inspect
    from pathlib import Path

    folder = Path(plots.__file__).parent
    forbidden = ("runs", "families", "config", "lab", "experiments")
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        annotations_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                            and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and id(node) not in annotations_only:
                module = "." * node.level + (node.module or "")
                assert module.lstrip(".").split(".")[0] not in forbidden, f"{path.name} imports {module}"
                assert not (node.level == 1 and node.module is None), f"{path.name} imports the plots package"
                assert "superposition.plots" not in module, f"{path.name} imports the plots package"
    for name in plots.__all__:
        obj = getattr(plots, name)
        if callable(obj):
            assert not {"run", "config"} & set(inspect.signature(obj).parameters), name
