"""Command-line commands generated from the run configs: every config field of a family is a flag of its `train`.

A field `train.lr` becomes `--lr`, `train.warmup_steps` `--warmup-steps`; a name two sections share is prefixed
with its section (`--source-seed`); a family renames the flags its users know by another name (`--model` for
`model.kind`). Help texts are the fields' descriptions and defaults are the configs' own, never restated. Lists are
comma-separated (`--feature-probability 1,0.1,0.01`), booleans are `--flag/--no-flag`. `--config FILE` starts from a
config file (any run's config.json), and the flags given beside it override it.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional, Union

import typer
from pydantic import BaseModel

from .config import RunConfigBase, parse_run_config, read_json, validate
from .errors import ConfigError

# The commands are built from the config classes alone (torch-free), so `--help` starts fast; a family's module (and
# torch with it) is imported only when a command runs.
Config = type[RunConfigBase]

# Fields no command line sets: what the family is, and the format it was written in.
FIXED = frozenset({"family", "format_version"})


@dataclass(frozen=True)
class Flag:
    """One config field on the command line."""

    path: tuple[str, ...]  # ("train", "lr")
    name: str  # "--lr"
    annotation: Any
    help: str

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    @property
    def param(self) -> str:
        return "f_" + "__".join(self.path)


def _unwrap(annotation: Any) -> tuple[Any, ...]:
    """The alternatives of an annotation, None dropped (`float | None` -> (float,))."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return tuple(a for a in typing.get_args(annotation) if a is not type(None))
    return (annotation,)


def _is_bool(annotation: Any) -> bool:
    return _unwrap(annotation) == (bool,)


def _is_list(annotation: Any) -> bool:
    return any(typing.get_origin(a) in (list, tuple) for a in _unwrap(annotation))


def _metavar(annotation: Any) -> str:
    options = _unwrap(annotation)
    if len(options) == 1 and typing.get_origin(options[0]) is Literal:
        return "[" + "|".join(map(str, typing.get_args(options[0]))) + "]"
    if _is_list(annotation):
        return "X,Y,..."
    return {int: "INT", float: "FLOAT", str: "TEXT"}.get(options[0], "VALUE")


def _sections(config: type[BaseModel]) -> list[tuple[str, type[BaseModel]]]:
    """The config's sections: its fields that are themselves models (data, model, train, source)."""
    out = []
    for name, field in config.model_fields.items():
        if name in FIXED:
            continue
        (kind,) = _unwrap(field.annotation)[:1] or (None,)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            out.append((name, kind))
    return sorted(out, key=lambda section: section[0] == "train")  # what is trained first, how last


def shell_command(config: Config, verb: str) -> str:
    """The shell command that does `verb` for the config's family, e.g. 'superposition modadd train'."""
    group = config.command_line.command
    return " ".join(["superposition", *([group] if group else []), verb])


def flags(config: Config) -> list[Flag]:
    """Every settable field of a family's config class, as a flag."""
    fields = []
    for section, model in _sections(config):
        for name, field in model.model_fields.items():
            path = f"{section}.{name}"
            if path in config.command_line.hidden:
                continue
            fields.append((section, name, field))
    counts: dict[str, int] = {}
    for _, name, _ in fields:
        counts[name] = counts.get(name, 0) + 1
    out = []
    for section, name, field in fields:
        path = f"{section}.{name}"
        # A name two sections share keeps its plain form in `train` (`--seed`) and is prefixed elsewhere.
        plain = counts[name] == 1 or section == "train"
        default = "--" + (name if plain else f"{section}_{name}").replace("_", "-")
        help_text = field.description or ""
        if not field.is_required():
            shown = field.get_default(call_default_factory=True)
            help_text += f" (default: {shown if shown is not None else 'unset'})"
        out.append(Flag((section, name), config.command_line.flags.get(path, default), field.annotation, help_text))
    return out


def _value(flag: Flag, text: Any) -> Any:
    """A flag's command-line value as the config wants it: lists split at commas (numbers checked here, so the
    error names the flag); everything else passed on for the config to validate and name the field."""
    if not _is_list(flag.annotation) or not isinstance(text, str):
        return text
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ConfigError(f"{flag.name} is empty")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(f"{flag.name} must be comma-separated numbers, got {text!r}") from None
    scalar_too = float in _unwrap(flag.annotation)  # `l1`: one number, or one per instance
    return values[0] if scalar_too and len(values) == 1 else values


def build_config(config: Config, config_file: Path | None, given: dict[Flag, Any], extras: dict[str, Any]) -> Any:
    """The config a `train` command describes: the config file (or nothing), with every flag given laid over it,
    then the family's own preparation of its extra arguments; validated once, by the config class."""
    base: dict[str, Any] = {}
    if config_file is not None:
        raw = read_json(config_file)
        actual = type(parse_run_config(raw))  # the file must be a valid config by itself
        if actual is not config:
            raise ConfigError(f"{config_file} is a {raw.get('family', 'toy')} config; train it with "
                              f"`{shell_command(actual, 'train')}`")
        base = raw
    for flag, value in given.items():
        section, name = flag.path
        if not isinstance(base.get(section, {}), dict):
            raise ConfigError(f"invalid config: {section}: Input should be an object")
        base = {**base, section: {**base.get(section, {}), name: _value(flag, value)}}
    for one, other in config.command_line.exclusive:  # a flag beats the other form of the same setting in the file
        given_paths = {f.dotted for f in given}
        for a, b in ((one, other), (other, one)):
            if a in given_paths and b not in given_paths:
                section, name = b.split(".")
                base[section] = {k: v for k, v in base.get(section, {}).items() if k != name}
    from .families import family_of  # the command runs: now the family's module may be imported

    family = config.model_fields["family"].default
    prepare = family_of(family).cli.prepare
    base = base if prepare is None else prepare(base, extras)
    return validate(config, {**base, "family": family})


def _parameter(name: str, default: Any, annotation: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def train_command(config_class: Config, run: Callable[[Any, Path, bool, bool, bool], None]) -> Callable[..., None]:
    """`train` for a family's config class: builds the config from the flags and hands it to `run(config, out,
    overwrite, quiet, as_json)`."""
    all_flags = flags(config_class)
    spec = config_class.command_line
    params = [
        _parameter("out", typer.Option(None, "--out", help="Run directory to write (required unless --print-config)."),
                   Optional[Path]),
        _parameter("config", typer.Option(None, "--config", help="A JSON run config (any run's config.json); "
                                          "flags override it."), Optional[Path]),
    ]
    for extra in spec.extras:
        if extra.argument:
            params.append(_parameter(extra.name, typer.Argument(None, help=extra.help, metavar=extra.flag),
                                     Optional[extra.kind]))
        else:
            default = False if extra.kind is bool else None
            params.append(_parameter(extra.name, typer.Option(default, extra.flag, help=extra.help),
                                     extra.kind if extra.kind is bool else Optional[extra.kind]))
    for flag in all_flags:
        if _is_bool(flag.annotation):
            names = flag.name if "/" in flag.name else f"{flag.name}/--no-{flag.name.removeprefix('--')}"
            opt = typer.Option(None, names, help=flag.help)
            params.append(_parameter(flag.param, opt, Optional[bool]))
        else:
            opt = typer.Option(None, flag.name, help=flag.help, metavar=_metavar(flag.annotation))
            params.append(_parameter(flag.param, opt, Optional[str]))
    params += [
        _parameter("overwrite", typer.Option(False, "--overwrite", help="Replace an existing run directory."), bool),
        _parameter("quiet", typer.Option(False, "--quiet", help="No progress bar."), bool),
        _parameter("as_json", typer.Option(False, "--json", help="Print the result as JSON."), bool),
        _parameter("print_config", typer.Option(False, "--print-config",
                                                help="Print the config these flags give, and train nothing."), bool),
    ]
    by_param = {f.param: f for f in all_flags}
    extra_names = {e.name for e in spec.extras}

    def command(**kwargs: Any) -> None:
        given = {by_param[k]: v for k, v in kwargs.items() if k in by_param and v is not None}
        extras = {k: kwargs[k] for k in extra_names}
        config = build_config(config_class, kwargs["config"], given, extras)
        if kwargs["print_config"]:
            typer.echo(config.to_json())
            return
        if kwargs["out"] is None:
            raise ConfigError("missing option --out: the run directory to write")
        run(config, kwargs["out"], kwargs["overwrite"], kwargs["quiet"], kwargs["as_json"])

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = f"Train a run and save its directory. {spec.help}"
    command.__name__ = "train"
    return command


def analyze_command(config_class: Config, show: Callable[[Config, Path, bool], None]) -> Callable[..., None]:
    """`analyze` for a family's config class: `show(config_class, run_dir, as_json)` prints the family's document
    or tables."""
    name = config_class.model_fields["family"].default

    def command(
        run_dir: Path = typer.Argument(..., help=f"A {name} run directory."),
        as_json: bool = typer.Option(False, "--json", help="Print the analysis as JSON."),
    ) -> None:
        show(config_class, run_dir, as_json)

    command.__doc__ = f"Measure a saved run, instance by instance. {config_class.command_line.help}"
    command.__name__ = "analyze"
    return command
