"""Independent jobs on a Ray cluster (`--ray`): the Ray side of `superposition.executors.run_all`.

Each item is one Ray task (Ray Core, no other Ray library) that calls `fn(item)` in a Ray worker process with
`threads` intra-op threads. The task writes whatever `fn` writes itself, where it runs: a run directory is saved by
the worker that trained it, so on a cluster of several machines every node must see the output folder at the same
path (a shared file system: NFS, a mounted bucket). Only the small result of `fn` travels back to the driver.

Failures, as with the local executor: an exception raised by `fn` is that item's outcome (its one-line error) and the
other items go on; it is not retried, since the same item raises the same error again. A task whose worker died
(killed, out of memory, its node lost) is submitted again, at most `retries` times, then reported as "worker died
(...) after N attempts". Every worker must import `fn` and the items' classes: on a cluster, install the same
superposition (and torch) on every node.

The address: "local" starts a Ray on this machine for trying it (all its cores, no dashboard) and stops it at the
end; "auto" joins the cluster this machine is part of (`ray start --head` / `ray start --address ...`);
"HOST:PORT" joins a cluster's head from one of its nodes; "ray://HOST:10001" connects through Ray Client from
outside. A Ray this process has already joined (`ray.init` by the caller) is used as it is and left running.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from .errors import ConfigError
from .executors import Outcome, error_line

T = TypeVar("T")
R = TypeVar("R")

LOCAL = "local"
INSTALL_HINT = 'Ray is not installed: pip install -e ".[ray]"'


def import_ray() -> Any:
    """The `ray` module, or a one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return ray


def first_line(error: BaseException) -> str:
    """'ExcType: the first line of its message', for Ray's own errors (their later lines are long advice)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _attempt(fn: Callable[[Any], Any], item: Any, threads: int) -> tuple[Any, str | None]:
    """One task, in a Ray worker: `fn(item)` on `threads` intra-op threads. An exception comes back as its line, so
    that Ray never retries it (it would raise again) and it cannot fail to unpickle on the driver."""
    import torch

    from .executors import thread_cap

    os.environ.update(thread_cap(threads))  # a run that asks for more threads gets `threads` (train.choose_threads)
    torch.set_num_threads(threads)
    try:
        return fn(item), None
    except Exception as error:
        return None, error_line(error)


@contextlib.contextmanager
def connected(address: str) -> Iterator[Any]:
    """Join the Ray at `address` for the block (see the module's docstring), then leave it: `ray.shutdown()` stops a
    Ray we started here and only disconnects from a cluster. Nested or after the caller's `ray.init`: the Ray already
    joined is used and left as it is."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address == LOCAL:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, **quiet)
        else:
            ray.init(address=address, **quiet)
    except Exception as error:  # noqa: BLE001 - whatever Ray raised, the user gets one line naming the address
        root: BaseException = error
        while root.__cause__ is not None:  # "failed to connect" is raised from the reason (a refused token, ...)
            root = root.__cause__
        why = "" if root is error else f" ({first_line(root).split('. ')[0]})"
        raise ConfigError(f"cannot start or join Ray at {address!r}: {first_line(error)}{why}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def run_all_ray(
    fn: Callable[[T], R], items: Iterable[T], *, address: str, threads: int = 1, retries: int = 2
) -> Iterator[Outcome[T, R]]:
    """`fn` over `items` as Ray tasks, each holding `threads` CPUs and running on `threads` intra-op threads; the
    outcomes in the order they complete. Closing the iterator early cancels the tasks not yet finished."""
    if threads < 1 or retries < 0:
        raise ConfigError(f"threads must be at least 1 and retries at least 0, not {threads} and {retries}")
    import_ray()  # a missing Ray is an error now, not at the first outcome
    return _outcomes(fn, list(items), address, threads, retries)


def _outcomes(fn: Callable[[T], R], items: list[T], address: str, threads: int,
              retries: int) -> Iterator[Outcome[T, R]]:
    with connected(address) as ray:
        died = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.OutOfMemoryError,
                ray.exceptions.ObjectLostError, ray.exceptions.LocalRayletDiedError)
        # Ray reserves `threads` CPUs for a task, so that tasks never share cores with each other's threads. We
        # resubmit a task whose worker died ourselves rather than through Ray's max_retries: the same retry, and
        # the outcome can say how many attempts it took (Ray keeps that count private).
        task = ray.remote(num_cpus=threads, max_retries=0, retry_exceptions=False)(_attempt)
        pending = {task.remote(fn, item, threads): i for i, item in enumerate(items)}
        attempts = [1] * len(items)
        try:
            while pending:
                (ready,), _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(ready)
                try:
                    result, error = ray.get(ready)
                except died as failure:
                    if attempts[i] <= retries:
                        attempts[i] += 1
                        pending[task.remote(fn, items[i], threads)] = i
                        continue
                    error, result = f"worker died ({first_line(failure)}) after {attempts[i]} attempts", None
                except ray.exceptions.RayTaskError as failure:  # the task failed outside fn's own exceptions
                    error, result = first_line(failure.cause if failure.cause is not None else failure), None
                except ray.exceptions.RayError as failure:  # Ray could not run it (fn or item not importable there, ...)
                    error, result = first_line(failure), None
                yield Outcome(items[i], result, error, attempts[i])
        finally:
            for ref in pending:  # closed early (the caller stopped at a failure): the rest is not wanted
                ray.cancel(ref, force=True)
