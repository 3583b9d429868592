"""The functions' configuration as the suites and `make dev` write it: which
keys, derived from shared/src/config.rs through support.project, never
listed by hand.

    keys = settings.required_keys(["sessions", "inbound-call"])
    chosen = settings.choose(keys, values, extra=["PUBLIC_BASE_URL"])
    settings.as_ssm(chosen)   # {"number-pool": ("StringList", "+1...,+1..."), ...}
    settings.as_env(chosen)   # {"NUMBER_POOL": "+1...,+1...", ...}

`values` maps environment-variable names to the suite's test values; a list
value is a StringList in SSM (comma-joined in the environment), a secret key
(`secret: true` in config.rs) a SecureString. A key a function requires and
the suite has no value for fails with the key's name.
"""

from __future__ import annotations

from typing import Iterable

from support import project
from support.stack import StackError


def required_keys(binaries: Iterable[str]) -> list[project.ConfigKey]:
    """The keys any of `binaries` requires, in config.rs order."""
    wanted = set()
    for binary in binaries:
        required, _ = project.function_keys(binary)
        wanted.update(k.env for k in required)
    return [k for k in project.config_keys() if k.env in wanted]


def key(env: str) -> project.ConfigKey:
    """The key whose environment variable is `env`."""
    for k in project.config_keys():
        if k.env == env:
            return k
    raise StackError(f"shared/src/config.rs has no key with environment variable {env}")


def choose(
    keys: Iterable[project.ConfigKey], values: dict[str, object], extra: Iterable[str] = ()
) -> dict[project.ConfigKey, object]:
    """Each of `keys` and of the `extra` environment names with its value
    from `values`; fails naming every key without one."""
    chosen_keys = list(keys) + [key(env) for env in extra]
    missing = [k.env for k in chosen_keys if values.get(k.env) in (None, "", [])]
    if missing:
        raise StackError(
            "no value for configuration the functions require: " + ", ".join(missing)
            + " (shared/src/config.rs Function::required)"
        )
    return {k: values[k.env] for k in chosen_keys}


def _text(value: object) -> str:
    return ",".join(value) if isinstance(value, (list, tuple)) else str(value)


def as_ssm(chosen: dict[project.ConfigKey, object]) -> dict[str, tuple[str, str]]:
    """SSM name below the prefix -> (parameter type, value)."""
    out = {}
    for k, value in chosen.items():
        kind = "SecureString" if k.secret else "StringList" if isinstance(value, (list, tuple)) else "String"
        out[k.ssm] = (kind, _text(value))
    return out


def as_env(chosen: dict[project.ConfigKey, object]) -> dict[str, str]:
    """Environment variable -> value."""
    return {k.env: _text(value) for k, value in chosen.items()}
