"""`superposition llc RUN`: the local learning coefficient of a saved toy run's instances, through devinterp; and
the estimator's settings.

Kept apart from `llc.py` so that building the command line imports neither torch nor devinterp.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import typer

from .errors import ConfigError


@dataclass(frozen=True)
class Settings:
    """The estimator's hyperparameters. Defaults are those of devinterp's TMS example (examples/tms.ipynb): SGLD,
    localization 1, nβ = n / ln n for its n = 200 samples, 5 chains of 100 draws; it sweeps the step size over
    1e-5..1e-2 and the batch over 1..300, and we take lr 1e-3 and batch 100 from that grid (the batch it trains
    with). The rest are devinterp's own defaults (no burn-in, init seed 100), except that the loss at w* is taken
    over one pass of the samples (`init_batches`)."""

    lr: float = 1e-3
    n_beta: float | None = None  # None: samples / ln(samples), devinterp's default_nbeta rule
    localization: float = 1.0
    chains: int = 5
    draws: int = 100
    burnin: int = 0
    batch_size: int = 100
    samples: int = 200
    seed: int = 100

    def __post_init__(self) -> None:
        for name in ("lr", "localization") + (("n_beta",) if self.n_beta is not None else ()):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0) or (name != "localization" and value == 0):
                raise ConfigError(f"{name} must be a positive number, got {value}")
        for name in ("chains", "draws", "batch_size", "samples"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.burnin < 0:
            raise ConfigError(f"burnin must be >= 0, got {self.burnin}")
        if self.batch_size > self.samples:  # devinterp drops incomplete batches: there would be none
            raise ConfigError(f"batch_size ({self.batch_size}) must not exceed samples ({self.samples})")
        if self.samples < 2 and self.n_beta is None:
            raise ConfigError("n_beta = samples / ln(samples) needs at least 2 samples; give n_beta")

    @property
    def beta_n(self) -> float:
        """nβ: the given value, else n / ln n (devinterp's default_nbeta for n samples)."""
        return self.n_beta if self.n_beta is not None else self.samples / math.log(self.samples)

    @property
    def init_batches(self) -> int:
        """Batches for the loss at w*: one pass over the samples (devinterp's default is 32 batches, which on a
        larger sample set would compare the chains' loss on every sample with the loss at w* on some of them)."""
        return self.samples // self.batch_size

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "n_beta": self.beta_n, "init_batches": self.init_batches}


DEFAULT = Settings()


def llc(
    run_dir: Path = typer.Argument(..., help="A toy run directory."),
    instance: Optional[int] = typer.Option(None, "--instance", min=0, help="One instance (default: every instance)."),
    snapshots: bool = typer.Option(False, "--snapshots", help="Estimate at each saved snapshot, not only at the end."),
    lr: float = typer.Option(DEFAULT.lr, "--lr", help="SGLD step size."),
    n_beta: Optional[float] = typer.Option(
        None, "--n-beta", help="Inverse temperature nβ (default: samples / ln samples)."),
    localization: float = typer.Option(DEFAULT.localization, "--localization",
                                       help="Pull γ towards the trained weights."),
    chains: int = typer.Option(DEFAULT.chains, "--chains", min=1, help="SGLD chains."),
    draws: int = typer.Option(DEFAULT.draws, "--draws", min=1, help="Draws (SGLD steps) per chain after burn-in."),
    burnin: int = typer.Option(DEFAULT.burnin, "--burnin", min=0, help="SGLD steps before the draws."),
    batch_size: int = typer.Option(DEFAULT.batch_size, "--batch-size", min=1, help="Samples per SGLD step."),
    samples: int = typer.Option(DEFAULT.samples, "--samples", min=1, help="Samples n drawn from the run's data."),
    seed: int = typer.Option(DEFAULT.seed, "--seed", help="Seeds the samples and devinterp's chains."),
    as_json: bool = typer.Option(False, "--json", help="Print the estimates as JSON."),
) -> None:
    r"""Estimate the local learning coefficient (LLC) of a toy run with devinterp's SGLD sampler; print it and save
    RUN/llc.json. Defaults are those of devinterp's TMS example. Needs: pip install -e ".\[devinterp]"."""
    from . import llc as core

    core.require_devinterp(load=False)  # first: without the extra, one line saying how to install it
    settings = Settings(lr=lr, n_beta=n_beta, localization=localization, chains=chains, draws=draws,
                        burnin=burnin, batch_size=batch_size, samples=samples, seed=seed)
    from .runs import load_run

    run = load_run(run_dir, device="cpu")
    core.read_results(run_dir / core.RESULT_FILE)  # a foreign llc.json is refused before any sampling

    def show(entry: dict[str, Any]) -> None:
        if not as_json:
            estimate = core.Estimate(**{k: v for k, v in entry.items() if k not in ("instance", "step")})
            typer.echo(f"instance {entry['instance']}, step {entry['step']}: {estimate.line()}")
            for message in estimate.warnings:
                typer.echo(f"  devinterp: {message}", err=True)

    estimates = core.estimate_run(run, None if instance is None else [instance], settings, snapshots, report=show)
    path = core.save_results(run_dir, settings, estimates)
    if as_json:
        from .cli.common import echo_json

        echo_json({"run": str(run_dir), "settings": settings.to_dict(), "estimates": estimates})
    else:
        typer.echo(f"wrote {path}")
