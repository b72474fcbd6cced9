"""Functions for the executor's tests (tests/test_sweep.py), in a module of their own: a spawned worker imports the
module of the function it runs, and this one imports nothing heavy."""

import math
import os
import signal
from pathlib import Path


def misbehave(item: tuple[str, object]) -> object:
    """("sqrt", x): sqrt(x), which raises for x < 0; ("die_once", flag file): kill this worker the first time (no
    flag yet), return the flag the next; ("die", _): kill this worker, always."""
    kind, value = item
    if kind == "sqrt":
        return math.sqrt(float(value))  # type: ignore[arg-type]
    if kind == "die_once" and Path(str(value)).exists():
        return value
    if kind == "die_once":
        Path(str(value)).write_text("died")
    os.kill(os.getpid(), signal.SIGKILL)
    return None
