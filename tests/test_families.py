"""Run families: one object per kind of run, looked up everywhere, and a CLI generated from the configs.

A fake family registered here, in this file alone, goes through train -> save -> load -> analyze -> plot -> CLI with
no other file of the project changed: that is what "a new family is one module" means.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

import pandas as pd
import plotly.graph_objects as go
import pytest
import torch
from pydantic import Field
from torch import nn
from typer.testing import CliRunner

import superposition
from superposition import load_run, make_config, train_run
from superposition.commands import FIXED, _sections, flags
from superposition.config import RUN_CONFIGS, CommandLine, RunConfigBase, Strict, TrainConfig, validate
from superposition.families import REGISTRY, CliSpec, Family, Table, family_of, register
from superposition.models import AnalyticModel, BilinearModAdd, ComputationModel, InstanceModel, NeuronModel, ToyModel
from superposition.runs import Run

SRC = Path(superposition.__file__).parent
runner = CliRunner()


def cli(*args: str):
    from superposition.cli import build_app

    return runner.invoke(build_app(), list(args), env={"COLUMNS": "250"})


# ------------------------------------------------------------------ nothing outside the families branches on one


def test_no_module_outside_the_families_branches_on_a_run_family():
    config_classes = "|".join(sorted({cls.__name__ for cls in RUN_CONFIGS.values()}))
    patterns = [re.compile(rf"isinstance\([^)]*\b({config_classes})\b"),
                re.compile(r"""family\s*[!=]=\s*['"]"""),
                re.compile(r"""['"]\s*[!=]=\s*[\w.]*family\b""")]
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "families":
            continue
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if any(p.search(line) for p in patterns):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_grep_would_see_a_branch():
    line = 'if run.config.family == "toy":'
    assert re.compile(r"""family\s*[!=]=\s*['"]""").search(line)


def test_no_module_is_over_400_lines_and_no_command_module_over_250():
    sizes = {str(p.relative_to(SRC)): len(p.read_text().splitlines()) for p in SRC.rglob("*.py")}
    assert {k: v for k, v in sizes.items() if v > 400} == {}
    assert {k: v for k, v in sizes.items() if k.startswith("cli/") and v >= 250} == {}


# ------------------------------------------------------------------ every config field is a flag

# A valid, non-default value for every field the command line sets (with companions where a value needs them).
# A field added to a config without an entry here fails `test_every_config_field_is_settable_from_the_command_line`.
EXAMPLES: dict[str, dict[str, tuple[list[str], Any]]] = {
    "toy": {
        "data.n_features": (["--n-features", "7"], 7),
        "data.feature_probability": (["--feature-probability", "1,0.1"], [1.0, 0.1]),
        "data.importance": (["--importance", "1,1,1,1,0.5"], [1.0, 1.0, 1.0, 1.0, 0.5]),
        "data.importance_decay": (["--importance-decay", "0.8"], 0.8),
        "data.magnitude": (["--magnitude", "normal"], "normal"),
        "data.target": (["--target", "abs"], "abs"),
        "data.correlated_pairs": (["--correlated-pairs", "1"], 1),
        "data.anticorrelated_pairs": (["--anticorrelated-pairs", "1", "--feature-probability", "0.3"], 1),
        "model.kind": (["--model", "linear"], "linear"),
        "model.n_hidden": (["--n-hidden", "3"], 3),
        "model.tied": (["--untied"], False),
        "model.bias": (["--no-bias"], False),
        "model.init": (["--init", "zeros"], "zeros"),
    },
    "modadd": {
        "data.p": (["--p", "31"], 31),
        "data.train_fraction": (["--train-fraction", "0.5"], 0.5),
        "data.split_seed": (["--split-seed", "4"], 4),
        "model.kind": (["--model", "relu"], "relu"),
        "model.d_embed": (["--d-embed", "6"], 6),
        "model.n_hidden": (["--n-hidden", "8"], 8),
        "model.n_instances": (["--instances", "3"], 3),
        "model.bias": (["--bias"], True),
        "model.layer_norm": (["--layer-norm"], True),
        "model.loss": (["--loss", "mse"], "mse"),
    },
    "sae": {
        "source.instance": None,  # toy sources only (set with RUN_DIR); checked in test_sae_instance_flag
        "source.d": (["--d", "16"], 16),
        "source.n_features": (["--n-features", "32"], 32),
        "source.n_active": (["--n-active", "2.5"], 2.5),
        "source.correlation": (["--correlation", "0.2"], 0.2),
        "source.group_size": (["--group-size", "8"], 8),
        "source.seed": (["--data-seed", "3"], 3),
        "model.d_sae": (["--d-sae", "12"], 12),
        "model.activation": (["--activation", "topk", "--k", "2"], "topk"),
        "model.l1": (["--l1", "0.1,0.3"], [0.1, 0.3]),
        "model.k": (["--activation", "topk", "--k", "3"], 3),
        "model.tied": (["--tied"], True),
        "model.dead_window": (["--dead-window", "50"], 50),
        "model.resample_every": (["--resample-every", "200"], 200),
    },
}
TRAIN_EXAMPLES = {
    "train.steps": (["--steps", "77"], 77),
    "train.batch_size": (["--batch-size", "64"], 64),
    "train.lr": (["--lr", "0.02"], 0.02),
    "train.optimizer": (["--optimizer", "adam"], "adam"),
    "train.weight_decay": (["--weight-decay", "0.3"], 0.3),
    "train.betas": (["--betas", "0.8,0.9"], [0.8, 0.9]),
    "train.schedule": (["--schedule", "warmup_cosine", "--warmup-steps", "5"], "warmup_cosine"),
    "train.warmup_steps": (["--warmup-steps", "6"], 6),
    "train.seed": (["--seed", "12"], 12),
    "train.device": None,  # cpu is the only device every machine has; checked by the bad-input suite
    "train.threads": (["--threads", "2"], 2),
    "train.log_every": (["--log-every", "7"], 7),
    "train.snapshots": (["--snapshots", "3"], 3),
    "train.snapshot_spacing": (["--snapshot-spacing", "linear"], "linear"),
}
EXTRA = {"toy": [], "modadd": [], "sae": ["--sphere"]}
# Where a family's training default is the generic example's value, another one.
TRAIN_OVERRIDES = {"modadd": {"train.threads": (["--threads", "1"], 1)},
                   "sae": {"train.optimizer": (["--optimizer", "adamw"], "adamw")}}


def settable_fields(family: Family) -> set[str]:
    return {f"{section}.{name}" for section, model in _sections(family.config) for name in model.model_fields
            if f"{section}.{name}" not in family.config.command_line.hidden}


@pytest.mark.parametrize("name", ["toy", "modadd", "sae"])
def test_every_config_field_is_settable_from_the_command_line(name, tmp_path):
    family = family_of(name)
    examples = {**EXAMPLES[name], **TRAIN_EXAMPLES, **TRAIN_OVERRIDES.get(name, {})}
    assert settable_fields(family) == set(examples), "a config field has no example (or an example no field)"
    group = [] if family.config.command_line.command is None else [family.config.command_line.command]
    help_text = " ".join(cli(*group, "train", "--help").output.split())
    for flag in flags(family.config):
        assert flag.name.split("/")[0] in help_text
    for path, example in examples.items():
        if example is None:
            continue
        args, value = example
        result = cli(*group, "train", *EXTRA[name], *args, "--print-config", "--out", str(tmp_path / "x"))
        assert result.exit_code == 0, (path, result.output)
        config = json.loads(result.output)
        section, field = path.split(".")
        got = config[section][field]
        assert (list(got) if isinstance(got, (list, tuple)) else got) == value, path
        default = family.config().model_dump(mode="json")[section][field]
        assert got != default, f"{path}: the example must differ from the default"
    assert not (tmp_path / "x").exists(), "--print-config trains nothing"


def test_sae_instance_flag_reads_the_toy_runs_instance(tmp_path):
    toy = train_run(make_config(data=dict(feature_probability=[1.0, 0.1]), train=dict(steps=10)), tmp_path / "toy",
                    progress=False)
    result = cli("sae", "train", str(toy.path), "--instance", "1", "--print-config", "--out", str(tmp_path / "x"))
    assert result.exit_code == 0, result.output
    source = json.loads(result.output)["source"]
    assert (source["kind"], source["instance"], source["run"]) == ("toy", 1, str(toy.path))


def test_help_shows_each_fields_description_and_the_configs_default():
    text = " ".join(cli("train", "--help").output.split())
    assert "Learning rate (the schedule's peak). (default: 0.001)" in text.replace("│ ", "").replace(" │", "")


def test_the_abs_task_is_the_same_run_from_every_entry_point(tmp_path):
    from_python = make_config(model=dict(kind="abs"))
    (tmp_path / "abs.json").write_text(json.dumps({"model": {"kind": "abs"}}))
    from_file = json.loads(cli("train", "--config", str(tmp_path / "abs.json"), "--print-config", "--out", "x").output)
    from_flags = json.loads(cli("train", "--model", "abs", "--print-config").output)  # no --out needed to print
    assert from_python.model_dump(mode="json") == from_file == from_flags
    assert (from_python.data.magnitude, from_python.data.target) == ("uniform_signed", "abs")
    # a magnitude given explicitly is kept
    explicit = make_config(model=dict(kind="abs"), data=dict(magnitude="uniform", target="identity"))
    assert (explicit.data.magnitude, explicit.data.target) == ("uniform", "identity")


def test_train_without_out_is_one_line_unless_it_only_prints_the_config():
    result = cli("train", "--model", "relu")
    assert result.exit_code == 2 and "missing option --out" in result.output and "Traceback" not in result.output


# ------------------------------------------------------------------ one model interface


@pytest.mark.parametrize("name", ["toy", "modadd", "sae"])
def test_every_model_follows_the_interface_and_rebuilds_from_its_tensors(name):
    family = family_of(name)
    config = family.config()
    if name == "sae":
        config = validate(family.config, dict(source=dict(d=8, n_features=16, n_active=2), model=dict(d_sae=8)))
    model = family.build_model(config, torch.Generator().manual_seed(0))
    assert isinstance(model, InstanceModel) and model.n_instances == config.n_instances
    options = {"config": model.config} if name == "sae" else {}
    again = type(model).from_weights(**model.weights(), **options)
    assert {k: v.shape for k, v in again.weights().items()} == {k: v.shape for k, v in model.weights().items()}
    assert all(torch.equal(again.weights()[k], v) for k, v in model.weights().items())


def test_the_trainer_knows_analytic_models_by_their_interface():
    toy = family_of("toy").build_model(make_config(), None)
    sae = family_of("sae").build_model(validate(family_of("sae").config, dict(source=dict(d=4, n_features=8),
                                                                          model=dict(d_sae=4))), None)
    assert isinstance(toy, AnalyticModel) and not isinstance(sae, AnalyticModel)


@pytest.mark.parametrize("cls, kind", [(ToyModel, "neuron"), (ToyModel, "abs"), (NeuronModel, "relu"),
                                       (ComputationModel, "neuron")])
def test_a_kind_a_class_does_not_implement_is_refused(cls, kind):
    from superposition.config import ToyModelConfig
    from superposition.errors import ConfigError

    with pytest.raises(ConfigError, match=f"implements kind .*not '{kind}'"):
        cls(ToyModelConfig(kind=kind), n_features=3, n_instances=1)


# ------------------------------------------------------------------ a new family is one module


class FakeData(Strict):
    n: int = Field(3, gt=0, description="Inputs.")
    scale: float = Field(1.0, gt=0, description="Scale of the inputs.")


class FakeModelConfig(Strict):
    n_instances: int = Field(2, gt=0, description="Copies.")


class FakeRunConfig(RunConfigBase):
    command_line: ClassVar[CommandLine] = CommandLine(command="fake", help="A fake family for the tests.")
    family: Literal["fake"] = "fake"
    data: FakeData = Field(default_factory=FakeData)
    model: FakeModelConfig = Field(default_factory=FakeModelConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(steps=20, batch_size=16, log_every=5))

    @property
    def n_instances(self) -> int:
        return self.model.n_instances


class FakeModel(nn.Module):
    """Learn a gain g so that g x matches 2 x."""

    def __init__(self, config: FakeModelConfig, *, n: int, generator=None, device="cpu"):
        super().__init__()
        self.config, self.n_instances = config, config.n_instances
        self.g = nn.Parameter(torch.zeros(config.n_instances, n, device=device))

    @classmethod
    def from_weights(cls, g: torch.Tensor) -> "FakeModel":
        model = cls(FakeModelConfig(n_instances=g.shape[0]), n=g.shape[1])
        with torch.no_grad():
            model.g.copy_(g)
        return model

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        return (self.g[:, None, :] * batch - 2 * batch).square().mean(dim=(1, 2))

    def weights(self) -> dict[str, torch.Tensor]:
        return {"g": self.g.detach()}


class FakeSource:
    def __init__(self, config: FakeRunConfig, device: str):
        self.config, self.device = config, device

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        shape = (self.config.model.n_instances, batch_size, self.config.data.n)
        return self.config.data.scale * torch.rand(shape, generator=generator, device=self.device)


def fake_analyze(run: Run) -> pd.DataFrame:
    g = run.model.weights()["g"]
    return pd.DataFrame({"instance": range(g.shape[0]), "gain": g.mean(dim=1).tolist()})


FAKE = Family(
    name="fake", config=FakeRunConfig,
    build_model=lambda c, gen: FakeModel(c.model, n=c.data.n, generator=gen, device=c.train.device),
    build_data=lambda c, device, truth: FakeSource(c, device),
    analyze=fake_analyze,
    figures=lambda run: [go.Figure(go.Bar(y=fake_analyze(run).gain), layout=dict(title=FAKE.title(run.config)))],
    title=lambda c: f"fake gains · {c.model.n_instances} copies",
    instance_label=lambda c, k: f"copy {k}",
    label=lambda c: "fake",
    metric_rows=lambda c: c.model.n_instances,
    memory=lambda c: (c.model.n_instances * c.data.n, c.train.batch_size * c.data.n * 4),
    cli=CliSpec(
        saved=lambda run: f"saved {run.path} (fake)",
        document=lambda run: {"run": str(run.path), "instances": fake_analyze(run).to_dict(orient="records")},
        tables=lambda doc: [Table("gains", doc["instances"], [("instance", "instance", "{}"),
                                                              ("gain", "gain", "{:.3f}")])],
    ),
)


@pytest.fixture
def fake_family():
    register(FAKE)
    yield FAKE
    REGISTRY.pop("fake")
    RUN_CONFIGS.pop("fake")


def test_a_new_family_is_one_module_and_one_registration(fake_family, tmp_path):
    config = FakeRunConfig(train=TrainConfig(steps=200, batch_size=16, lr=0.05, log_every=50))
    run = train_run(config, tmp_path / "fake", progress=False)
    assert run.metrics.gain.tolist() == pytest.approx([2.0, 2.0], abs=0.1)
    back = load_run(tmp_path / "fake")
    assert back.config == config and torch.equal(back.model.weights()["g"], run.model.weights()["g"])
    assert superposition.analyze(back).gain.tolist() == pytest.approx(run.metrics.gain.tolist())
    result = cli("plot", str(tmp_path / "fake"), "--out", str(tmp_path / "fake.html"))
    assert result.exit_code == 0, result.output
    assert "fake gains · 2 copies" in (tmp_path / "fake.html").read_text()
    result = cli("fake", "train", "--n", "4", "--scale", "0.5", "--steps", "30", "--quiet",
                 "--out", str(tmp_path / "cli"))
    assert result.exit_code == 0 and "saved" in result.output, result.output
    assert load_run(tmp_path / "cli").config.data.n == 4
    result = cli("fake", "analyze", str(tmp_path / "cli"), "--json")
    assert result.exit_code == 0 and len(json.loads(result.output)["instances"]) == 2
    result = cli("analyze", str(tmp_path / "cli"))  # the toy command points to the family's own
    assert result.exit_code == 2 and "superposition fake analyze" in result.output


def test_fixed_fields_are_never_flags():
    for family in REGISTRY.values():
        assert not {f.path[-1] for f in flags(family.config)} & FIXED
