"""Correlated and anticorrelated features (Toy Models of Superposition, "Superposition and correlated features").

Features that are never active together cost nothing to share a direction: anticorrelated pairs go antipodal.
Features that are always active together would interfere every time: correlated pairs go orthogonal, and when
there is no room for that they collapse onto their shared (principal) direction.
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import plots
from ..analysis.metrics import cosines, feature_norms, represented
from ..config import RunConfig, make_config
from ..runs import Run
from .base import PAPER, ClaimSpec, Experiment, Findings, check, fmt
from .toy import quick_note, schedule

SEEDS = 6
STEPS = 10_000  # the sources' step count
ANTIPODAL_COS = -0.95  # cos below this: a pair is antipodal
ORTHOGONAL_COS = 0.1  # |cos| below this: a pair is orthogonal
COLLAPSE_COS = 0.95  # cos above this: a pair shares one direction
ANTI_MIN = 5  # instances (of SEEDS) that must show the structure
MOST = SEEDS // 2 + 1

ANTICORRELATED = ClaimSpec(
    "correlated.anticorrelated-antipodal",
    "Anticorrelated features (never active together) are stored as antipodal pairs, even at a density where "
    "independent features are not.", PAPER)
ORTHOGONAL = ClaimSpec(
    "correlated.correlated-orthogonal",
    "Correlated features (always active together) are stored orthogonally to each other.", PAPER)
COLLAPSE = ClaimSpec(
    "correlated.collapse",
    "When correlated features cannot be orthogonal (two in one dimension) they collapse onto one shared direction, "
    "their principal component, each with norm about 1/sqrt(2).", PAPER)


def _cfg(n: int, m: int, p: float, quick: bool, **pairs) -> RunConfig:
    return make_config(
        data=dict(n_features=n, feature_probability=[p] * SEEDS, **pairs),
        model=dict(kind="relu", n_hidden=m),
        train=dict(batch_size=1024, seed=0, **schedule(quick, STEPS)),
    )


def correlated_configs(quick: bool) -> dict[str, RunConfig]:
    return {
        # Dense enough (p = 0.45) that independent features cannot afford to share a direction.
        "anticorrelated": _cfg(4, 2, 0.45, quick, anticorrelated_pairs=2),
        "independent": _cfg(4, 2, 0.45, quick),
        "correlated": _cfg(4, 2, 0.05, quick, correlated_pairs=2),
        "correlated-no-room": _cfg(2, 1, 0.05, quick, correlated_pairs=1),
    }


def _share(flags) -> tuple[int, str]:
    return int(sum(flags)), f"{int(sum(flags))} of {len(flags)} instances"


def correlated_analyze(runs: Mapping[str, Run], quick: bool) -> Findings:
    figures = [plots.features_2d(runs[name]) for name in ("anticorrelated", "independent", "correlated")]
    claims = []

    def antipodal_pairs(run: Run) -> list[bool]:
        C = cosines(run.W)
        return [bool(C[k, 0, 1] < ANTIPODAL_COS and C[k, 2, 3] < ANTIPODAL_COS) for k in range(C.shape[0])]

    anti, anti_text = _share(antipodal_pairs(runs["anticorrelated"]))
    indep, indep_text = _share(antipodal_pairs(runs["independent"]))
    claims.append(ANTICORRELATED(
        [check(f"anticorrelated instances (of {SEEDS}) with both pairs antipodal (cos < {ANTIPODAL_COS:g})", anti,
               ">=", ANTI_MIN),
         check("independent instances at the same density (p = 0.45) with both pairs antipodal", indep, "<=",
               SEEDS // 2)],
        f"anticorrelated: {anti_text}; independent: {indep_text}",
    ))

    run = runs["correlated"]
    C, rep = cosines(run.W), represented(run.W)
    orth = [bool(rep[k].all() and abs(C[k, 0, 1]) < ORTHOGONAL_COS and abs(C[k, 2, 3]) < ORTHOGONAL_COS)
            for k in range(C.shape[0])]
    n_orth, orth_text = _share(orth)
    norms = feature_norms(run.W)
    claims.append(ORTHOGONAL(
        [check(f"instances (of {SEEDS}) with all four features represented and |cos| < {ORTHOGONAL_COS:g} within "
               "each pair", n_orth, ">=", ANTI_MIN)],
        f"{orth_text}; within-pair cosines {[[round(float(C[k, i, i + 1]), 2) for i in (0, 2)] for k in range(C.shape[0])]}",
        note="Instances that miss: " + ("; ".join(
            f"{k}: norms {[round(v, 2) for v in norms[k].tolist()]}" for k in range(C.shape[0]) if not orth[k])
            or "none")
        + ". A within-pair cosine near +1 is the collapse onto a shared direction described below.",
    ))

    run = runs["correlated-no-room"]
    C, norms = cosines(run.W), feature_norms(run.W)
    collapse = [bool(C[k, 0, 1] > COLLAPSE_COS and (norms[k] - 2**-0.5).abs().max() < 0.1) for k in range(C.shape[0])]
    n_col, col_text = _share(collapse)
    claims.append(COLLAPSE(
        [check(f"instances (of {SEEDS}) with cos(W_0, W_1) > {COLLAPSE_COS:g} and both norms 0.71 ± 0.1", n_col,
               ">=", MOST)],
        f"{col_text}; norms {[[round(v, 2) for v in row] for row in norms.tolist()]}",
    ))
    return Findings(figures, claims, quick_note(quick, STEPS))


CORRELATED = Experiment(
    name="correlated",
    title="Correlated and anticorrelated features",
    explanation="""Four features in two dimensions, in two pairs. When the features of a pair are never active together
(anticorrelated), sharing a direction with opposite signs costs nothing, and the model stores each pair
antipodally. When they are always active together (correlated), they would interfere every time, so the model
keeps them orthogonal. With two correlated features and a single dimension there is no room for that: they
collapse onto their common direction, as PCA would. Each setting is trained as six instances.""",
    configs=correlated_configs,
    analyze=correlated_analyze,
    claims=(ANTICORRELATED, ORTHOGONAL, COLLAPSE),
)
