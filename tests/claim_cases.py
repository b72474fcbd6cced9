"""Both-ways tests of the report's claims: for every claim id, a hand-made input on which the claim must hold and
one on which it must fail.

Each `tests/test_claims_<group>.py` module declares its cases on a `BothWays` registry named `CASES`:

    CASES = BothWays()

    @CASES.case("intro.pentagon", holds=True)
    def regular_pentagon():
        return INTRO.analyze({"relu": run_of(...)}, False)   # Findings, a list of claims, or one Claim

    test_verdict = CASES.test()   # one parametrized test per case

`tests/test_claims_registry.py` walks the experiment registry and fails when a declared claim id lacks either case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from superposition.experiments import Claim, Findings


def claims_in(result: Any) -> dict[str, Claim]:
    """The claims a case returned, by id (Findings, a list of claims, a dict of them, or one Claim)."""
    if isinstance(result, Findings):
        return result.by_id()
    if isinstance(result, Claim):
        return {result.id: result}
    if isinstance(result, dict):
        return dict(result)
    return {c.id: c for c in result}


class BothWays:
    """A registry of (claim id, expected verdict) -> a function building the input and running the analysis."""

    def __init__(self) -> None:
        self.cases: dict[tuple[str, bool], Callable[[], Any]] = {}

    def case(self, claim_id: str, *, holds: bool) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
        def register(fn: Callable[[], Any]) -> Callable[[], Any]:
            key = (claim_id, holds)
            if key in self.cases:
                raise ValueError(f"two cases for {claim_id} holds={holds}")
            self.cases[key] = fn
            return fn

        return register

    def check(self, key: tuple[str, bool]) -> None:
        claim_id, holds = key
        claims = claims_in(self.cases[key]())
        assert claim_id in claims, f"the analysis produced no claim {claim_id} (got {sorted(claims)})"
        claim = claims[claim_id]
        assert claim.reproduced is holds, (
            f"{claim_id}: expected {'reproduced' if holds else 'not reproduced'}; "
            f"expected text: {claim.expected}; measured: {claim.measured}"
        )

    def test(self) -> Callable[[tuple[str, bool]], None]:
        keys = sorted(self.cases)

        @pytest.mark.parametrize("key", keys, ids=[f"{c}-{'holds' if h else 'fails'}" for c, h in keys])
        def test_verdict(key: tuple[str, bool]) -> None:
            self.check(key)

        return test_verdict
