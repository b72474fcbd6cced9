"""Bad input across every command: each case must end in exit status 2 and one `error:` line on stderr, print no
traceback, and write or change no file.

The cases run the console script's `main` in-process (typer's own usage errors included), each against fresh
copies of a tiny toy, modular-addition and SAE run, some of them corrupted by the case's setup. The file tree is
compared before and after, so a case that trained and saved, or touched a user's file, fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

from superposition import make_config, train_run
from superposition.cli import main
from superposition.config import validate, ModAddRunConfig, SAERunConfig

TOY_FLAGS = ["--n-features", "5", "--n-hidden", "2", "--feature-probability", "1,0.1", "--steps", "20", "--quiet"]
MODADD_FLAGS = ["--p", "7", "--steps", "20", "--quiet"]
SPHERE_FLAGS = ["--sphere", "--d", "4", "--n-features", "8", "--n-active", "2", "--d-sae", "8", "--steps", "20",
                "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """One tiny run of each family, trained once; every case works on copies."""
    base = tmp_path_factory.mktemp("runs")
    train_run(make_config(data=dict(n_features=5, feature_probability=[1.0, 0.1]), model=dict(n_hidden=2),
                          train=dict(steps=20, batch_size=32, log_every=10)), base / "toy", progress=False)
    train_run(validate(ModAddRunConfig, dict(data=dict(p=7), train=dict(steps=20, log_every=10))), base / "modadd",
              progress=False)
    train_run(validate(SAERunConfig, dict(source=dict(kind="sphere", d=4, n_features=8, n_active=2.0),
                                          model=dict(d_sae=8), train=dict(steps=20, batch_size=32, log_every=10))),
              base / "sae", progress=False)
    return base


# ------------------------------------------------------------------ setups: each mutates the case's directory

def weights(run: str, name: str, value: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[Path], None]:
    """Replace tensor `name` of run `run` by value(tensor) (or add it, or with None remove it)."""
    def setup(tmp: Path) -> None:
        file = tmp / run / "weights.safetensors"
        tensors = load_file(file)
        new = value(tensors.get(name, torch.zeros(2, 2)))
        if new is None:
            tensors.pop(name)
        else:
            tensors[name] = new
        save_file(tensors, file)
    return setup


def truth(value: Callable[[dict], dict]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        file = tmp / "sae" / "truth.safetensors"
        save_file(value(load_file(file)), file)
    return setup


def text(relpath: str, content: str | bytes) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        path = tmp / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return setup


def remove(relpath: str) -> Callable[[Path], None]:
    return lambda tmp: (tmp / relpath).unlink()


def config_edit(run: str, edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        file = tmp / run / "config.json"
        data = json.loads(file.read_text())
        edit(data)
        file.write_text(json.dumps(data))
    return setup


def table(run: str, name: str, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        file = tmp / run / name
        edit(pd.read_csv(file)).to_csv(file, index=False)
    return setup


def symlink(link: str, target: str) -> Callable[[Path], None]:
    return lambda tmp: (tmp / link).symlink_to(tmp / target)


def mkdir(relpath: str) -> Callable[[Path], None]:
    return lambda tmp: (tmp / relpath).mkdir(parents=True)


def both(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        for s in setups:
            s(tmp)
    return setup


def deep(depth: int = 200_000) -> str:
    return "[" * depth + "]" * depth


def user_dir(tmp: Path) -> None:
    (tmp / "mine").mkdir()
    (tmp / "mine" / "notes.txt").write_text("my notes")


def set_key(path: list[str], value) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value
    return edit


@dataclass
class Case:
    id: str
    args: list[str]
    needle: str
    setup: Callable[[Path], None] | None = None
    skip: str = ""


def train(*args: str) -> list[str]:
    return ["train", *TOY_FLAGS, "--out", "{tmp}/new", *args]


def modadd(*args: str) -> list[str]:
    return ["modadd", "train", *MODADD_FLAGS, "--out", "{tmp}/new", *args]


def sphere(*args: str) -> list[str]:
    return ["sae", "train", *SPHERE_FLAGS, "--out", "{tmp}/new", *args]


HUGE_SEED = str(2**64)
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
CUDA = torch.cuda.is_available()

CASES = [
    # ---- train: values
    Case("prob-above-1", train("--feature-probability", "1,1.5"), "outside [0, 1]"),
    Case("prob-negative", train("--feature-probability", "-0.1"), "outside [0, 1]"),
    Case("prob-nan", train("--feature-probability", "nan"), "feature_probability"),
    Case("prob-inf", train("--feature-probability", "inf"), "feature_probability"),
    Case("prob-text", train("--feature-probability", "1,abc"), "comma-separated numbers"),
    Case("prob-empty", train("--feature-probability", ","), "is empty"),
    Case("model-unknown", train("--model", "quadratic"), "model.kind"),
    Case("n-features-0", train("--n-features", "0"), "n_features"),
    Case("n-features-negative", train("--n-features", "-3"), "n_features"),
    Case("n-features-text", train("--n-features", "five"), "data.n_features"),
    Case("n-hidden-0", train("--n-hidden", "0"), "n_hidden"),
    Case("n-hidden-huge", train("--n-hidden", "1000000000"), "memory"),
    Case("n-features-huge", train("--n-features", "1000000000"), "memory"),
    Case("batch-huge", train("--batch-size", "100000000000"), "memory"),
    Case("importance-negative", train("--importance", "1,1,-1,1,1"), "importance must be >= 0"),
    Case("importance-count", train("--importance", "1,2"), "importance has 2 values"),
    Case("importance-nan", train("--importance", "nan,1,1,1,1"), "importance"),
    Case("importance-inf", train("--importance", "inf,1,1,1,1"), "importance"),
    Case("importance-both", train("--importance", "1,1,1,1,1", "--importance-decay", "0.9"), "not both"),
    Case("decay-negative", train("--importance-decay", "-2"), "importance_decay"),
    Case("decay-zero", train("--importance-decay", "0"), "importance_decay"),
    Case("decay-nan", train("--importance-decay", "nan"), "importance_decay"),
    Case("decay-inf", train("--importance-decay", "inf"), "importance_decay"),
    Case("magnitude-unknown", train("--magnitude", "lognormal"), "magnitude"),
    Case("target-unknown", train("--target", "square"), "target"),
    Case("correlated-too-many", train("--correlated-pairs", "3"), "pairs need"),
    Case("correlated-negative", train("--correlated-pairs", "-1"), "correlated_pairs"),
    Case("anticorrelated-dense", train("--anticorrelated-pairs", "1"), "p <= 0.5"),
    Case("steps-0", train("--steps", "0"), "steps"),
    Case("steps-negative", train("--steps", "-5"), "steps"),
    Case("steps-fraction", train("--steps", "1.5"), "train.steps"),
    Case("batch-0", train("--batch-size", "0"), "batch_size"),
    Case("lr-0", train("--lr", "0"), "lr"),
    Case("lr-negative", train("--lr", "-1"), "lr"),
    Case("lr-nan", train("--lr", "nan"), "lr"),
    Case("lr-inf", train("--lr", "inf"), "lr"),
    Case("optimizer-unknown", train("--optimizer", "sgd"), "optimizer"),
    Case("weight-decay-negative", train("--weight-decay", "-0.1"), "weight_decay"),
    Case("weight-decay-nan", train("--weight-decay", "nan"), "weight_decay"),
    Case("schedule-unknown", train("--schedule", "exponential"), "schedule"),
    Case("warmup-too-long", train("--schedule", "warmup_cosine", "--warmup-steps", "20"), "warmup_steps"),
    Case("warmup-negative", train("--warmup-steps", "-1"), "warmup_steps"),
    Case("seed-negative", train("--seed", "-1"), "seed"),
    Case("seed-2-64", train("--seed", HUGE_SEED), "seed"),
    Case("seed-2-63", train("--seed", str(2**63)), "seed"),
    Case("seed-text", train("--seed", "abc"), "train.seed"),
    Case("device-unknown", train("--device", "tpu"), "device"),
    Case("device-cuda", train("--device", "cuda"), "CUDA is not available", skip="a GPU is present" if CUDA else ""),
    Case("threads-0", train("--threads", "0"), "threads"),
    Case("threads-negative", train("--threads", "-2"), "threads"),
    Case("out-missing", ["train", *TOY_FLAGS], "--out"),
    Case("option-unknown", train("--nope"), "--nope"),
    Case("argument-extra", train("surplus"), "surplus"),
    # ---- train: config files
    Case("config-missing", train("--config", "{tmp}/nope.json"), "not found"),
    Case("config-directory", train("--config", "{tmp}"), "is a directory"),
    Case("config-dot", train("--config", "."), "is a directory"),
    Case("config-not-json", train("--config", "{tmp}/c.json"), "not valid JSON", text("c.json", "{oops")),
    Case("config-empty", train("--config", "{tmp}/c.json"), "not valid JSON", text("c.json", "")),
    Case("config-binary", train("--config", "{tmp}/c.json"), "not valid JSON", text("c.json", b"\xff\xfe\x00\x81")),
    Case("config-list", train("--config", "{tmp}/c.json"), "JSON object", text("c.json", "[1, 2]")),
    Case("config-family-list", train("--config", "{tmp}/c.json"), "family", text("c.json", '{"family": ["toy"]}')),
    Case("config-family-unknown", train("--config", "{tmp}/c.json"), "family", text("c.json", '{"family": "q"}')),
    Case("config-family-modadd", train("--config", "{tmp}/c.json"), "modadd config",
         text("c.json", '{"family": "modadd"}')),
    Case("config-family-sae", train("--config", "{tmp}/c.json"), "sae config", text("c.json", '{"family": "sae"}')),
    Case("config-deep", train("--config", "{tmp}/c.json"), "nested too deeply", text("c.json", deep())),
    Case("config-wrong-type", train("--config", "{tmp}/c.json"), "n_features",
         text("c.json", '{"data": {"n_features": "five"}}')),
    Case("config-unknown-key", train("--config", "{tmp}/c.json"), "unknown", text("c.json", '{"unknown": 1}')),
    Case("config-format-2", train("--config", "{tmp}/c.json"), "format_version", text("c.json", '{"format_version": 2}')),
    Case("config-section-not-object", train("--config", "{tmp}/c.json"), "data", text("c.json", '{"data": 3}')),
    Case("config-nan-lr", train("--config", "{tmp}/c.json"), "lr", text("c.json", '{"train": {"lr": NaN}}')),
    # ---- train: output paths
    Case("out-existing-run", ["train", *TOY_FLAGS, "--out", "{tmp}/toy"], "already exists"),
    Case("out-user-dir-overwrite", ["train", *TOY_FLAGS, "--out", "{tmp}/mine", "--overwrite"], "not a run directory",
         user_dir),
    Case("out-user-dir", ["train", *TOY_FLAGS, "--out", "{tmp}/mine"], "already exists", user_dir),
    Case("out-empty-dir-overwrite", ["train", *TOY_FLAGS, "--out", "{tmp}/empty", "--overwrite"],
         "not a run directory", mkdir("empty")),
    Case("out-empty-dir", ["train", *TOY_FLAGS, "--out", "{tmp}/empty"], "already exists", mkdir("empty")),
    Case("out-file", ["train", *TOY_FLAGS, "--out", "{tmp}/f.txt"], "not a directory", text("f.txt", "mine")),
    Case("out-file-overwrite", ["train", *TOY_FLAGS, "--out", "{tmp}/f.txt", "--overwrite"], "not a directory",
         text("f.txt", "mine")),
    Case("out-parent-file", ["train", *TOY_FLAGS, "--out", "{tmp}/f.txt/run"], "not a directory", text("f.txt", "x")),
    Case("out-grandparent-file", ["train", *TOY_FLAGS, "--out", "{tmp}/f.txt/a/run"], "not a directory",
         text("f.txt", "x")),
    Case("out-dot", ["train", *TOY_FLAGS, "--out", ".", "--overwrite"], "working directory"),
    Case("out-dot-plain", ["train", *TOY_FLAGS, "--out", "."], "working directory"),
    Case("out-parent-of-cwd", ["train", *TOY_FLAGS, "--out", "..", "--overwrite"], "working directory"),
    Case("out-cwd-absolute", ["train", *TOY_FLAGS, "--out", "{tmp}", "--overwrite"], "working directory"),
    Case("out-symlink", ["train", *TOY_FLAGS, "--out", "{tmp}/link"], "symbolic link", both(mkdir("real"),
                                                                                           symlink("link", "real"))),
    Case("out-symlink-to-run", ["train", *TOY_FLAGS, "--out", "{tmp}/link", "--overwrite"], "symbolic link",
         symlink("link", "toy")),
    Case("out-unknown-family-overwrite", ["train", *TOY_FLAGS, "--out", "{tmp}/other", "--overwrite"],
         "not a run directory", text("other/config.json", '{"family": "theirs"}')),
    Case("out-bad-config-overwrite", ["train", *TOY_FLAGS, "--out", "{tmp}/other", "--overwrite"],
         "not a run directory", text("other/config.json", "{")),
    Case("out-newer-format-overwrite", ["train", *TOY_FLAGS, "--out", "{tmp}/other", "--overwrite"],
         "not a run directory", text("other/config.json", '{"format_version": 99}')),
    Case("out-read-only-parent", ["train", *TOY_FLAGS, "--out", "{tmp}/ro/run"], "not writable",
         lambda tmp: ((tmp / "ro").mkdir(), (tmp / "ro").chmod(0o555)), skip="root writes anywhere" if ROOT else ""),
    # ---- analyze (toy)
    Case("analyze-missing", ["analyze", "{tmp}/nope"], "not found"),
    Case("analyze-file", ["analyze", "{tmp}/f.txt"], "not found", text("f.txt", "x")),
    Case("analyze-user-dir", ["analyze", "{tmp}/mine"], "config.json is missing", user_dir),
    Case("analyze-no-config", ["analyze", "{tmp}/toy"], "config.json is missing", remove("toy/config.json")),
    Case("analyze-config-corrupt", ["analyze", "{tmp}/toy"], "corrupt", text("toy/config.json", "{")),
    Case("analyze-config-binary", ["analyze", "{tmp}/toy"], "corrupt", text("toy/config.json", b"\xff\xfe")),
    Case("analyze-config-family-list", ["analyze", "{tmp}/toy"], "family", config_edit("toy", set_key(["family"], ["toy"]))),
    Case("analyze-config-family-unknown", ["analyze", "{tmp}/toy"], "family", config_edit("toy", set_key(["family"], "q"))),
    Case("analyze-config-deep", ["analyze", "{tmp}/toy"], "nested too deeply", text("toy/config.json", deep())),
    Case("analyze-config-list", ["analyze", "{tmp}/toy"], "JSON object", text("toy/config.json", "[]")),
    Case("analyze-config-format-2", ["analyze", "{tmp}/toy"], "format_version",
         config_edit("toy", set_key(["format_version"], 2))),
    Case("analyze-config-bad-value", ["analyze", "{tmp}/toy"], "n_hidden",
         config_edit("toy", set_key(["model", "n_hidden"], 0))),
    Case("analyze-config-huge", ["analyze", "{tmp}/toy"], "does not match",
         config_edit("toy", set_key(["model", "n_hidden"], 10**9))),
    Case("analyze-config-other-shape", ["analyze", "{tmp}/toy"], "does not match",
         config_edit("toy", set_key(["data", "n_features"], 6))),
    Case("analyze-weights-missing", ["analyze", "{tmp}/toy"], "weights.safetensors is missing",
         remove("toy/weights.safetensors")),
    Case("analyze-weights-garbage", ["analyze", "{tmp}/toy"], "corrupt", text("toy/weights.safetensors", b"garbage")),
    Case("analyze-weights-empty", ["analyze", "{tmp}/toy"], "corrupt", text("toy/weights.safetensors", b"")),
    Case("analyze-weights-shape", ["analyze", "{tmp}/toy"], "does not match", weights("toy", "W", lambda t: torch.zeros(3, 3, 3))),
    Case("analyze-weights-int32", ["analyze", "{tmp}/toy"], "int32", weights("toy", "W", lambda t: t.int())),
    Case("analyze-weights-bool", ["analyze", "{tmp}/toy"], "bool", weights("toy", "W", lambda t: t > 0)),
    Case("analyze-weights-float16", ["analyze", "{tmp}/toy"], "float16", weights("toy", "W", lambda t: t.half())),
    Case("analyze-weights-float64", ["analyze", "{tmp}/toy"], "float64", weights("toy", "W", lambda t: t.double())),
    Case("analyze-weights-bfloat16", ["analyze", "{tmp}/toy"], "bfloat16", weights("toy", "b", lambda t: t.bfloat16())),
    Case("analyze-weights-nan", ["analyze", "{tmp}/toy"], "NaN", weights("toy", "W", lambda t: t.fill_(float("nan")))),
    Case("analyze-weights-inf", ["analyze", "{tmp}/toy"], "infinity", weights("toy", "b", lambda t: t.fill_(float("inf")))),
    Case("analyze-weights-extra", ["analyze", "{tmp}/toy"], "does not match", weights("toy", "X", lambda t: torch.zeros(1))),
    Case("analyze-weights-no-bias", ["analyze", "{tmp}/toy"], "does not match", weights("toy", "b", lambda t: None)),
    Case("analyze-history-missing", ["analyze", "{tmp}/toy"], "history.csv is missing", remove("toy/history.csv")),
    Case("analyze-history-header-only", ["analyze", "{tmp}/toy"], "no rows", text("toy/history.csv", "step,instance,loss\n")),
    Case("analyze-history-empty", ["analyze", "{tmp}/toy"], "history.csv is corrupt", text("toy/history.csv", "")),
    Case("analyze-history-text", ["analyze", "{tmp}/toy"], "not numbers",
         text("toy/history.csv", "step,instance,loss\nten,0,0.1\nten,1,0.1\n")),
    Case("analyze-history-columns", ["analyze", "{tmp}/toy"], "columns", text("toy/history.csv", "a,b\n1,2\n")),
    Case("analyze-history-instance", ["analyze", "{tmp}/toy"], "instances must lie",
         table("toy", "history.csv", lambda d: d.assign(instance=d.instance + 5))),
    Case("analyze-history-step", ["analyze", "{tmp}/toy"], "whole numbers",
         table("toy", "history.csv", lambda d: d.assign(step=-d.step))),
    Case("analyze-history-rows", ["analyze", "{tmp}/toy"], "rows per logged step",
         table("toy", "history.csv", lambda d: d.iloc[1:])),
    Case("analyze-history-binary", ["analyze", "{tmp}/toy"], "history.csv", text("toy/history.csv", b"\xff\xfe\x00")),
    Case("analyze-metrics-rows", ["analyze", "{tmp}/toy"], "metrics.csv is corrupt",
         table("toy", "metrics.csv", lambda d: d.iloc[:3])),
    Case("analyze-metrics-no-instance", ["analyze", "{tmp}/toy"], "metrics.csv is corrupt",
         table("toy", "metrics.csv", lambda d: d.drop(columns=["instance"]))),
    Case("analyze-metrics-garbage", ["analyze", "{tmp}/toy"], "metrics.csv", text("toy/metrics.csv", b"\xff\x00\xfe")),
    Case("analyze-modadd-run", ["analyze", "{tmp}/modadd"], "modadd run"),
    Case("analyze-sae-run", ["analyze", "{tmp}/sae"], "sae run"),
    Case("analyze-no-argument", ["analyze"], "run_dir"),
    Case("analyze-old-leftover", ["analyze", "{tmp}/gone"], "not found", text(".gone.old/notes.txt", "not a run")),
    # ---- plot
    Case("plot-not-html", ["plot", "{tmp}/toy", "--out", "{tmp}/fig.pdf"], ".html"),
    Case("plot-bad-format", ["plot", "{tmp}/toy", "--format", "jpg", "--out", "{tmp}/fig.jpg"], "not one of"),
    Case("plot-format-suffix", ["plot", "{tmp}/toy", "--format", "svg", "--out", "{tmp}/fig.png"], "end in .svg"),
    Case("plot-directory", ["plot", "{tmp}/toy", "--out", "{tmp}/figs.html"], "is a directory", mkdir("figs.html")),
    Case("plot-user-file", ["plot", "{tmp}/toy", "--out", "{tmp}/mine.html"], "already exists",
         text("mine.html", "<html>mine</html>")),
    Case("plot-user-file-overwrite", ["plot", "{tmp}/toy", "--out", "{tmp}/mine.html", "--overwrite"],
         "not written by superposition", text("mine.html", "<html>mine</html>")),
    Case("plot-parent-file", ["plot", "{tmp}/toy", "--out", "{tmp}/f.txt/fig.html"], "not a directory",
         text("f.txt", "x")),
    Case("plot-symlink", ["plot", "{tmp}/toy", "--out", "{tmp}/link.html"], "symbolic link",
         both(text("target.html", "x"), symlink("link.html", "target.html"))),
    Case("plot-missing-run", ["plot", "{tmp}/nope", "--out", "{tmp}/fig.html"], "not found"),
    Case("plot-corrupt-run", ["plot", "{tmp}/toy", "--out", "{tmp}/fig.html"], "corrupt",
         text("toy/weights.safetensors", b"xx")),
    Case("plot-no-out", ["plot", "{tmp}/toy"], "--out"),
    # ---- reproduce
    Case("reproduce-unknown", ["reproduce", "--only", "nope", "--out", "{tmp}/r"], "unknown experiment"),
    Case("reproduce-only-comma", ["reproduce", "--only", ",", "--out", "{tmp}/r"], "names no experiment"),
    Case("reproduce-only-empty", ["reproduce", "--only", "", "--out", "{tmp}/r"], "names no experiment"),
    Case("reproduce-out-file", ["reproduce", "--only", "intro", "--out", "{tmp}/f.txt"], "not a directory",
         text("f.txt", "x")),
    Case("reproduce-out-user-dir", ["reproduce", "--only", "intro", "--out", "{tmp}/mine"], "not a superposition report",
         user_dir),
    Case("reproduce-out-user-index", ["reproduce", "--only", "intro", "--out", "{tmp}/r"], "not a superposition report",
         text("r/index.html", "<html>mine</html>")),
    Case("reproduce-out-dot", ["reproduce", "--only", "intro", "--out", "."], "working directory"),
    Case("reproduce-out-parent-file", ["reproduce", "--only", "intro", "--out", "{tmp}/f.txt/r"], "not a directory",
         text("f.txt", "x")),
    Case("reproduce-out-symlink", ["reproduce", "--only", "intro", "--out", "{tmp}/link"], "symbolic link",
         both(mkdir("real"), symlink("link", "real"))),
    Case("reproduce-option-unknown", ["reproduce", "--fast"], "--fast"),
    # ---- bench
    Case("bench-steps", ["bench", "--steps", "5"], "--steps"),
    Case("bench-repeats", ["bench", "--repeats", "0"], "--repeats"),
    Case("bench-loss-steps", ["bench", "--loss-steps", "abc"], "--loss-steps"),
    # ---- modadd train
    Case("modadd-p-even", modadd("--p", "4"), "odd"),
    Case("modadd-p-1", modadd("--p", "1"), "p"),
    Case("modadd-p-huge", modadd("--p", "100001"), "memory"),
    Case("modadd-fraction-1", modadd("--train-fraction", "1"), "no test pairs"),
    Case("modadd-fraction-0", modadd("--train-fraction", "0"), "train_fraction"),
    Case("modadd-fraction-above-1", modadd("--train-fraction", "1.5"), "train_fraction"),
    Case("modadd-fraction-tiny", modadd("--train-fraction", "0.0001"), "no training pair"),
    Case("modadd-fraction-nan", modadd("--train-fraction", "nan"), "train_fraction"),
    Case("modadd-d-embed-0", modadd("--d-embed", "0"), "d_embed"),
    Case("modadd-hidden-0", modadd("--n-hidden", "0"), "n_hidden"),
    Case("modadd-instances-0", modadd("--instances", "0"), "n_instances"),
    Case("modadd-model-unknown", modadd("--model", "transformer"), "model.kind"),
    Case("modadd-loss-unknown", modadd("--loss", "hinge"), "loss"),
    Case("modadd-split-seed-negative", modadd("--split-seed", "-1"), "split_seed"),
    Case("modadd-split-seed-huge", modadd("--split-seed", HUGE_SEED), "split_seed"),
    Case("modadd-seed-huge", modadd("--seed", str(2**63)), "seed"),
    Case("modadd-steps-0", modadd("--steps", "0"), "steps"),
    Case("modadd-lr-nan", modadd("--lr", "nan"), "lr"),
    Case("modadd-weight-decay-negative", modadd("--weight-decay", "-1"), "weight_decay"),
    Case("modadd-schedule-unknown", modadd("--schedule", "step"), "schedule"),
    Case("modadd-device-unknown", modadd("--device", "tpu"), "device"),
    Case("modadd-config-toy", modadd("--config", "{tmp}/toy/config.json"), "toy config"),
    Case("modadd-config-deep", modadd("--config", "{tmp}/c.json"), "nested too deeply", text("c.json", deep())),
    Case("modadd-config-family-list", modadd("--config", "{tmp}/c.json"), "family", text("c.json", '{"family": ["modadd"]}')),
    Case("modadd-out-existing", ["modadd", "train", *MODADD_FLAGS, "--out", "{tmp}/modadd"], "already exists"),
    Case("modadd-out-user-dir", ["modadd", "train", *MODADD_FLAGS, "--out", "{tmp}/mine", "--overwrite"],
         "not a run directory", user_dir),
    Case("modadd-out-dot", ["modadd", "train", *MODADD_FLAGS, "--out", "."], "working directory"),
    Case("modadd-out-parent-file", ["modadd", "train", *MODADD_FLAGS, "--out", "{tmp}/f.txt/r"], "not a directory",
         text("f.txt", "x")),
    # ---- modadd analyze
    Case("modadd-analyze-toy", ["modadd", "analyze", "{tmp}/toy"], "toy run"),
    Case("modadd-analyze-missing", ["modadd", "analyze", "{tmp}/nope"], "not found"),
    Case("modadd-analyze-float64", ["modadd", "analyze", "{tmp}/modadd"], "float64",
         weights("modadd", "U", lambda t: t.double())),
    Case("modadd-analyze-nan", ["modadd", "analyze", "{tmp}/modadd"], "NaN",
         weights("modadd", "embed", lambda t: t.fill_(float("nan")))),
    Case("modadd-analyze-shape", ["modadd", "analyze", "{tmp}/modadd"], "does not match",
         weights("modadd", "embed", lambda t: torch.zeros(1, 9, 4))),
    Case("modadd-analyze-metrics-rows", ["modadd", "analyze", "{tmp}/modadd"], "metrics.csv is corrupt",
         table("modadd", "metrics.csv", lambda d: pd.concat([d, d]))),
    Case("modadd-analyze-zero-weights", ["modadd", "analyze", "{tmp}/modadd"], "degenerate",
         both(*(weights("modadd", n, torch.zeros_like) for n in ("embed", "L", "R", "U")))),
    Case("modadd-analyze-p-changed", ["modadd", "analyze", "{tmp}/modadd"], "does not match",
         config_edit("modadd", set_key(["data", "p"], 9))),
    Case("modadd-analyze-fraction-1", ["modadd", "analyze", "{tmp}/modadd"], "no test pairs",
         config_edit("modadd", set_key(["data", "train_fraction"], 1.0))),
    # ---- sae train
    Case("sae-no-source", ["sae", "train", "--d-sae", "4", "--out", "{tmp}/new"], "RUN_DIR or --sphere"),
    Case("sae-both-sources", ["sae", "train", "{tmp}/toy", *SPHERE_FLAGS, "--out", "{tmp}/new"], "RUN_DIR or --sphere"),
    Case("sae-sphere-instance", sphere("--instance", "0"), "--instance applies"),
    Case("sae-run-with-d", ["sae", "train", "{tmp}/toy", "--d", "4", "--d-sae", "4", "--out", "{tmp}/new"],
         "--d applies"),
    Case("sae-d-sae-0", sphere("--d-sae", "0"), "d_sae"),
    Case("sae-l1-negative", sphere("--l1", "-0.1"), "l1 must be >= 0"),
    Case("sae-l1-nan", sphere("--l1", "nan"), "l1"),
    Case("sae-l1-inf", sphere("--l1", "inf"), "l1"),
    Case("sae-l1-empty", sphere("--l1", ","), "is empty"),
    Case("sae-l1-text", sphere("--l1", "abc"), "comma-separated"),
    Case("sae-topk-no-k", sphere("--activation", "topk"), "k is required"),
    Case("sae-k-with-relu", sphere("--k", "3"), "k applies"),
    Case("sae-k-too-big", sphere("--activation", "topk", "--k", "10"), "must not exceed d_sae"),
    Case("sae-topk-with-l1", sphere("--activation", "topk", "--k", "2", "--l1", "0.1"), "relu' only"),
    Case("sae-activation-unknown", sphere("--activation", "gelu"), "activation"),
    Case("sae-n-active-0", sphere("--n-active", "0"), "n_active"),
    Case("sae-n-active-too-many", sphere("--n-active", "9"), "exceeds n_features"),
    Case("sae-correlation-1", sphere("--correlation", "1"), "correlation"),
    Case("sae-correlation-negative", sphere("--correlation", "-0.1"), "correlation"),
    Case("sae-d-0", sphere("--d", "0"), "source.d"),
    Case("sae-data-seed-negative", sphere("--data-seed", "-1"), "seed"),
    Case("sae-data-seed-huge", sphere("--data-seed", HUGE_SEED), "seed"),
    Case("sae-dead-window-0", sphere("--dead-window", "0"), "dead_window"),
    Case("sae-resample-negative", sphere("--resample-every", "-1"), "resample_every"),
    Case("sae-huge", sphere("--d", "100000", "--d-sae", "10000000"), "memory"),
    Case("sae-run-missing", ["sae", "train", "{tmp}/nope", "--d-sae", "4", "--out", "{tmp}/new"], "not found"),
    Case("sae-run-modadd", ["sae", "train", "{tmp}/modadd", "--d-sae", "4", "--out", "{tmp}/new"], "SAEs read toy runs"),
    Case("sae-run-instance", ["sae", "train", "{tmp}/toy", "--instance", "5", "--d-sae", "4", "--out", "{tmp}/new"],
         "instance 5 does not exist"),
    Case("sae-run-corrupt", ["sae", "train", "{tmp}/toy", "--d-sae", "4", "--out", "{tmp}/new"], "float64",
         weights("toy", "W", lambda t: t.double())),
    Case("sae-out-existing", ["sae", "train", *SPHERE_FLAGS, "--out", "{tmp}/sae"], "already exists"),
    Case("sae-out-user-dir", ["sae", "train", *SPHERE_FLAGS, "--out", "{tmp}/mine", "--overwrite"], "not a run directory",
         user_dir),
    # ---- sae analyze
    Case("sae-analyze-toy", ["sae", "analyze", "{tmp}/toy"], "toy run"),
    Case("sae-analyze-truth-missing", ["sae", "analyze", "{tmp}/sae"], "truth.safetensors is missing",
         remove("sae/truth.safetensors")),
    Case("sae-analyze-truth-shape", ["sae", "analyze", "{tmp}/sae"], "true_features",
         truth(lambda t: {"true_features": torch.zeros(1, 8, 5)})),
    Case("sae-analyze-truth-count", ["sae", "analyze", "{tmp}/sae"], "true_features",
         truth(lambda t: {"true_features": torch.zeros(1, 3, 4)})),
    Case("sae-analyze-truth-float64", ["sae", "analyze", "{tmp}/sae"], "float64",
         truth(lambda t: {k: v.double() for k, v in t.items()})),
    Case("sae-analyze-truth-extra", ["sae", "analyze", "{tmp}/sae"], "unexpected tensor",
         truth(lambda t: {**t, "junk": torch.zeros(1)})),
    Case("sae-analyze-truth-garbage", ["sae", "analyze", "{tmp}/sae"], "corrupt", text("sae/truth.safetensors", b"xx")),
    Case("sae-analyze-metrics-rows", ["sae", "analyze", "{tmp}/sae"], "metrics.csv is corrupt",
         table("sae", "metrics.csv", lambda d: pd.concat([d, d]))),
    Case("sae-analyze-weights-nan", ["sae", "analyze", "{tmp}/sae"], "NaN",
         weights("sae", "b_enc", lambda t: t.fill_(float("nan")))),
    Case("sae-analyze-truth-on-toy", ["analyze", "{tmp}/toy"], "only sparse-autoencoder runs",
         lambda tmp: shutil.copy(tmp / "sae" / "truth.safetensors", tmp / "toy" / "truth.safetensors")),
    # ---- commands and groups
    Case("command-unknown", ["trian"], "trian"),
    Case("modadd-command-unknown", ["modadd", "fit"], "fit"),
    Case("sae-command-unknown", ["sae", "fit"], "fit"),
]


def snapshot(root: Path) -> dict[str, object]:
    """Every entry under root: directories, files (content hash and mode) and links (target)."""
    state: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                state[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                state[rel] = ("dir", path.stat().st_mode)
            else:
                state[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode)
    return state


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case, runs, tmp_path, capsys, monkeypatch):
    if case.skip:
        pytest.skip(case.skip)
    work = tmp_path / "work"
    shutil.copytree(runs, work)
    if case.setup:
        case.setup(work)
    monkeypatch.chdir(work)
    before = snapshot(tmp_path)
    args = [a.replace("{tmp}", str(work)) for a in case.args]
    code, out, err = run_main(args, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in out + err
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert case.needle in lines[0], lines[0]
    assert snapshot(tmp_path) == before, "a file was written or changed"
    if case.id == "out-read-only-parent":
        (work / "ro").chmod(0o755)


def test_the_suite_is_broad():
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)
    commands = {c.args[0] if c.args[0] not in ("modadd", "sae") else " ".join(c.args[:2]) for c in CASES}
    assert commands >= {"train", "analyze", "plot", "reproduce", "bench", "modadd train", "modadd analyze",
                        "sae train", "sae analyze"}
