"""Executors: run one function over many independent items (a sweep's runs) and yield each outcome as it
completes, locally in spawned worker processes or on a Ray cluster (`executors_ray`, imported only when asked for).
Whichever runs an item, it runs the same function on it under the same intra-op thread cap (`MAX_THREADS_ENV`), so
a run trained through any of them has the same weights bit for bit.

Faults, locally: an exception raised by the function is that item's outcome (one line, not retried; the others go
on). A worker process that dies (killed, out of memory) is replaced by a new one and the item it was running is
retried, at most `retries` times; the other workers and their items are not disturbed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    """What became of one item: `result` is fn(item) when it succeeded; otherwise `error` is one line, either
    "ExcType: message" (fn raised) or "worker died (...)" (the retries ran out). `attempts` counts the tries."""

    item: T
    result: R | None
    error: str | None
    attempts: int

    @property
    def ok(self) -> bool:
        return self.error is None


def error_line(e: BaseException) -> str:
    """An exception as one line: "ExcType: message"."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def run_all(fn: Callable[[T], R], items: Sequence[T], *, workers: int | None = None, ray: str | None = None,
            threads: int = 1, retries: int = 2) -> Iterator[Outcome[T, R]]:
    """Yield an Outcome per item as it completes. fn must be a module-level function (pickled by reference).

    Local: `workers` spawn processes (default os.cpu_count()), `threads` intra-op threads each (MAX_THREADS_ENV);
    `workers=1` (or a single item) runs in this process, one item after another, under the same thread cap. An
    exception in fn is an Outcome with error (not retried, the others go on); a worker that dies (SIGKILL) is
    replaced and its unfinished item retried in the new process, at most `retries` times.
    `ray` not None: delegate to superposition.executors_ray.run_all_ray(fn, items, address=ray, threads=threads,
    retries=retries), imported lazily. The arguments are checked before anything runs.
    """
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    if threads < 1:
        raise ConfigError(f"threads must be at least 1, got {threads}")
    if retries < 0:
        raise ConfigError(f"retries must be 0 or more, got {retries}")
    items = list(items)
    if ray is not None:
        from .executors_ray import run_all_ray

        return run_all_ray(fn, items, address=ray, threads=threads, retries=retries)
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(items) <= 1:
        return _in_process(fn, items, threads)
    return _in_pool(fn, items, min(workers, len(items)), threads, retries)


def thread_cap(threads: int) -> dict[str, str]:
    """The environment that caps the intra-op threads of every run trained under it (`train.MAX_THREADS_ENV`)."""
    from .train import MAX_THREADS_ENV

    return {MAX_THREADS_ENV: str(threads)}


def _in_process(fn: Callable[[T], R], items: list[T], threads: int) -> Iterator[Outcome[T, R]]:
    cap = thread_cap(threads)
    before = {k: os.environ.get(k) for k in cap}
    for item in items:
        os.environ.update(cap)  # what a worker process would run under
        try:
            result = fn(item)
        except Exception as e:  # noqa: BLE001 - an item's failure is its outcome; KeyboardInterrupt still stops
            yield Outcome(item, None, error_line(e), 1)
            continue
        finally:
            for k, v in before.items():  # restored around each yield: the caller's code runs between items
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        yield Outcome(item, result, None, 1)


def _serve(conn: Connection, fn: Callable[[Any], Any], environment: dict[str, str]) -> None:
    """A worker process: run fn on each item received until told to stop (None) or the parent goes away."""
    os.environ.update(environment)
    try:
        while (message := conn.recv()) is not None:
            index, item = message
            try:
                reply = (index, True, fn(item))
            except Exception as e:  # noqa: BLE001 - the item's outcome, sent back as one line
                reply = (index, False, error_line(e))
            try:
                conn.send(reply)
            except (pickle.PicklingError, TypeError, AttributeError) as e:  # a result that cannot be pickled
                conn.send((index, False, error_line(e)))
    except (EOFError, OSError, KeyboardInterrupt):  # the parent went away, or Ctrl-C reached the whole group
        return


@dataclass
class _Worker:
    process: Any  # a spawned multiprocessing Process
    conn: Connection
    index: int | None = None  # the item it is running


def _died(process: Any) -> str:
    process.join(timeout=5)
    code = process.exitcode
    if code is None or code >= 0:
        return f"exit code {code}"
    return f"killed by {signal.Signals(-code).name}" if -code in signal.valid_signals() else f"killed by signal {-code}"


def _in_pool(fn: Callable[[T], R], items: list[T], workers: int, threads: int,
             retries: int) -> Iterator[Outcome[T, R]]:
    context = multiprocessing.get_context("spawn")  # a forked torch can hang in its thread pool
    cap = thread_cap(threads)

    def spawn() -> _Worker:
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(theirs, fn, cap), daemon=True)
        process.start()
        theirs.close()
        return _Worker(process, ours)

    attempts = [0] * len(items)
    queue = deque(range(len(items)))
    pool = [spawn() for _ in range(workers)]
    try:
        while queue or any(w.index is not None for w in pool):
            for k, w in enumerate(pool):
                if w.index is not None or not queue:
                    continue
                i = queue.popleft()
                try:
                    w.conn.send((i, items[i]))
                except (OSError, EOFError):  # it died while idle: replace it, the item was never started
                    queue.appendleft(i)
                    w.conn.close()
                    pool[k] = spawn()
                    continue
                attempts[i] += 1
                w.index = i
            busy = [w for w in pool if w.index is not None]
            if not busy:  # every send found a dead worker: the replacements take the items
                continue
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            for k, w in enumerate(pool):
                if w.index is None or not (w.conn in ready or w.process.sentinel in ready):
                    continue
                i, w.index = w.index, None
                try:
                    index, ok, payload = w.conn.recv()
                except (EOFError, OSError):  # the worker died mid-item: a new one takes its place
                    reason = _died(w.process)
                    w.conn.close()
                    pool[k] = spawn()
                    if attempts[i] > retries:
                        yield Outcome(items[i], None, f"worker died ({reason}) after {attempts[i]} attempts",
                                      attempts[i])
                    else:
                        queue.append(i)
                    continue
                assert index == i
                yield Outcome(items[i], payload if ok else None, None if ok else payload, attempts[i])
    finally:  # idle workers are told to stop; busy ones (an interrupt, or the caller stopped reading) are ended
        for w in pool:
            if w.index is not None:
                w.process.terminate()
            with contextlib.suppress(OSError):
                w.conn.send(None)
        for w in pool:
            w.process.join(timeout=10)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.conn.close()
