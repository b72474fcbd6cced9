"""The `superposition` command: train, analyze, plot and benchmark toy models of superposition.

Every failure the user can fix (a bad value, a missing file) is printed as one line and exits with status 2.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from .errors import ConfigError, SuperpositionError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="A laboratory for superposition: train toy models, measure and draw how they pack features.",
)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _os_message(e: OSError) -> str:
    where = f": {e.filename}" if e.filename else ""
    return f"{e.strerror or e}{where}"


def _one_line_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Turn the errors a user can fix (bad values, missing or unwritable files) into one line and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except SuperpositionError as e:
            _fail(str(e))
        except OSError as e:
            _fail(_os_message(e))
        except MemoryError:
            _fail("out of memory: the run does not fit on this machine; reduce the sizes")

    return wrapper


def _floats(flag: str, text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{flag} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise ConfigError(f"{flag} is empty")
    return values


def _json_safe(value: Any) -> Any:
    """NaN and infinity are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _print_rows(title: str, rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> None:
    """A rich table of `rows`: `columns` are (heading, key, format); keys missing from the rows are left out."""
    from rich.console import Console
    from rich.table import Table

    columns = [c for c in columns if rows and c[1] in rows[0]]
    table = Table(title=title)
    for heading, _, _ in columns:
        table.add_column(heading)
    for row in rows:
        table.add_row(*(fmt.format(row[key]) for _, key, fmt in columns))
    console = Console()
    # piped output: wide enough that each row stays on one line
    (console if console.is_terminal else Console(width=200)).print(table)


# The command that trains or analyzes each run family.
_COMMAND = {"toy": "superposition", "modadd": "superposition modadd", "sae": "superposition sae"}


def _merged(config_file: Path | None, family: type, overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The config file's content (or `family`'s defaults) with every flag that was given laid over it."""
    from .config import load_config

    loaded = load_config(config_file) if config_file else family()
    if not isinstance(loaded, family):
        raise ConfigError(f"{config_file} is a {loaded.family} config; train it with `{_COMMAND[loaded.family]} train`")
    base = loaded.model_dump()
    for section, values in overrides.items():
        base[section].update({k: v for k, v in values.items() if v is not None})
    return base


def _train_new(cfg: Any, out: Path, overwrite: bool, progress: bool) -> Any:
    """Train `cfg` into the new run directory `out` (an existing run directory only with --overwrite); the output
    and the memory the run needs are checked before training."""
    from .lab import train_run

    return train_run(cfg, out, overwrite=overwrite, progress=progress)


def _load_family(run_dir: Path, family: str) -> Any:
    """The run at `run_dir`, which must be of `family` (the error names the command for the run it is)."""
    from .runs import load_run

    run = load_run(run_dir, device="cpu")
    if run.config.family != family:
        raise ConfigError(f"{run_dir} is a {run.config.family} run; use `{_COMMAND[run.config.family]} analyze`")
    return run


def _train_config(config_file: Path | None, overrides: dict[str, dict[str, Any]]):
    from .config import RunConfig, validate

    base = _merged(config_file, RunConfig, overrides)
    flags = overrides["data"]
    if flags.get("importance") is not None and flags.get("importance_decay") is not None:
        raise ConfigError("give --importance or --importance-decay, not both")
    # A flag beats the other form given in the config file.
    if flags.get("importance_decay") is not None:
        base["data"]["importance"] = None
    if flags.get("importance") is not None:
        base["data"]["importance_decay"] = None
    if overrides["model"].get("kind") == "abs":
        # The computation task of the paper: signed inputs, absolute values out, unless told otherwise.
        base["data"]["magnitude"] = flags.get("magnitude") or "uniform_signed"
        base["data"]["target"] = flags.get("target") or "abs"
    return validate(RunConfig, base)


@app.command()
@_one_line_errors
def train(
    out: Path = typer.Option(..., "--out", help="Run directory to write."),
    config: Optional[Path] = typer.Option(None, "--config", help="JSON RunConfig file; flags override it."),
    model: Optional[str] = typer.Option(
        None, "--model", help="linear, relu, neuron (ReLU hidden layer) or abs (computation: learn |x|)."
    ),
    n_features: Optional[int] = typer.Option(None, "--n-features"),
    n_hidden: Optional[int] = typer.Option(None, "--n-hidden"),
    feature_probability: Optional[str] = typer.Option(
        None, "--feature-probability", help="Comma-separated; one instance per value (1 - sparsity)."
    ),
    importance_decay: Optional[float] = typer.Option(None, "--importance-decay", help="importance_i = decay**i."),
    importance: Optional[str] = typer.Option(None, "--importance", help="Comma-separated, one per feature."),
    magnitude: Optional[str] = typer.Option(
        None, "--magnitude", help="uniform, normal, constant, uniform_signed (default for --model abs)."
    ),
    target: Optional[str] = typer.Option(None, "--target", help="identity or abs (default abs for --model abs)."),
    correlated_pairs: Optional[int] = typer.Option(None, "--correlated-pairs"),
    anticorrelated_pairs: Optional[int] = typer.Option(None, "--anticorrelated-pairs"),
    tied: Optional[bool] = typer.Option(None, "--tied/--untied", help="Decoder tied to W (default) or learned."),
    bias: Optional[bool] = typer.Option(None, "--bias/--no-bias"),
    steps: Optional[int] = typer.Option(None, "--steps"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    lr: Optional[float] = typer.Option(None, "--lr"),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="adam or adamw."),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="Default 0.01 for adamw, 0 for adam."),
    schedule: Optional[str] = typer.Option(None, "--schedule", help="constant, linear, cosine, warmup_cosine."),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: 1; see README, Speed)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run directory."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the final per-instance loss as JSON."),
) -> None:
    """Train a sweep of toy models (one instance per feature probability) and save the run directory."""
    cfg = _train_config(
        config,
        {
            "data": dict(
                n_features=n_features,
                feature_probability=_floats("--feature-probability", feature_probability),
                importance_decay=importance_decay,
                importance=_floats("--importance", importance),
                magnitude=magnitude,
                target=target,
                correlated_pairs=correlated_pairs,
                anticorrelated_pairs=anticorrelated_pairs,
            ),
            "model": dict(kind=model, n_hidden=n_hidden, tied=tied, bias=bias),
            "train": dict(
                steps=steps,
                batch_size=batch_size,
                lr=lr,
                optimizer=optimizer,
                weight_decay=weight_decay,
                schedule=schedule,
                warmup_steps=warmup_steps,
                seed=seed,
                device=device,
                threads=threads,
            ),
        },
    )
    run = _train_new(cfg, out, overwrite, progress=not quiet and not as_json)
    result = {"run": str(out), "final_loss": run.final_loss()}
    if as_json:
        typer.echo(json.dumps(_json_safe(result)))
    else:
        typer.echo(f"saved {out} ({cfg.data.n_instances} instances, final loss per instance: "
                   + ", ".join(f"{v:.4g}" for v in result["final_loss"]) + ")")


def _analysis(run_dir: Path) -> dict[str, Any]:
    from .analysis.geometry import classify
    from .lab import analyze

    run = _load_family(run_dir, "toy")
    table = analyze(run)
    structures = classify(run.W)
    probs = run.config.data.probability()
    final = run.final_loss()
    instances = []
    for k in range(run.config.data.n_instances):
        rows = table[table.instance == k]
        instances.append(
            {
                "instance": k,
                "feature_probability": probs[k].tolist(),
                "final_loss": final[k] if k < len(final) else None,
                "dims_per_feature": float(rows.dims_per_feature.iloc[0]),
                "n_represented": int((rows.structure != "not represented").sum()),
                "structures": [
                    {"kind": s.kind, "features": s.features, "n_dims": s.n_dims, "dimensionality": s.dimensionality}
                    for s in structures[k]
                ],
                "features": rows.drop(columns=["instance"]).to_dict(orient="records"),
            }
        )
    result = {"run": str(run_dir), "model": run.config.model.kind, "instances": instances}
    if run.config.model.kind in ("neuron", "abs"):
        from .analysis.neurons import summarize_neurons

        weights = run.model.weights()
        summaries = summarize_neurons(
            run.W, weights.get("W2"), run.b, nonnegative_inputs=run.config.data.magnitude in ("uniform", "constant")
        )
        for inst, summary in zip(instances, summaries):
            inst["neurons"] = summary.as_dict()
    return result


@app.command()
@_one_line_errors
def analyze(
    run_dir: Path = typer.Argument(..., help="A run directory written by `superposition train`."),
    as_json: bool = typer.Option(False, "--json", help="Print the analysis as JSON."),
) -> None:
    """Metrics and geometry of each instance of a run: norms, superposition, dimensionality, structures."""
    result = _analysis(run_dir)
    if as_json:
        typer.echo(json.dumps(_json_safe(result), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    from .analysis.geometry import describe, Structure

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # piped output: keep each instance's geometry on one line
    summary = Table(title=f"{result['run']} ({result['model']} model)")
    for col in ("instance", "1-S (mean)", "final loss", "dims/feature", "represented", "geometry"):
        summary.add_column(col)
    for inst in result["instances"]:
        p = sum(inst["feature_probability"]) / len(inst["feature_probability"])
        geometry = describe([Structure(**s) for s in inst["structures"]])
        summary.add_row(
            str(inst["instance"]), f"{p:.3g}", f"{inst['final_loss']:.4g}", f"{inst['dims_per_feature']:.3g}",
            str(inst["n_represented"]), geometry,
        )
    console.print(summary)
    if any("neurons" in inst for inst in result["instances"]):
        neurons = Table(title="neurons")
        for col in ("instance", "monosemantic", "polysemantic", "dead", "features computed", "motifs"):
            neurons.add_column(col)
        for inst in result["instances"]:
            n = inst["neurons"]
            neurons.add_row(
                str(inst["instance"]), str(n["monosemantic"]), str(n["polysemantic"]), str(n["dead"]),
                str(len(n["features_computed"])), str(len(n["motifs"])),
            )
        console.print(neurons)


@app.command()
@_one_line_errors
def plot(
    run_dir: Path = typer.Argument(..., help="A run directory written by `superposition train`."),
    out: Path = typer.Option(..., "--out", help="HTML file to write (one offline file)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an HTML file written by superposition."),
) -> None:
    """Draw a run's figures into one offline HTML file."""
    from .files import check_output_file
    from .plots import all_figures, run_title, write_html
    from .runs import load_run

    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--out must name an .html file, got {out}")
    check_output_file(out, overwrite=overwrite)
    run = load_run(run_dir, device="cpu")
    write_html(all_figures(run), out, title=run_title(run.config))
    typer.echo(f"wrote {out}")


@app.command()
@_one_line_errors
def reproduce(
    quick: bool = typer.Option(False, "--quick", help="Fewer steps and smaller sweeps (CI-sized)."),
    only: Optional[str] = typer.Option(None, "--only", help="Comma-separated experiment names."),
    out: Path = typer.Option(Path("reports/superposition"), "--out", help="Report directory."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any claim is not reproduced."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress display."),
    as_json: bool = typer.Option(False, "--json", help="Print claims.json's content instead of a summary line."),
) -> None:
    """Train the literature's experiments, check their claims, write OUT/index.html and OUT/claims.json."""
    import time

    from .experiments import EXPERIMENTS
    from .experiments.runner import run_experiment, select
    from .report import check_report_dir, write_report

    names = None if only is None else [n.strip() for n in only.split(",") if n.strip()]
    if names == []:
        raise ConfigError(f"--only {only!r} names no experiment")
    chosen = select(EXPERIMENTS, names)
    check_report_dir(out)
    quiet = quiet or as_json
    say = (lambda msg: None) if quiet else (lambda msg: typer.echo(msg, err=True))
    start = time.perf_counter()
    sections = []
    for i, experiment in enumerate(chosen, start=1):
        say(f"[{i}/{len(chosen)}] {experiment.name}: {experiment.title}")
        section = run_experiment(experiment, out, quick, progress=not quiet, say=say)
        sections.append(section)
        verdicts = [c.reproduced for c in section.findings.claims]
        say(f"  {sum(verdicts)} of {len(verdicts)} claims reproduced ({section.seconds:.1f} s)")
    doc = write_report(out, sections, quick, time.perf_counter() - start)
    s = doc["summary"]
    if as_json:
        typer.echo(json.dumps(_json_safe(doc), indent=2))
    else:
        m, x = s["by_kind"]["measured"], s["by_kind"]["exact"]
        typer.echo(f"wrote {out / 'index.html'} and {out / 'claims.json'}: "
                   f"{s['reproduced']} of {s['claims']} claims reproduced ({m['reproduced']} of {m['claims']} measured, "
                   f"{x['reproduced']} of {x['claims']} exact)")
    if strict and s["not_reproduced"]:
        raise typer.Exit(1)


modadd_app = typer.Typer(
    no_args_is_help=True,
    help="Modular addition with a bilinear layer: train, then measure frequencies, mixing and sparsity.",
)
app.add_typer(modadd_app, name="modadd")


@modadd_app.command("train")
@_one_line_errors
def modadd_train(
    out: Path = typer.Option(..., "--out", help="Run directory to write."),
    config: Optional[Path] = typer.Option(None, "--config", help="JSON modadd run config; flags override it."),
    p: Optional[int] = typer.Option(None, "--p", help="The modulus (odd; default 113)."),
    train_fraction: Optional[float] = typer.Option(None, "--train-fraction", help="Share of pairs trained on (0.3)."),
    split_seed: Optional[int] = typer.Option(None, "--split-seed", help="Seed of the train/test split (0)."),
    kind: Optional[str] = typer.Option(None, "--model", help="bilinear (default) or relu (the original MLP)."),
    d_embed: Optional[int] = typer.Option(None, "--d-embed", help="Embedding width (4)."),
    n_hidden: Optional[int] = typer.Option(None, "--n-hidden", help="Hidden units (16)."),
    instances: Optional[int] = typer.Option(None, "--instances", help="Independent initialisations trained together."),
    bias: Optional[bool] = typer.Option(None, "--bias/--no-bias"),
    layer_norm: Optional[bool] = typer.Option(None, "--layer-norm/--no-layer-norm"),
    loss: Optional[str] = typer.Option(None, "--loss", help="ce (default) or mse."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Full-batch steps (20000)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate (3e-3)."),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="AdamW weight decay (0.1)."),
    schedule: Optional[str] = typer.Option(None, "--schedule", help="constant, linear, cosine, warmup_cosine."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Initialisation seed (0)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: 2)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run directory."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the per-instance summary as JSON."),
) -> None:
    """Train bilinear modular-addition models (full batch, AdamW) and save the run directory with its metrics."""
    from .config import ModAddRunConfig, parse_run_config

    base = _merged(config, ModAddRunConfig, {
        "data": dict(p=p, train_fraction=train_fraction, split_seed=split_seed),
        "model": dict(kind=kind, d_embed=d_embed, n_hidden=n_hidden, n_instances=instances, bias=bias,
                      layer_norm=layer_norm, loss=loss),
        "train": dict(steps=steps, lr=lr, weight_decay=weight_decay, schedule=schedule, seed=seed,
                      device=device, threads=threads),
    })
    run = _train_new(parse_run_config(base), out, overwrite, progress=not quiet and not as_json)
    rows = run.metrics.to_dict(orient="records")
    if as_json:
        typer.echo(json.dumps(_json_safe({"run": str(out), "instances": rows}), indent=2))
    else:
        accs = ", ".join(f"{r['test_accuracy']:.3f}" for r in rows)
        typer.echo(f"saved {out} ({len(rows)} instances, test accuracy per instance: {accs})")


@modadd_app.command("analyze")
@_one_line_errors
def modadd_analyze(
    run_dir: Path = typer.Argument(..., help="A run directory written by `superposition modadd train`."),
    as_json: bool = typer.Option(False, "--json", help="Print the analysis as JSON."),
) -> None:
    """Accuracy, loss, embedding frequencies per column, mixing, and the sparsity of L and R before and after
    unmixing, per instance."""
    from .lab import analyze as analyze_run

    run = _load_family(run_dir, "modadd")
    table = analyze_run(run)
    rows = table.to_dict(orient="records")
    final = run.final_loss()
    for row, loss in zip(rows, final):
        row["final_logged_loss"] = loss
    if as_json:
        typer.echo(json.dumps(_json_safe({"run": str(run_dir), "config": run.config.model_dump(mode="json"),
                                          "instances": rows}), indent=2))
        return
    m = run.config.model
    title = (f"{run_dir} ({m.kind}, p={run.config.data.p}, d={m.d_embed}, hidden={m.n_hidden}, "
             f"wd={run.config.train.resolved_weight_decay})")
    columns = [("instance", "instance", "{}"), ("test acc", "test_accuracy", "{:.4f}"),
               ("train loss", "train_loss", "{:.3g}"), ("test loss", "test_loss", "{:.3g}"),
               ("frequencies per column (share)", "column_frequencies", "{}"),
               ("freqs/col", "freqs_per_column", "{:.2f}"), ("L,R Hoyer", "hidden_hoyer", "{:.2f}"),
               ("unmixed Hoyer", "unmixed_hidden_hoyer", "{:.2f}"), ("median|L,R|·λ", "hidden_median_abs_x_wd", "{:.2f}"),
               ("rounding Δloss", "rounded_binary_loss_change", "{:+.3g}")]
    _print_rows(title, rows, columns)


sae_app = typer.Typer(
    no_args_is_help=True,
    help="Sparse autoencoders: take features back out of superposition, scored against the true features.",
)
app.add_typer(sae_app, name="sae")


@sae_app.command("train")
@_one_line_errors
def sae_train(
    run_dir: Optional[Path] = typer.Argument(None, help="A toy run directory whose hidden layer the SAE reads."),
    out: Path = typer.Option(..., "--out", help="Run directory to write."),
    instance: Optional[int] = typer.Option(None, "--instance", help="Which instance of the toy run to read (0)."),
    sphere: bool = typer.Option(False, "--sphere", help="Synthetic data with known features instead of a toy run."),
    d: Optional[int] = typer.Option(None, "--d", help="--sphere: dimensions (256)."),
    n_features: Optional[int] = typer.Option(None, "--n-features", help="--sphere: true features (512)."),
    n_active: Optional[float] = typer.Option(None, "--n-active", help="--sphere: mean active features per sample (5)."),
    correlation: Optional[float] = typer.Option(None, "--correlation", help="--sphere: co-occurrence within groups."),
    data_seed: Optional[int] = typer.Option(None, "--data-seed", help="--sphere: seed of the true features (0)."),
    d_sae: int = typer.Option(..., "--d-sae", help="Dictionary size (latents)."),
    l1: Optional[str] = typer.Option(None, "--l1", help="L1 coefficient; comma-separated: one SAE per value."),
    activation: Optional[str] = typer.Option(None, "--activation", help="relu (L1, default) or topk."),
    k: Optional[int] = typer.Option(None, "--k", help="Latents kept per sample (topk)."),
    tied: Optional[bool] = typer.Option(None, "--tied/--untied", help="Decoder = encoder transposed (default untied)."),
    dead_window: Optional[int] = typer.Option(None, "--dead-window", help="Silent steps before a latent is dead."),
    resample_every: Optional[int] = typer.Option(None, "--resample-every", help="Resample dead latents every N steps."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Steps (20000)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Batch (1024)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Adam learning rate (1e-3)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Initialisation and batch seed (0)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: 1)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run directory."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the per-instance metrics as JSON."),
) -> None:
    """Train sparse autoencoders on a toy run's hidden activations (RUN_DIR) or on synthetic data (--sphere)."""
    from .config import parse_run_config

    if (run_dir is None) == (not sphere):
        raise ConfigError("give a toy RUN_DIR or --sphere (one of them)")
    sphere_flags = dict(d=d, n_features=n_features, n_active=n_active, correlation=correlation, seed=data_seed)
    if sphere:
        if instance is not None:
            raise ConfigError("--instance applies to a toy RUN_DIR only")
        source = {"kind": "sphere", **{k_: v for k_, v in sphere_flags.items() if v is not None}}
    else:
        given = [f"--{k_.replace('_', '-')}" for k_, v in sphere_flags.items() if v is not None]
        if given:
            raise ConfigError(f"{given[0]} applies to --sphere data only")
        from .runs import load_run

        toy = load_run(run_dir, device="cpu")
        if toy.config.family != "toy":
            raise ConfigError(f"{run_dir} is a {toy.config.family} run; SAEs read toy runs")
        source = {"kind": "toy", "toy": toy.config.model_dump(), "run": str(run_dir), "instance": instance or 0}
    l1_values = _floats("--l1", l1)
    model = dict(d_sae=d_sae, activation=activation, k=k, tied=tied, dead_window=dead_window,
                 resample_every=resample_every,
                 l1=None if l1_values is None else l1_values[0] if len(l1_values) == 1 else l1_values)
    train_cfg = dict(steps=steps, batch_size=batch_size, lr=lr, seed=seed, device=device, threads=threads)
    cfg = parse_run_config({
        "family": "sae", "source": source,
        "model": {k_: v for k_, v in model.items() if v is not None},
        "train": {k_: v for k_, v in train_cfg.items() if v is not None},
    })
    run = _train_new(cfg, out, overwrite, progress=not quiet and not as_json)
    rows = run.metrics.to_dict(orient="records")
    if as_json:
        typer.echo(json.dumps(_json_safe({"run": str(out), "instances": rows}), indent=2))
    else:
        typer.echo(f"saved {out} ({len(rows)} autoencoder{'s' if len(rows) != 1 else ''}; mean max cosine with the "
                   "true features: " + ", ".join(f"{r['mmcs']:.3f}" for r in rows) + ")")


@sae_app.command("analyze")
@_one_line_errors
def sae_analyze(
    run_dir: Path = typer.Argument(..., help="A run directory written by `superposition sae train`."),
    as_json: bool = typer.Option(False, "--json", help="Print the analysis as JSON."),
) -> None:
    """L0, explained variance, shrinkage, dead latents, and recovery of the true features (mean max cosine and
    one-to-one Hungarian matching), per autoencoder."""
    from .lab import analyze as analyze_run

    run = _load_family(run_dir, "sae")
    table = analyze_run(run)
    if run.metrics is not None:  # what only training saw (dead latents over the window, resampling)
        for col in ("dead_in_training", "resampled"):
            if col in run.metrics.columns:
                table[col] = run.metrics[col].to_numpy()
    rows = table.to_dict(orient="records")
    if as_json:
        typer.echo(json.dumps(_json_safe({"run": str(run_dir), "config": run.config.model_dump(mode="json"),
                                          "instances": rows}), indent=2))
        return
    src = run.config.source
    what = (f"toy run {src.run or ''} instance {src.instance}" if src.kind == "toy"
            else f"sphere d={src.d}, {src.n_features} features, {src.n_active:g} active")
    title = f"{run_dir} (SAE, {run.config.model.activation}, d_sae={run.config.model.d_sae}, on {what})"
    columns = [("instance", "instance", "{}"), ("l1", "l1", "{:g}"), ("L0", "l0", "{:.3g}"),
               ("explained var.", "explained_variance", "{:.4f}"), ("shrinkage", "shrinkage", "{:.3f}"),
               ("dead (eval)", "dead_fraction", "{:.1%}"), ("dead (training)", "dead_in_training", "{}"),
               ("MMCS", "mmcs", "{:.4f}"), ("matched", "matched_score", "{:.4f}"), ("mcc", "mcc", "{:.4f}"),
               ("uniqueness", "uniqueness", "{:.3f}")]
    _print_rows(title, rows, columns)


@app.command()
@_one_line_errors
def bench(
    steps: int = typer.Option(2000, "--steps", min=10, help="Steps per timed round."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Timed rounds per trainer (the median is reported)."),
    loss_steps: int = typer.Option(10_000, "--loss-steps", min=100, help="Steps for the final-loss comparison."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Time our trainer against a plain notebook-style loop on the intro configuration, in the same run."""
    from .bench import format_report, run_benchmark

    result = run_benchmark(steps=steps, repeats=repeats, loss_steps=loss_steps, progress=not as_json)
    typer.echo(json.dumps(_json_safe(result), indent=2) if as_json else format_report(result))


def _usage_error(e: BaseException) -> bool:
    """A command-line parsing error of typer's click (vendored or not): it knows its message and exit code."""
    return hasattr(e, "format_message") and hasattr(e, "exit_code") and hasattr(e, "ctx")


def main(argv: list[str] | None = None) -> None:
    """The console script: every error a user can cause ends in one `error: ...` line and exit status 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="superposition", standalone_mode=False)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the last line of defence between a user and a traceback
        if _usage_error(e):
            if type(e).__name__ == "NoArgsIsHelpError":  # a bare group: typer has printed its help
                sys.exit(0)
            message = " ".join(e.format_message().split())
            typer.echo(f"error: {message} (see --help)", err=True)
            sys.exit(2)
        if os.environ.get("SUPERPOSITION_DEBUG"):
            raise
        typer.echo(f"error: unexpected {type(e).__name__}: {' '.join(str(e).split())[:300]} (this is a bug; "
                   "SUPERPOSITION_DEBUG=1 shows the traceback)", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
