"""Configuration: one typed ``Settings`` object, loaded once, passed to every command.

In: defaults, then the TOML file named by ``--config`` or ``SEARCHSVC_CONFIG`` (keys at the
top level or under ``[searchsvc]``), then ``SEARCHSVC_*`` environment variables, then the
command line's options (``Settings.override``).
Out: a frozen ``Settings``. A bad value raises ``ConfigError`` naming where it came from
and what the setting accepts, so a command fails at start, not halfway through.

Each setting is declared once, as a dataclass field whose metadata holds its environment
variable, parser and help text; the CLI's ``--help`` and the README's table use that text.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_ENV = "SEARCHSVC_CONFIG"


class ConfigError(ValueError):
    """A setting has a value the service cannot use."""


def _int(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("not a whole number")
        number = int(str(value).strip())
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return parse


def _float(low: float, high: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError("not a number")
        number = float(str(value).strip())
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return parse


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    return value


def _path(value: Any) -> Path:
    if isinstance(value, Path):
        return value
    text = _text(value).strip()
    if not text:
        raise ValueError("must name a directory")
    return Path(text)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false")


def _token(value: Any) -> str:
    token = _text(value).strip()
    if token and len(token) < 16:
        raise ValueError("must be at least 16 characters (or empty to turn the endpoint off)")
    return token


def _level(value: Any) -> str:
    level = _text(value).strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
    return level


def _rate(value: Any) -> str:
    rate = _text(value).strip()
    if rate:
        from limits import parse_many

        parse_many(rate)  # raises ValueError on e.g. "lots per hour"
    return rate


def _backend(value: Any) -> str:
    from .backends import validate_url

    return validate_url(_text(value))


def _setting(env: str, default: Any, parse: Callable[[Any], Any], help: str) -> Any:
    """A dataclass field that knows its environment variable, parser and help text."""
    return field(default=default, metadata={"env": env, "parse": parse, "help": help})


@dataclass(frozen=True)
class Settings:
    """Every setting of the service (see the README's configuration table)."""

    index_dir: Path = _setting("SEARCHSVC_INDEX", Path("index"), _path, "index directory")
    seeds_dir: Path = _setting(
        "SEARCHSVC_SEEDS", Path("seeds"), _path,
        "article sources (.txt/.md pages, .jsonl feeds); also where admin updates read",
    )
    backend: str = _setting(
        "SEARCHSVC_BACKEND", "", _backend,
        "where the paragraphs live: empty for the embedded index, or a SphinxQL engine as "
        "sphinxql://HOST:PORT/TABLE (Manticore or Sphinx; see `searchsvc sphinx start`)",
    )
    follow_symlinks: bool = _setting(
        "SEARCHSVC_FOLLOW_SYMLINKS", False, _bool,
        "index symbolic links in the sources that point outside the sources directory",
    )
    host: str = _setting("SEARCHSVC_HOST", "127.0.0.1", _text, "listen address of `serve`")
    port: int = _setting("SEARCHSVC_PORT", 8000, _int(1, 65535), "listen port of `serve`")
    workers: int = _setting(
        "SEARCHSVC_WORKERS", min(os.cpu_count() or 1, 4), _int(1, 64),
        "worker processes of `serve` (threads share one core; processes use them all)",
    )
    threads: int = _setting(
        "SEARCHSVC_THREADS", 8, _int(1, 256), "threads per worker process"
    )
    request_timeout: int = _setting(
        "SEARCHSVC_REQUEST_TIMEOUT", 30, _int(1, 3600),
        "seconds a worker process may go without reporting to the server's master before "
        "it is killed and replaced (a hung process; requests run in threads, a slow one "
        "alone does not trigger it)",
    )
    idle_timeout: int = _setting(
        "SEARCHSVC_IDLE_TIMEOUT", 15, _int(1, 3600),
        "seconds a connection may stay open without a complete request (after it opened, "
        "or after its previous answer) before the server closes it",
    )
    max_connections: int = _setting(
        "SEARCHSVC_MAX_CONNECTIONS", 1000, _int(10, 100_000),
        "open connections per worker process (idle ones included); more wait to be accepted",
    )
    graceful_timeout: int = _setting(
        "SEARCHSVC_GRACEFUL_TIMEOUT", 10, _int(0, 3600),
        "seconds `serve` lets requests in flight finish after SIGTERM",
    )
    page_size: int = _setting(
        "SEARCHSVC_PAGE_SIZE", 10, _int(1, 100), "default results per page"
    )
    time_budget_ms: float = _setting(
        "SEARCHSVC_TIME_BUDGET_MS", 250.0, _float(1, 60_000),
        "matching time per query before a partial result",
    )
    reload_interval: float = _setting(
        "SEARCHSVC_RELOAD_INTERVAL", 1.0, _float(0.05, 600),
        "seconds between checks for a new index version",
    )
    admin_token: str = _setting(
        "SEARCHSVC_ADMIN_TOKEN", "", _token,
        "bearer token of /api/admin/update, at least 16 characters (empty: endpoint off)",
    )
    rate_limit: str = _setting(
        "SEARCHSVC_RATE_LIMIT", "", _rate,
        'per-client limit on searches (page and API), e.g. "120/minute" (empty: off)',
    )
    proxy_count: int = _setting(
        "SEARCHSVC_PROXY_COUNT", 0, _int(0, 10),
        "reverse proxies in front (trust that many X-Forwarded-For hops)",
    )
    log_level: str = _setting(
        "SEARCHSVC_LOG_LEVEL", "INFO", _level, "DEBUG, INFO, WARNING or ERROR"
    )
    # Not a setting: the TOML file these were read from (processes started by the server,
    # such as an admin-triggered update, are pointed at the same file).
    config_file: Path | None = field(default=None, compare=False)

    def override(self, **given: Any) -> Settings:
        """These settings with the command line's options applied (None: not given)."""
        changes: dict[str, Any] = {}
        for name, value in given.items():
            if value is None:
                continue
            spec = FIELDS[name]
            try:
                changes[name] = spec.metadata["parse"](value)
            except (ValueError, TypeError) as err:
                option = "--" + name.replace("_dir", "").replace("_", "-")
                raise ConfigError(f"{option}: {value!r} is not valid: {err}") from None
        return dataclasses.replace(self, **changes)


FIELDS: dict[str, dataclasses.Field[Any]] = {
    f.name: f for f in dataclasses.fields(Settings) if "env" in f.metadata
}


def setting_help(name: str) -> str:
    """The help text of a setting, with its environment variable (for ``--help``)."""
    text, env = FIELDS[name].metadata["help"], FIELDS[name].metadata["env"]
    return f"{text[:1].upper()}{text[1:]} [{env}]"


def load_settings(
    env: Mapping[str, str] | None = None, config_file: str | Path | None = None
) -> Settings:
    """Validated settings: defaults < TOML file (``config_file`` or ``SEARCHSVC_CONFIG``)
    < environment."""
    env = os.environ if env is None else env
    raw: dict[str, tuple[str, Any]] = {}
    path = config_file or env.get(CONFIG_ENV)
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as err:
            raise ConfigError(f"{CONFIG_ENV}: cannot read {path}: {err.strerror}") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{CONFIG_ENV}: {path} is not valid TOML: {err}") from None
        data = data.get("searchsvc", data)
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}")
        raw.update({k: (f"{path}: {k}", v) for k, v in data.items()})
    for name, spec in FIELDS.items():
        if spec.metadata["env"] in env:
            raw[name] = (spec.metadata["env"], env[spec.metadata["env"]])
    values: dict[str, Any] = {}
    for name, spec in FIELDS.items():
        if name not in raw:
            continue
        where, value = raw[name]
        try:
            values[name] = spec.metadata["parse"](value)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"{where}: {value!r} is not valid: {err}") from None
    return Settings(**values, config_file=Path(path).absolute() if path else None)
