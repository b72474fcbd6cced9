"""Writing files so that a reader never sees half of one, and never touching a file the project did not write.

- `atomic_write_text`: write beside the target and rename into place; a crash leaves the old file (or none).
- `check_output_file`: validate a file the project is about to write, before any compute is spent: its parent must
  be (or become) a writable directory; an existing file is replaced only with `overwrite` and only when the project
  wrote it (it carries `GENERATOR`).
- `dir_lock`: an advisory lock on a directory (flock), held around the moment a check guards a write.
- `creation_mode`: the permission bits the user's umask gives new files and directories.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import OutputError

try:  # POSIX advisory locks; elsewhere the locks are no-ops
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

# Every HTML page the project writes carries this tag; `--overwrite` replaces only files that do.
GENERATOR = '<meta name="generator" content="superposition">'


def creation_mode(directory: bool = False) -> int:
    """0o777 (directories) or 0o666 (files) less the process's umask, as `open`/`mkdir` would give them."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def fsync_dir(path: str | Path) -> None:
    """Flush a directory's entries (a rename inside it) to disk; a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def dir_lock(path: str | Path, *, shared: bool = False, blocking: bool = True) -> Iterator[bool]:
    """Hold flock on directory `path` for the block; yields whether the lock was taken (False where locks are
    unavailable, or, with blocking=False, held by someone else). The kernel drops the lock if the process dies."""
    if fcntl is None:
        yield False
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(fd, flags)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                yield False
                return
            if e.errno in (errno.ENOLCK, errno.EINVAL, errno.EOPNOTSUPP):  # file systems without flock
                yield False
                return
            raise
        yield True
    finally:
        os.close(fd)


def is_working_directory_or_parent(path: str | Path) -> bool:
    """Whether `path` is the working directory or one of its parents (never a valid output)."""
    target = Path(path).resolve()
    cwd = Path.cwd().resolve()
    return target == cwd or target in cwd.parents


def check_parent(path: Path) -> None:
    """The nearest existing ancestor of `path` must be a writable directory (missing ones are created later)."""
    parent = path.parent
    while not parent.exists():
        if parent.is_symlink():
            raise OutputError(f"cannot write {path}: {parent} is a broken symbolic link")
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: the directory {parent} is not writable")


def written_by_us(path: str | Path) -> bool:
    """Whether the file at `path` is an HTML page this project wrote (it carries GENERATOR near its top)."""
    try:
        with open(path, "rb") as f:
            return GENERATOR.encode() in f.read(4096)
    except OSError:
        return False


def check_output_file(path: str | Path, *, overwrite: bool, flag: str = "--out") -> Path:
    """Validate a file about to be written (before any compute): not a directory or a link; an existing file only
    with `overwrite`, and only when this project wrote it. Raises OutputError with a one-line message."""
    path = Path(path)
    if path.is_symlink():
        raise OutputError(f"{flag} {path} is a symbolic link; give the file itself")
    if path.is_dir():
        raise OutputError(f"{flag} {path} is a directory; give a file name")
    if path.exists():
        if not overwrite:
            raise OutputError(f"{path} already exists; pass --overwrite to replace it")
        if not written_by_us(path):
            raise OutputError(f"{path} was not written by superposition; refusing to replace it")
    check_parent(path)
    return path


def check_output_dir(out: str | Path, *, what: str, ours: Callable[[Path], bool], overwrite: bool | None = None) -> Path:
    """Validate a directory about to be written (before any compute): never the working directory or one of its
    parents, a link or a file; an existing non-empty directory only when `ours(out)` says this project wrote it as
    `what` (e.g. "a superposition report"), and, where `overwrite` is given, only with it. Raises OutputError."""
    out = Path(out)
    if str(out) in ("", ".") or is_working_directory_or_parent(out):
        raise OutputError(f"refusing to write {what} into {out}: it is the working directory or one of its parents; "
                          "give a directory of its own")
    if out.is_symlink():
        raise OutputError(f"--out {out} is a symbolic link; give the directory itself")
    if out.exists():
        if not out.is_dir():
            raise OutputError(f"--out {out} exists and is not a directory")
        if any(out.iterdir()):
            if overwrite is False:
                raise OutputError(f"{out} already exists; pass --overwrite to replace {what}")
            if not ours(out):
                raise OutputError(f"--out {out} holds files that are not {what}; give a new directory")
    check_parent(out)
    return out


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) beside `path` and rename it into place; a crash leaves the old file (or none)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` beside `path` and rename it into place; a crash leaves the old file (or none)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, creation_mode())  # mkstemp makes it private; these files are meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path
