"""Settings, each defined once: a dataclass field that carries its flag, variable, help and default.

A settings class (GatewaySettings, WorkerSettings, the CLI's own) declares every knob an operator can
turn as `name: type = setting(Setting(...))`. From that one declaration come the command-line flag,
the REELMILL_* environment variable, the strict parsing of both, the --help line and the settings
table of docs/operations.md (cli/settings_doc.py). A flag wins over its variable, the variable over
the default.

Parsing is strict, so a typo stops start-up with the setting's name instead of being read as
something else: booleans accept only true/false/1/0/yes/no (REELMILL_OPEN=false must never open the
gateway), numbers must be finite and in range, choices must be one of theirs.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

PREFIX = "REELMILL_"
_KEY = "reelmill.setting"
TRUE = frozenset({"1", "true", "yes"})
FALSE = frozenset({"0", "false", "no", ""})


class SettingError(ValueError):
    """A value that is not what its setting accepts; the message starts with where it came from."""


@dataclass(frozen=True)
class Setting:
    """What an operator sees of one setting; the field it is attached to gives its type and name."""

    env: str  # the variable without REELMILL_, e.g. "NATS_URL"
    help: str
    default: Any = None  # None: the field's own default
    flag: str | None = ""  # "": --env-name-in-kebab-case; None: environment only (secrets)
    minimum: float | None = None  # numbers outside [minimum, maximum] are refused (ports, counts, seconds)
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False  # kept out of repr() and logs
    shown: str = ""  # the default as --help and the docs say it, where the CLI works it out (DATA_DIR/…)

    @property
    def variable(self) -> str:
        return PREFIX + self.env

    @property
    def option(self) -> str | None:
        if self.flag is None:
            return None
        return self.flag or "--" + self.env.lower().replace("_", "-")

    @property
    def dest(self) -> str:
        return self.env.lower()


def setting(spec: Setting, default: Any = None) -> Any:
    """A dataclass field for `spec`. The default is the spec's (shared settings) or given here."""
    value = spec.default if default is None else default  # immutable (str, number, bool, tuple)
    return dataclasses.field(default=value, metadata={_KEY: spec}, repr=not spec.secret)


@dataclass(frozen=True)
class Knob:
    """One setting of a settings class, as the parser and the docs need it."""

    field: str
    spec: Setting
    kind: type
    default: Any

    def shown_default(self) -> str:
        if self.spec.shown:
            return self.spec.shown
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, tuple):
            return os.pathsep.join(self.default)
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return str(self.default)


def knobs(cls: type) -> Iterator[Knob]:
    """The settings of a settings dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(_KEY)
        if spec is None:
            continue
        kind = hints[f.name]
        yield Knob(f.name, spec, typing.get_origin(kind) or kind, f.default)


def parse(knob: Knob, raw: str, source: str) -> Any:
    """`raw` as the setting's type, or SettingError naming `source` (the variable or the flag)."""
    spec = knob.spec
    text = raw.strip()
    if knob.kind is bool:
        low = text.lower()
        if low in TRUE:
            return True
        if low in FALSE:
            return False
        raise SettingError(f"{source}={raw!r}: must be one of true, false, 1, 0, yes, no")
    if knob.kind in (int, float):
        try:
            number: float = int(text) if knob.kind is int else float(text)
        except ValueError:
            what = "an integer" if knob.kind is int else "a number"
            raise SettingError(f"{source}={raw!r}: must be {what}") from None
        if not math.isfinite(number):
            raise SettingError(f"{source}={raw!r}: must be a finite number")
        if spec.minimum is not None and number < spec.minimum:
            raise SettingError(f"{source}={raw!r}: must be at least {spec.minimum:g}")
        if spec.maximum is not None and number > spec.maximum:
            raise SettingError(f"{source}={raw!r}: must be at most {spec.maximum:g}")
        return number
    if knob.kind is tuple:
        return tuple(part for part in raw.split(os.pathsep) if part)
    if spec.choices:
        for choice in spec.choices:
            if choice.lower() == text.lower():
                return choice
        raise SettingError(f"{source}={raw!r}: must be one of {', '.join(spec.choices)}")
    return raw


def add_options(parser: argparse.ArgumentParser, *classes: type) -> None:
    """Flags for every setting of `classes`; a flag two classes share (--nats-url) is added once."""
    present = {opt for action in parser._actions for opt in action.option_strings}  # no public accessor
    for cls in classes:
        for knob in knobs(cls):
            option = knob.spec.option
            if option is None or option in present:
                continue
            present.add(option)
            help = (
                f"{knob.spec.help} [env {knob.spec.variable}; default: {knob.shown_default() or '(empty)'}]"
            )
            # Values stay text here and are parsed in one place (values()), so a flag and its variable
            # are held to the same rule; argparse only collects them.
            if knob.kind is bool:
                parser.add_argument(option, dest=knob.spec.dest, action="store_const", const="true",
                                    default=None, help=help.replace("%", "%%"))  # fmt: skip
            else:
                parser.add_argument(option, dest=knob.spec.dest, default=None, metavar=knob.spec.env,
                                    help=help.replace("%", "%%"))  # fmt: skip


def values(
    cls: type, args: argparse.Namespace | None = None, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The settings of `cls` that a flag or a variable gives, parsed; unset ones are left out."""
    env = os.environ if env is None else env
    found: dict[str, Any] = {}
    for knob in knobs(cls):
        given = getattr(args, knob.spec.dest, None) if args is not None and knob.spec.option else None
        if given is not None:
            found[knob.field] = parse(knob, given, knob.spec.option or knob.spec.variable)
        elif knob.spec.variable in env:
            found[knob.field] = parse(knob, env[knob.spec.variable], knob.spec.variable)
    return found


def build(cls: type, args: argparse.Namespace | None = None, *, fill: Mapping[str, Any] | None = None,
          env: Mapping[str, str] | None = None) -> Any:  # fmt: skip
    """An instance of `cls` from flags, then variables, then `fill` (defaults the CLI works out, such
    as paths under DATA_DIR), then the class's defaults. SettingError names a bad value's source."""
    given = values(cls, args, env)
    for name, value in (fill or {}).items():
        if not given.get(name):
            given[name] = value
    return cls(**given)


# Settings the gateway and the worker share: one definition each, so `reelmill dev` has one flag for both.
NATS_URL = Setting("NATS_URL", "NATS server URL", "nats://127.0.0.1:4222")
OUTPUT_DIR = Setting("OUTPUT_DIR", "folder for outputs", ".reelmill/outputs", shown="DATA_DIR/outputs")
MEDIA_ROOTS = Setting("MEDIA_ROOTS", f"folders file:// media may come from, '{os.pathsep}'-separated", ())
# s3:// outputs: the workers write them, the console presigns links to them.
S3_ENDPOINT_URL = Setting("S3_ENDPOINT_URL", "S3 endpoint for s3:// outputs (default: AWS)", "")
S3_REGION = Setting("S3_REGION", "S3 region for s3:// outputs", "")
# Credentials only from the environment, never from flags (they would show in `ps`).
S3_ACCESS_KEY_ID = Setting("S3_ACCESS_KEY_ID", "access key id for s3:// outputs", "", flag=None, secret=True)
S3_SECRET_ACCESS_KEY = Setting(
    "S3_SECRET_ACCESS_KEY", "secret access key for s3:// outputs", "", flag=None, secret=True
)
METRICS_PORT = Setting("METRICS_PORT", "HTTP port of /metrics and /healthz (0: off)", 0, minimum=0)
METRICS_HOST = Setting(
    "METRICS_HOST",
    "interface of /metrics and /healthz (empty: a gateway's --listen host, a worker's all)",
    "",
)


def environment(settings: Any) -> dict[str, str]:
    """The REELMILL_* variables that give a process the same `settings` (how `reelmill dev` hands its
    flags to the gateway and the worker it starts: in the environment, so no secret shows in `ps`)."""
    out = {}
    for knob in knobs(type(settings)):
        value = getattr(settings, knob.field)
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, tuple):
            text = os.pathsep.join(value)
        else:
            text = str(value)
        out[knob.spec.variable] = text
    return out
