"""Learning dynamics (Toy Models of Superposition, "Superposition and Learning Dynamics", phenomenon 1: discrete
"energy level" jumps).

The paper follows each feature's dimensionality D_i over training in a model of equally important, equally sparse
features that ends in digons, and finds it dominated by jumps: D_i moves between the fractions of the geometry
section, the features "jump between different values and swap places", and "as this happens, the loss curve also
undergoes a sudden drop". Here n = 6 such features in m = 2 dimensions train with weight snapshots (log-spaced, so
the early moves are resolved), and `analysis.dynamics` reads the trajectories: plateaus at known fractions, moves
between them (jumps when they complete within a doubling of the step count), loss drops from the history, and
whether jumps coincide with drops and come with an opposite move of another feature (a swap).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import pandas as pd

from ..analysis import dynamics as dyn
from ..config import RunConfig, make_config
from ..families.toy import TOY, animation, snapshot_features
from ..plots.dynamics import dimensionality_over_training
from ..runs import Run
from .base import PAPER, Claim, ClaimSpec, Experiment, Findings, check, fmt

N, M = 6, 2
# The density at which n = 6 equal features in m = 2 end in digons (two antipodal pairs), the paper's "one model
# where all the features converge into digons" (the geometry section's 1/2 plateau).
DENSITY = 0.3
# The sources' schedule (AdamW, lr 1e-3, batch 1024); quick mode (CI) takes a tenth of the steps at 10x the rate
# (Adam's steps scale with the rate), with fewer instances and snapshots, to fit its few seconds.
SCHEDULE = {False: dict(steps=10_000, lr=1e-3), True: dict(steps=1_000, lr=1e-2)}
STEPS = SCHEDULE[False]["steps"]
INSTANCES = {False: 8, True: 2}
SNAPSHOTS = {False: 150, True: 40}
LOG_EVERY = 10  # loss windows of 10 steps: drops are looked for in the history

# Claim thresholds, fixed from the paper's wording before any run was measured.
MOST = 0.5  # "dominated by", "the features jump ...", "as this happens": more than half
MIN_JUMPS = 3  # the paper's figure shows two jumps in one model; eight models must show a few

# What running the source's settings showed (investigations/dynamics_source_setting.py, one seed each unless said; the
# n = 400 runs on an idle 16-core machine, one thread each), added to a claim's note when it fails in the full report.
SOURCE = ("investigations/dynamics_source_setting.py ran the paper's own setting, n = 400 features of importance 1 "
          "in m = 30 dimensions at 1-S = 0.4 and 0.3 (D* = 0.51 and 0.50 at the end: the digon models the paper "
          "picks), 10,000 steps of batch 1024 at lr 1e-3, with the same 150 log-spaced snapshots and analysis")
READINGS = {
    "dynamics.jumps": (
        f"Reading (c): {SOURCE}. There no feature moves between levels at all: each goes from its initial D straight "
        "to its final level (1/2 or 0), in two seeds and in a 25,000-step run. With the original notebook's 5x "
        "smaller initial W, 14 to 22 of the 400 features move, all from 0 to 1/2, and none within a doubling of the "
        "step count. Here 5 of 12 moves are jumps; with the notebook's initial W, 4 of 9."),
    "dynamics.loss-drops": (
        f"Reading (a): {SOURCE}; it has no jumps to align. With the original notebook's 5x smaller initial W (our "
        "init is per instance, models/base.py), this experiment's own setting gives 3 of 4 jumps meeting a loss drop "
        "(chance 0.19), against 0 of 5 (chance 0.06) here: few jumps either way, so the alignment is read from a "
        "handful of events."),
    "dynamics.swaps": (
        f"Reading (a): {SOURCE}; it has no jumps to pair. With the original notebook's 5x smaller initial W, 3 of 4 "
        "jumps here come with an opposite move (2 of 5 with ours); at 1-S = 0.1 (pentagons), 2 of 4 with the "
        "notebook's init and 3 of 4 with ours."),
    "dynamics.levels": (
        f"{SOURCE}: there no feature moves between levels (they settle once), so the claim has no input; with the "
        "notebook's 5x smaller initial W, the 14 to 22 features that move (0 -> 1/2) spend 0.28 to 0.33 of that "
        "stretch on levels."),
}

LEVELS = ClaimSpec(
    "dynamics.levels",
    "Between jumps, feature dimensionalities rest on the known fractions (the \"energy levels\" of the geometry "
    "section: 1, 2/3, 1/2, 2/5, 0 in two dimensions).", PAPER)
JUMPS = ClaimSpec(
    "dynamics.jumps",
    "Feature dimensionalities change in jumps: a feature's D_i moves from one known fraction to another within a "
    "short window of training.", PAPER)
DROPS = ClaimSpec(
    "dynamics.loss-drops",
    "The jumps coincide with sudden drops in the loss.", PAPER)
SWAPS = ClaimSpec(
    "dynamics.swaps",
    "Jumping features swap places: as one feature's D_i jumps, another feature of the same model moves the "
    "opposite way.", PAPER)
CLAIMS = (LEVELS, JUMPS, DROPS, SWAPS)


@dataclass
class Dynamics:
    """What the claims read: the trajectory table and what `analysis.dynamics` found in it and in the history."""

    table: pd.DataFrame
    plateaus: pd.DataFrame
    moves: pd.DataFrame
    drops: pd.DataFrame
    jumps: pd.DataFrame  # moves that are jumps, with `loss_drop`
    chance: float  # share of jumps a drop would meet by chance
    levels: pd.DataFrame  # level_share per feature


def measure(table: pd.DataFrame, history: pd.DataFrame, n_hidden: int) -> Dynamics:
    """Plateaus, moves, jumps, loss drops and their alignment for a trajectory table and a loss history."""
    plateaus = dyn.plateaus(table, n_hidden=n_hidden)
    moves = dyn.transitions(plateaus)
    drops = dyn.loss_drops(history)
    jumps, chance = dyn.align(moves, drops, history)
    return Dynamics(table, plateaus, moves, drops, jumps, chance, dyn.level_share(plateaus, table, moves))


def _share(flags: pd.Series) -> float:
    return float(flags.mean()) if len(flags) else float("nan")


def _examples(moves: pd.DataFrame, k: int = 4) -> str:
    return "; ".join(f"instance {r.instance} feature {r.feature}: {r.from_level} -> {r.to_level} over steps "
                     f"{r.start}-{r.end}" for r in moves.head(k).itertuples()) or "none"


def dynamics_claims(d: Dynamics) -> list[Claim]:
    """The four claims from measured dynamics (factored out, so hand-made trajectories can drive them)."""
    features = d.table.groupby(["instance", "feature"]).ngroups
    on = float(d.levels.on_levels.mean()) if len(d.levels) else float("nan")
    levels = LEVELS(
        [check(f"features (of {features}) that move between levels", len(d.levels), ">=", 1),
         check("mean share of their snapshots on levels, first level to last", on, ">=", MOST)],
        f"{len(d.levels)} of {features} features move between levels; from their first level to their last they "
        f"spend {fmt(on)} of the snapshots on levels; plateaus by level: {d.plateaus.level.value_counts().to_dict()}")
    n_moves, n_jumps = len(d.moves), int(d.moves.jump.sum()) if len(d.moves) else 0
    jump_share = _share(d.moves.jump) if n_moves else float("nan")
    jumps = JUMPS(
        [check("jumps between known fractions", n_jumps, ">=", MIN_JUMPS),
         check(f"share of moves between levels that are jumps (within {dyn.JUMP_RATIO:g}x the step)", jump_share,
               ">=", MOST)],
        f"{n_jumps} of {n_moves} moves between levels are jumps ({fmt(jump_share)}); "
        f"e.g. {_examples(d.moves[d.moves.jump])}")
    hit = _share(d.jumps.loss_drop) if len(d.jumps) else float("nan")
    drops = DROPS(
        [check("share of jumps that coincide with a loss drop", hit, ">=", MOST),
         check("that share minus the share expected by chance", hit - d.chance if len(d.jumps) else float("nan"),
               ">", 0.0)],
        f"{int(d.jumps.loss_drop.sum()) if len(d.jumps) else 0} of {len(d.jumps)} jumps meet one of "
        f"{len(d.drops)} loss drops ({fmt(hit)}; chance {fmt(d.chance)})")
    swap = _share(d.jumps.swap) if len(d.jumps) else float("nan")
    swaps = SWAPS(
        [check("share of jumps with an opposite move of another feature at the same time", swap, ">=", MOST)],
        f"{int(d.jumps.swap.sum()) if len(d.jumps) else 0} of {len(d.jumps)} jumps ({fmt(swap)})")
    return [levels, jumps, drops, swaps]


def dynamics_configs(quick: bool) -> dict[str, RunConfig]:
    return {"uniform": make_config(
        data=dict(n_features=N, feature_probability=[DENSITY] * INSTANCES[quick]),
        model=dict(kind="relu", n_hidden=M),
        train=dict(batch_size=1024, seed=0, snapshots=SNAPSHOTS[quick], log_every=LOG_EVERY, **SCHEDULE[quick]),
    )}


def dynamics_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    run = runs["uniform"]
    if run.snapshots is None:
        return Findings([], [spec.missing("the run has no weight snapshots") for spec in CLAIMS])
    W = snapshot_features(run)
    b = run.snapshots.tensors.get("b")
    table = dyn.trajectory_table(W, b, run.snapshots.steps.tolist(), run.config.data)
    d = measure(table, run.history, M)
    labels = [TOY.instance_label(run.config, k) for k in range(run.config.data.n_instances)]
    shown = sorted(d.jumps.instance.unique().tolist())[:4] or None
    figures = [
        animation(run, shown),
        dimensionality_over_training(table, run.history, labels, TOY.title(run.config), shown,
                                     jumps=d.jumps, drops=d.drops, fractions=dyn.known_fractions(M)),
    ]
    quick_mode = [f"Quick mode: {SCHEDULE[True]['steps']} steps at lr {SCHEDULE[True]['lr']:g}, {INSTANCES[True]} "
                  f"instances, instead of {STEPS} at {SCHEDULE[False]['lr']:g}, {INSTANCES[False]} instances."]
    notes = (quick_mode if quick else []) + [
        f"{len(run.snapshots)} log-spaced snapshots; a level is a known fraction held (within "
        f"{dyn.FRACTION_TOL:g}) for {dyn.MIN_SNAPSHOTS} snapshots or more while the step count grows "
        f"{dyn.HOLD_RATIO:g}x; a move between levels is a jump when it "
        f"completes before the step count grows {dyn.JUMP_RATIO:g}x; a loss drop is a window of that length where "
        f"the log loss falls by {dyn.MIN_FALL:g} or more, {dyn.EXCESS:g}x more than in the windows beside it and by "
        f"more than {dyn.NOISE_Z:g} standard errors of the noise."]
    claims = [c if c.reproduced or quick else replace(c, note=READINGS[c.id]) for c in dynamics_claims(d)]
    return Findings(figures, claims, notes)


DYNAMICS = Experiment(
    name="learning-dynamics",
    title="Learning dynamics: jumps between feature dimensionalities",
    explanation=f"""Six equally important features with density 1 - S = {DENSITY} in two hidden dimensions, trained
as {INSTANCES[False]} instances with weight snapshots. At the end the features sit in digons (antipodal pairs, D = 1/2)
or are dropped (D = 0); the paper reports that on the way there each feature's dimensionality D_i jumps between such
fractions, features swapping places, while the loss drops. The animation shows the features in the hidden plane and
their D_i over training (drag the slider); the second figure shows D_i beside the loss, with the detected jumps and
loss drops shaded.""",
    configs=dynamics_configs,
    analyze=dynamics_analyze,
    claims=CLAIMS,
)
