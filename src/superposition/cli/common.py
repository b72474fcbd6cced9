"""What every command shares: one-line errors, JSON output and rich tables."""

from __future__ import annotations

import functools
import json
import math
from typing import Any, Callable

import typer

from ..errors import SuperpositionError


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def one_line_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Turn the errors a user can fix (bad values, missing or unwritable files) into one line and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except SuperpositionError as e:
            fail(str(e))
        except OSError as e:
            fail(f"{e.strerror or e}{f': {e.filename}' if e.filename else ''}")
        except MemoryError:
            fail("out of memory: the run does not fit on this machine; reduce the sizes")

    return wrapper


def json_safe(value: Any) -> Any:
    """NaN and infinity are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def echo_json(value: Any) -> None:
    typer.echo(json.dumps(json_safe(value), indent=2))


def print_tables(tables: list) -> None:
    """Rich tables of rows; columns whose key the rows lack are left out."""
    from rich.console import Console
    from rich.table import Table as RichTable

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped output: wide enough that each row stays on one line
    for t in tables:
        columns = [c for c in t.columns if t.rows and c[1] in t.rows[0]]
        table = RichTable(title=t.title)
        for heading, _, _ in columns:
            table.add_column(heading)
        for row in t.rows:
            table.add_row(*("" if row[key] is None else fmt.format(row[key]) for _, key, fmt in columns))
        console.print(table)
