"""The toy models do what the full report says they do, trained in the report's own setting.

Each test trains one experiment's configs exactly as the full `superposition reproduce` does (the sources' schedule,
the same instances and seeds) and asserts every claim's verdict as the full report gives it, by id: the claims it
reproduces, and the ones it does not (`first-look.negative-bias`: 88% of 25 features, under its bar of 90%, since the
0.3.0 data stream; see the README). A test must say no more, and no less, than the report does. The verdict logic of
every claim is tested both ways, on hand-made weights, in tests/test_claims_*.py.
"""

import pytest

from superposition import train_run
from superposition.experiments.base import complete
from superposition.experiments.correlated import CORRELATED
from superposition.experiments.toy import FIRST_LOOK, INTRO


def claims_of(experiment):
    runs = {name: train_run(config, progress=False) for name, config in experiment.configs(False).items()}
    return complete(experiment, experiment.analyze(runs, False)).by_id()


# The experiments cheap enough to train in full here (seconds each), with each claim's verdict in the full report.
# The sparsity sweep (n = 100 in m = 20) is left to the report.
VERDICTS = {
    FIRST_LOOK: {"first-look.linear-top-two": True, "first-look.relu-dense-two": True,
                 "first-look.relu-sparse-all-five": True, "first-look.negative-bias": False},
    INTRO: {"intro.more-features-when-sparse": True, "intro.pentagon": True, "intro.antipodal-pairs": True},
    CORRELATED: {"correlated.anticorrelated-antipodal": True, "correlated.correlated-orthogonal": True,
                 "correlated.collapse": True},
}


@pytest.mark.parametrize("experiment", list(VERDICTS), ids=lambda e: e.name)
def test_the_report_setting_gives_the_reports_verdicts(experiment):
    claims = claims_of(experiment)
    assert sorted(claims) == sorted(VERDICTS[experiment]), "the experiment's claims changed: update this test"
    differ = {cid: f"{c.expected} | measured: {c.measured} | report: {VERDICTS[experiment][cid]}"
              for cid, c in claims.items() if bool(c.reproduced) != VERDICTS[experiment][cid]}
    assert not differ, differ
