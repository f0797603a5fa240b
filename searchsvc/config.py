"""Configuration: defaults, then a TOML file, then ``SEARCHSVC_*`` environment variables.

In: the environment (and the TOML file named by ``SEARCHSVC_CONFIG``, if any).
Out: a dict of validated settings, keyed by the names in ``SETTINGS``. A bad value raises
``ConfigError`` naming the setting and what it accepts, so a server fails at start, not
on its first request.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting has a value the service cannot use."""


@dataclass(frozen=True)
class Setting:
    name: str  # key in the TOML file and in the result
    env: str
    default: Any
    parse: Callable[[Any], Any]
    help: str


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
        number = float(str(value).strip())
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return parse


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    return value


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


SETTINGS: tuple[Setting, ...] = (
    Setting("index_dir", "SEARCHSVC_INDEX", "index", _text, "index directory"),
    Setting("seeds_dir", "SEARCHSVC_SEEDS", "seeds", _text, "article sources directory"),
    Setting("host", "SEARCHSVC_HOST", "127.0.0.1", _text, "listen address of `serve`"),
    Setting("port", "SEARCHSVC_PORT", 8000, _int(1, 65535), "listen port of `serve`"),
    Setting("workers", "SEARCHSVC_WORKERS", min(os.cpu_count() or 1, 4), _int(1, 64),
            "worker processes of `serve` (threads share one core; processes use them all)"),
    Setting("threads", "SEARCHSVC_THREADS", 8, _int(1, 256), "threads per worker process"),
    Setting("request_timeout", "SEARCHSVC_REQUEST_TIMEOUT", 30, _int(1, 3600),
            "seconds an idle or slow client connection may take"),
    Setting("page_size", "SEARCHSVC_PAGE_SIZE", 10, _int(1, 100), "default results per page"),
    Setting("time_budget_ms", "SEARCHSVC_TIME_BUDGET_MS", 250.0, _float(1, 60_000),
            "matching time per query before a partial result"),
    Setting("reload_interval", "SEARCHSVC_RELOAD_INTERVAL", 1.0, _float(0.05, 600),
            "seconds between checks for a new index version"),
    Setting("admin_token", "SEARCHSVC_ADMIN_TOKEN", "", _token,
            "bearer token of /api/admin/update (empty: endpoint off)"),
    Setting("rate_limit", "SEARCHSVC_RATE_LIMIT", "", _rate,
            'per-client API limit, e.g. "120/minute" (empty: off)'),
    Setting("proxy_count", "SEARCHSVC_PROXY_COUNT", 0, _int(0, 10),
            "reverse proxies in front (trust that many X-Forwarded-For hops)"),
    Setting("log_level", "SEARCHSVC_LOG_LEVEL", "INFO", _level, "log level"),
)


def load_settings(
    env: Mapping[str, str] | None = None, config_file: str | Path | None = None
) -> dict[str, Any]:
    """Validated settings: defaults < TOML file (``SEARCHSVC_CONFIG``) < environment."""
    env = os.environ if env is None else env
    raw: dict[str, tuple[str, Any]] = {}
    path = config_file or env.get("SEARCHSVC_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as err:
            raise ConfigError(f"SEARCHSVC_CONFIG: cannot read {path}: {err.strerror}") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"SEARCHSVC_CONFIG: {path} is not valid TOML: {err}") from None
        data = data.get("searchsvc", data)
        known = {s.name for s in SETTINGS}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}")
        raw.update({k: (f"{path}: {k}", v) for k, v in data.items()})
    for s in SETTINGS:
        if s.env in env:
            raw[s.name] = (s.env, env[s.env])
    settings: dict[str, Any] = {}
    for s in SETTINGS:
        where, value = raw.get(s.name, (s.env, s.default))
        try:
            settings[s.name] = s.parse(value)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"{where}: {value!r} is not valid: {err}") from None
    return settings
