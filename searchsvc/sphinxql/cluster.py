"""A local SphinxQL cluster for tests and small set-ups: N RT shards and a coordinator.

In: a directory, a number of shards, a table name. Out: searchd processes on free
127.0.0.1 ports, their configs, data, logs and PID files in the directory, and the backend
URL ``sphinxql://127.0.0.1:PORT/TABLE`` (the coordinator's SphinxQL port).

Layout (Sphinx 2.2 cannot CREATE TABLE: every table is declared up front)::

    DIR/shard-<n>.conf   one searchd per shard: RT tables <table>_blue_<n>, <table>_green_<n>
    DIR/shard-<n>-mirror-<m>.conf  with ``mirrors`` > 1: copies of shard n (same tables)
    DIR/coordinator.conf <table>_blue, <table>_green: distributed over the shards' tables
                         (``agent = 127.0.0.1:API_PORT[|MIRROR_API_PORT…]:<table>_<colour>_<n>``,
                         mirrors queried in turn), and
                         <table>_meta: one RT row holding the layout (below)
    DIR/<name>/          data; DIR/<name>.log, DIR/<name>.query.log, DIR/<name>.pid

Two table sets (blue and green) let a rebuild fill one while the other answers. Writes go
to the shards' own SphinxQL ports (Sphinx 2.2 cannot write through a distributed table):
the engine reads where they are from the layout row of ``<table>_meta`` (``engine``), so
the URL alone is enough. The production equivalent (Manticore on several hosts, mirrors for
queries per second) is documented in ``docs/manticore.conf.example``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pymysql

from ..processes import pid_alive
from .documents import BIGINT_ATTRS, FIELDS, STRING_ATTRS, UINT_ATTRS

SEARCHD = "searchd"
COLOURS = ("blue", "green")
LAYOUT_ROW = 1
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
# Small processes: the machine is shared. rt_mem_limit is per RT table (RAM chunk before
# it is flushed to a disk chunk).
RT_MEM_LIMIT = "64M"


class ClusterError(Exception):
    """The cluster cannot be started or stopped; the message says why."""


def searchd_binary() -> str | None:
    """The searchd found on PATH (or /usr/bin/searchd), None if there is none."""
    found = shutil.which(SEARCHD)
    if found:
        return found
    return "/usr/bin/searchd" if os.access("/usr/bin/searchd", os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rt_table(name: str, path: Path) -> str:
    lines = [f"index {name}", "{", "    type = rt", f"    path = {path}",
             f"    rt_mem_limit = {RT_MEM_LIMIT}",
             # Every token is ASCII (``documents``): hex code points.
             "    charset_table = 0..9, a..z",
             "    min_word_len = 1"]
    lines += [f"    rt_field = {f}" for f in FIELDS]
    lines += [f"    rt_attr_string = {a}" for a in STRING_ATTRS]
    lines += [f"    rt_attr_uint = {a}" for a in UINT_ATTRS]
    lines += [f"    rt_attr_bigint = {a}" for a in BIGINT_ATTRS]
    return "\n".join([*lines, "}", ""])


def _searchd_section(directory: Path, name: str, sql_port: int, api_port: int) -> str:
    return f"""searchd
{{
    listen = 127.0.0.1:{api_port}
    listen = 127.0.0.1:{sql_port}:mysql41
    log = {directory / name}.log
    query_log = {directory / name}.query.log
    pid_file = {directory / name}.pid
    binlog_path = {directory / name}
    workers = threads
    watchdog = 0
    max_packet_size = 32M
    read_timeout = 30
    client_timeout = 300
    seamless_rotate = 1
    # A shard that does not answer in time is reported (SHOW META warning) and the
    # answer is flagged partial, rather than waiting for ever.
    agent_connect_timeout = 1000
    agent_query_timeout = 10000
    # A mirror that fails is retried on another copy of its shard.
    agent_retry_count = 2
    agent_retry_delay = 50
}}
"""


def write_configs(
    directory: Path, shards: int, table: str, mirrors: int = 1
) -> tuple[dict[str, object], dict[str, str]]:
    """Write the configs; the layout (shards, their mirrors' SphinxQL addresses, tables)
    and the SphinxQL address of each process by name."""
    layout: dict[str, object] = {"table": table, "shards": []}
    processes: dict[str, str] = {}
    shard_apis: list[list[int]] = []
    for n in range(shards):
        apis, sqls = [], []
        for m in range(mirrors):
            # A mirror holds the same tables under the same names (the coordinator picks
            # one per query: replicas for queries per second; every one is written).
            name = f"shard-{n}" if m == 0 else f"shard-{n}-mirror-{m}"
            sql_port, api_port = _free_port(), _free_port()
            (directory / name).mkdir(parents=True, exist_ok=True)
            body = "".join(
                _rt_table(f"{table}_{c}_{n}", directory / name / f"{table}_{c}_{n}")
                for c in COLOURS
            )
            (directory / f"{name}.conf").write_text(
                body + _searchd_section(directory, name, sql_port, api_port), encoding="utf-8"
            )
            processes[name] = f"127.0.0.1:{sql_port}"
            apis.append(api_port)
            sqls.append(f"127.0.0.1:{sql_port}")
        shard_apis.append(apis)
        layout["shards"].append(  # type: ignore[attr-defined]
            {"sql": sqls, "tables": {c: f"{table}_{c}_{n}" for c in COLOURS}}
        )
    sql_port, api_port = _free_port(), _free_port()
    (directory / "coordinator").mkdir(parents=True, exist_ok=True)
    parts = []
    for colour in COLOURS:
        agents = "\n".join(
            f"    agent = {'|'.join(f'127.0.0.1:{api}' for api in apis)}:{table}_{colour}_{n}"
            for n, apis in enumerate(shard_apis)
        )
        parts.append(f"index {table}_{colour}\n{{\n    type = distributed\n{agents}\n"
                     "    ha_strategy = nodeads\n}\n")
    parts.append(
        f"index {table}_meta\n{{\n    type = rt\n"
        f"    path = {directory / 'coordinator' / (table + '_meta')}\n"
        "    rt_mem_limit = 8M\n    rt_field = note\n    rt_attr_string = value\n}\n"
    )
    parts.append(_searchd_section(directory, "coordinator", sql_port, api_port))
    (directory / "coordinator.conf").write_text("".join(parts), encoding="utf-8")
    layout["coordinator"] = processes["coordinator"] = f"127.0.0.1:{sql_port}"
    return layout, processes


def _names(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.conf"))


def _pid(directory: Path, name: str) -> int | None:
    try:
        return int((directory / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _connect(address: str, timeout: float = 2.0) -> pymysql.connections.Connection:
    host, port = address.rsplit(":", 1)
    return pymysql.connect(host=host, port=int(port), connect_timeout=timeout,
                           read_timeout=30, write_timeout=30, autocommit=True)


def _wait_answering(address: str, name: str, directory: Path, deadline: float) -> None:
    while True:
        try:
            _connect(address, 1.0).close()
            return
        except pymysql.err.OperationalError:
            pid = _pid(directory, name)
            if time.monotonic() > deadline or (pid is not None and not pid_alive(pid)):
                log = (directory / f"{name}.log").read_text(errors="replace")[-2000:]
                raise ClusterError(f"searchd {name} did not answer on {address}:\n{log}") from None
            time.sleep(0.1)


def running(directory: Path) -> list[int]:
    """The PIDs of this directory's searchd processes that are alive."""
    pids = (_pid(directory, name) for name in _names(directory))
    return [pid for pid in pids if pid is not None and pid_alive(pid)]


def start(directory: Path, shards: int, table: str = "searchsvc", mirrors: int = 1) -> str:
    """Write the configs, start ``mirrors`` searchd per shard and the coordinator, wait
    until each answers, store the layout; the backend URL."""
    if shards < 1 or mirrors < 1:
        raise ClusterError("shards and mirrors must be 1 or more")
    if not table.replace("_", "").isalnum() or not table.isascii() or not table[0].isalpha():
        raise ClusterError(f"table name {table!r}: use letters, digits and _ only")
    binary = searchd_binary()
    if binary is None:
        raise ClusterError("searchd not found: install sphinxsearch (apt-get install "
                           "sphinxsearch) or Manticore")
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if running(directory):
        raise ClusterError(f"searchd already runs in {directory}: `stop` it first")
    for old in directory.glob("*.conf"):
        old.unlink()
    layout, addresses = write_configs(directory, shards, table, mirrors)
    started: list[str] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT
        for name in addresses:
            result = subprocess.run(
                [binary, "--config", str(directory / f"{name}.conf")],
                capture_output=True, text=True, cwd=directory, timeout=START_TIMEOUT,
            )
            if result.returncode != 0:
                raise ClusterError(f"searchd {name} failed to start:\n{result.stdout[-2000:]}"
                                   f"{result.stderr[-2000:]}")
            started.append(name)
        for name, address in addresses.items():
            _wait_answering(address, name, directory, deadline)
        with _connect(str(layout["coordinator"])) as conn, conn.cursor() as cur:
            cur.execute(
                f"REPLACE INTO {table}_meta (id, note, value) VALUES (%s, 'layout', %s)",
                (LAYOUT_ROW, json.dumps(layout)),
            )
    except BaseException:
        if started:
            stop(directory)
        raise
    return f"sphinxql://{layout['coordinator']}/{table}"


def stop(directory: Path) -> None:
    """Stop this directory's searchd processes (SIGTERM, then wait; SIGKILL after
    STOP_TIMEOUT). Stopping a stopped cluster does nothing; a directory that never held
    one is an error."""
    directory = Path(directory).resolve()
    names = _names(directory)
    if not names:
        raise ClusterError(f"no searchd cluster in {directory} (no configs there)")
    pids = running(directory)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + STOP_TIMEOUT
    for pid in pids:
        while pid_alive(pid):
            if time.monotonic() > deadline:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                deadline = time.monotonic() + 5
            time.sleep(0.05)
