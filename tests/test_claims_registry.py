"""Every claim the report checks has a test that makes it hold and one that makes it fail (see claim_cases.py)."""

import importlib
from pathlib import Path

import pytest

from superposition.experiments import EXPERIMENTS


def registered_cases() -> set[tuple[str, bool]]:
    keys: set[tuple[str, bool]] = set()
    for path in sorted(Path(__file__).parent.glob("test_claims_*.py")):
        if path.stem == "test_claims_registry":
            continue
        keys |= set(importlib.import_module(path.stem).CASES.cases)
    return keys


DECLARED = [(spec.id, e.name) for e in EXPERIMENTS for spec in e.claims]


@pytest.mark.parametrize("claim_id,experiment", DECLARED, ids=[c for c, _ in DECLARED])
def test_every_declared_claim_is_tested_both_ways(claim_id, experiment):
    keys = registered_cases()
    missing = [word for holds, word in ((True, "holds"), (False, "fails")) if (claim_id, holds) not in keys]
    assert not missing, f"{claim_id} ({experiment}) has no case where it {' or '.join(missing)}"


def test_no_case_names_a_claim_that_does_not_exist():
    declared = {c for c, _ in DECLARED}
    stale = sorted({c for c, _ in registered_cases()} - declared)
    assert not stale, f"cases for undeclared claims: {stale}"


def test_every_claim_states_its_kind():
    kinds = {spec.id: spec.kind for e in EXPERIMENTS for spec in e.claims}
    assert set(kinds.values()) <= {"measured", "exact"}
    # The verdicts that read no trained run: theory, or algebra on a hand-built construction.
    assert {c for c, k in kinds.items() if k == "exact"} >= {
        "phase.superposition-grows-with-sparsity", "mixing.no-gain-at-fixed-l2", "mixing.gain-under-max-budget",
        "mixing.hadamard-best-mixer"}
