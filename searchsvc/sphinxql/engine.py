"""A SphinxQL engine (Manticore ≥ 7, Sphinx 2.2) holding the service's paragraphs: its
layout, connections, writes and statistics.

In: a backend URL ``sphinxql://HOST:PORT/TABLE`` (the coordinator's SphinxQL port and the
table prefix) and ``corpus.Article`` records to write into a table set (``blue`` or
``green``). Out: the rows on the shards, the table set's statistics, and readers
(``SphinxEngine.reader``, in ``reader``) that answer as the embedded engine does.

Writes go straight to the shards' RT tables (``documents.shard_of``: by article id), to
every mirror of a shard in turn; the shards' addresses and table names are read from the
layout row of ``<TABLE>_meta`` on the coordinator, written by ``cluster.start`` (or by hand
in production: ``docs/manticore.conf.example``). Rows already stored under a new row's id
must be the same paragraph (``documents.RowIdCollision`` otherwise, before the batch is
written).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pymysql

from ..corpus import Article
from . import documents as docs
from .documents import (
    COLUMNS,
    RowIdCollision,
    article_key,
    article_rows,
    shard_of,
)

if TYPE_CHECKING:
    from .reader import SphinxReader

log = logging.getLogger(__name__)

SCHEME = "sphinxql"
TABLE_SETS = ("blue", "green")
LAYOUT_ROW = 1
WRITE_BATCH = 200  # rows per multi-row REPLACE
STATS_ROW = {"blue": 2, "green": 3}  # rows of <table>_meta holding a table set's counts


class EngineError(Exception):
    """The SphinxQL backend cannot be reached or answered with an error; says which."""


@dataclass(frozen=True)
class Shard:
    addresses: tuple[str, ...]  # HOST:PORT of its SphinxQL listener, one per mirror
    tables: dict[str, str]  # table set → RT table name


@dataclass(frozen=True)
class Layout:
    table: str
    coordinators: tuple[str, ...]  # every coordinator's SphinxQL address (statistics rows)
    shards: tuple[Shard, ...]


@dataclass(frozen=True)
class Statistics:
    """A table set's paragraph count and lengths (UTF-16 code units), for BM25."""

    documents: int
    text_units: int
    context_units: int


@dataclass(frozen=True)
class WriteSummary:
    rows: int
    articles: int
    deleted: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def parse_url(url: str) -> tuple[str, str]:
    """``sphinxql://HOST:PORT/TABLE`` → (``HOST:PORT``, ``TABLE``); ValueError if not."""
    parts = urlsplit(url)
    table = parts.path.strip("/")
    if parts.scheme != SCHEME or not parts.hostname or not parts.port or not table:
        raise ValueError(f"backend URL {url!r}: expected {SCHEME}://HOST:PORT/TABLE")
    if not table.replace("_", "").isalnum() or not table.isascii():
        raise ValueError(f"backend URL {url!r}: the table name may hold letters, digits, _")
    return f"{parts.hostname}:{parts.port}", table


class _Connections:
    """One connection per thread and address (pymysql connections are not thread-safe)."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._local = threading.local()

    def get(self, address: str) -> pymysql.connections.Connection:
        pool: dict[str, pymysql.connections.Connection] = self._local.__dict__.setdefault(
            "pool", {}
        )
        conn = pool.get(address)
        if conn is None or not conn.open:
            host, port = address.rsplit(":", 1)
            try:
                conn = pymysql.connect(
                    host=host, port=int(port), connect_timeout=self.timeout,
                    read_timeout=60, write_timeout=60, autocommit=True, charset="utf8",
                    # A query and its SHOW META in one round trip.
                    client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS,
                )
            except pymysql.err.OperationalError as exc:
                raise EngineError(f"SphinxQL backend {address} does not answer: {exc}") from exc
            pool[address] = conn
        return conn

    def drop(self, address: str) -> None:
        pool = self._local.__dict__.get("pool", {})
        conn = pool.pop(address, None)
        if conn is not None:
            try:
                conn.close()
            except pymysql.err.Error:
                pass


class SphinxEngine:
    """A SphinxQL backend: its layout, writes to its shards, readers per table set."""

    def __init__(self, url: str, timeout: float = 5.0, reader_max_age: float = 1.0):
        self.url = url
        self.coordinator, self.table = parse_url(url)
        self.reader_max_age = reader_max_age
        self._connections = _Connections(timeout)
        self._layout: Layout | None = None
        self._readers: dict[str, tuple[float, SphinxReader]] = {}

    # --- plumbing ----------------------------------------------------------------

    def execute(
        self, address: str, sql: str, args: Sequence[object] | None = None, meta: bool = False
    ) -> tuple[list[dict[str, object]], dict[str, str]]:
        """Run one statement on ``address``; its rows (dicts) and, with ``meta``, SHOW META.
        A dropped connection is opened again once."""
        for attempt in (1, 2):
            conn = self._connections.get(address)
            try:
                with conn.cursor(pymysql.cursors.DictCursor) as cur:
                    cur.execute(sql + ";\nSHOW META" if meta else sql, args)
                    rows = list(cur.fetchall())
                    info: dict[str, str] = {}
                    if meta:
                        cur.nextset()
                        info = {r["Variable_name"]: r["Value"] for r in cur.fetchall()}
                return rows, info
            except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as exc:
                self._connections.drop(address)
                if attempt == 2 or not _retryable(exc):
                    raise EngineError(f"SphinxQL backend {address}: {exc}") from exc
            except pymysql.err.MySQLError as exc:
                raise EngineError(f"SphinxQL backend {address}: {exc}") from exc
        raise AssertionError("unreachable")

    @property
    def layout(self) -> Layout:
        """Where the shards are (read once from the coordinator's ``<table>_meta``)."""
        if self._layout is None:
            rows, _ = self.execute(
                self.coordinator, f"SELECT value FROM {self.table}_meta WHERE id = %s",
                (LAYOUT_ROW,),
            )
            if not rows:
                raise EngineError(
                    f"{self.url}: no layout row in {self.table}_meta (see cluster.start or "
                    "docs/manticore.conf.example)"
                )
            data = json.loads(str(rows[0]["value"]))
            shards = tuple(
                Shard(tuple([s["sql"]] if isinstance(s["sql"], str) else s["sql"]),
                      dict(s["tables"]))
                for s in data["shards"]
            )
            coordinators = tuple(data.get("coordinators") or [self.coordinator])
            self._layout = Layout(self.table, coordinators, shards)
        return self._layout

    def distributed(self, table_set: str) -> str:
        """The coordinator's table of a table set."""
        if table_set not in TABLE_SETS:
            raise ValueError(f"table set {table_set!r}: expected one of {TABLE_SETS}")
        return f"{self.table}_{table_set}"

    def _shard_tables(self, table_set: str) -> list[tuple[tuple[str, ...], str]]:
        """Per shard: the addresses of its copies (every mirror is written) and its table."""
        self.distributed(table_set)  # validates
        return [(s.addresses, s.tables[table_set]) for s in self.layout.shards]

    # --- writing -----------------------------------------------------------------

    def clear(self, table_set: str) -> None:
        """Empty every shard of a table set (a rebuild starts here)."""
        for addresses, table in self._shard_tables(table_set):
            for address in addresses:
                self.execute(address, f"TRUNCATE RTINDEX {table}")
        self._wrote(table_set)

    def count(self, table_set: str) -> int:
        rows, info = self.execute(
            self.coordinator, f"SELECT id FROM {self.distributed(table_set)} LIMIT 1", meta=True
        )
        return int(info.get("total_found", 0))

    def _next_seq(self, table_set: str) -> int:
        rows, _ = self.execute(
            self.coordinator,
            f"SELECT seq FROM {self.distributed(table_set)} ORDER BY seq DESC LIMIT 1",
        )
        return int(rows[0]["seq"]) + 1 if rows else 0  # type: ignore[call-overload]

    def replace_articles(
        self, table_set: str, articles: Iterable[Article], batch: int = WRITE_BATCH
    ) -> WriteSummary:
        """Write articles (every paragraph; paragraphs an article no longer has are deleted)
        into their shards, in multi-row REPLACEs of ``batch`` rows. RowIdCollision, before
        anything of the colliding batch is written, if two paragraph ids share a row id."""
        started = time.perf_counter()
        shard_tables = self._shard_tables(table_set)
        seq = self._next_seq(table_set)
        rows = written = deleted = 0
        chunk: list[Article] = []
        chunk_rows = 0

        def flush() -> None:
            nonlocal rows, deleted, seq, chunk, chunk_rows
            new_rows = []
            for article in chunk:
                made = article_rows(article, seq)
                seq += len(made)
                new_rows.extend(made)
            deleted += self._write_chunk(table_set, shard_tables, chunk, new_rows, batch)
            rows += len(new_rows)
            chunk, chunk_rows = [], 0

        for article in articles:
            chunk.append(article)
            chunk_rows += len(article.paragraphs)
            written += 1
            if chunk_rows >= batch * len(shard_tables):
                flush()
        if chunk:
            flush()
        self._wrote(table_set)
        summary = WriteSummary(rows, written, deleted, time.perf_counter() - started)
        log.info("%s: %d rows of %d articles in %.1f s (%.0f rows/s)", self.distributed(
            table_set), rows, written, summary.seconds, summary.rows_per_second)
        return summary

    def _write_chunk(
        self,
        table_set: str,
        shard_tables: list[tuple[tuple[str, ...], str]],
        articles: list[Article],
        rows: list[docs.Row],
        batch: int,
    ) -> int:
        owners: dict[int, str] = {}
        for row in rows:
            other = owners.setdefault(row.id, row.paragraph_id)
            if other != row.paragraph_id:
                raise RowIdCollision(f"paragraphs {other!r} and {row.paragraph_id!r} share "
                                     f"row id {row.id}")
        replaced = {a.id for a in articles}
        # Rows already stored under these ids must be the same paragraphs (or belong to an
        # article rewritten now, whose old rows are replaced or deleted here).
        for start in range(0, len(rows), 1000):
            ids = [r.id for r in rows[start : start + 1000]]
            found, _ = self.execute(
                self.coordinator,
                f"SELECT id, para_id, article_id FROM {self.distributed(table_set)} "
                f"WHERE id IN ({','.join(map(str, ids))}) LIMIT {len(ids)} "
                f"OPTION max_matches={max(len(ids), 1)}",
            )
            for hit in found:
                mine = owners[int(hit["id"])]  # type: ignore[call-overload]
                if hit["para_id"] != mine and hit["article_id"] not in replaced:
                    raise RowIdCollision(f"paragraphs {hit['para_id']!r} (stored) and "
                                         f"{mine!r} share row id {hit['id']}")
        by_shard: dict[int, list[docs.Row]] = {}
        for row in rows:
            by_shard.setdefault(shard_of(row.article_id, len(shard_tables)), []).append(row)
        by_article: dict[int, list[str]] = {}
        for article in articles:
            by_article.setdefault(shard_of(article.id, len(shard_tables)), []).append(article.id)
        deleted = 0
        for number, (addresses, table) in enumerate(shard_tables):
            keep = {r.id for r in by_shard.get(number, [])}
            shard_rows = by_shard.get(number, [])
            for copy, address in enumerate(addresses):
                ids = self._article_row_ids(address, table, by_article.get(number, []))
                gone = self._delete_ids(address, table, [i for i in ids if i not in keep])
                deleted += gone if copy == 0 else 0
                for start in range(0, len(shard_rows), batch):
                    self._replace(address, table, shard_rows[start : start + batch])
        return deleted

    def _replace(self, address: str, table: str, rows: list[docs.Row]) -> None:
        conn = self._connections.get(address)
        values = ",".join(
            "(" + ",".join(conn.escape(v) for v in row.values) + ")" for row in rows
        )
        self.execute(address, f"REPLACE INTO {table} ({','.join(COLUMNS)}) VALUES {values}")

    def _article_row_ids(self, address: str, table: str, article_ids: list[str]) -> list[int]:
        """Row ids of these articles' paragraphs in one shard table."""
        found: list[int] = []
        wanted = set(article_ids)
        for start in range(0, len(article_ids), 500):
            keys = ",".join(str(article_key(a)) for a in article_ids[start : start + 500])
            last = 0
            while True:  # paged by id: an article may have many paragraphs
                rows, _ = self.execute(
                    address,
                    f"SELECT id, article_id FROM {table} WHERE article_key IN ({keys}) "
                    f"AND id > {last} ORDER BY id ASC LIMIT 10000 OPTION max_matches=10000",
                )
                found.extend(int(r["id"]) for r in rows if r["article_id"] in wanted)  # type: ignore[call-overload]
                if len(rows) < 10000:
                    break
                last = int(rows[-1]["id"])  # type: ignore[call-overload]
        return found

    def _delete_ids(self, address: str, table: str, ids: list[int]) -> int:
        for start in range(0, len(ids), 1000):
            part = ",".join(map(str, ids[start : start + 1000]))
            self.execute(address, f"DELETE FROM {table} WHERE id IN ({part})")
        return len(ids)

    def delete_articles(self, table_set: str, article_ids: Iterable[str]) -> int:
        """Delete every paragraph of these articles; how many rows went."""
        shard_tables = self._shard_tables(table_set)
        by_shard: dict[int, list[str]] = {}
        for article_id in article_ids:
            by_shard.setdefault(shard_of(article_id, len(shard_tables)), []).append(article_id)
        deleted = 0
        for number, ids in by_shard.items():
            addresses, table = shard_tables[number]
            for copy, address in enumerate(addresses):
                rows = self._article_row_ids(address, table, ids)
                gone = self._delete_ids(address, table, rows)
                deleted += gone if copy == 0 else 0
        self._wrote(table_set)
        return deleted

    def flush(self, table_set: str) -> None:
        """Write every shard's RAM chunk to disk (the binlog already keeps writes safe;
        this shortens the replay after a restart)."""
        for addresses, table in self._shard_tables(table_set):
            for address in addresses:
                self.execute(address, f"FLUSH RTINDEX {table}")

    # --- reading -----------------------------------------------------------------

    def reader(self, table_set: str) -> SphinxReader:
        """A reader of the table set, shared: its statistics and literal counts are asked
        again once it is ``reader_max_age`` seconds old, or after this engine wrote to the
        set (a table set is written in place by updates; another process's writes show
        within ``reader_max_age``)."""
        now = time.monotonic()
        cached = self._readers.get(table_set)
        if cached is None or now - cached[0] >= self.reader_max_age:
            from .reader import SphinxReader  # the reader needs this module: import it late

            cached = self._readers[table_set] = (now, SphinxReader(self, table_set))
        return cached[1]

    def _wrote(self, table_set: str) -> None:
        self._readers.pop(table_set, None)
        self.recount(table_set)

    def recount(self, table_set: str) -> Statistics:
        """Count the table set's paragraphs and lengths (a scan of every row) and keep the
        figures in ``<table>_meta`` on every coordinator, where readers find them without
        a scan. Every write of this engine ends with it; call it after writing otherwise."""
        stats = self._scan_statistics(table_set)
        for address in self.layout.coordinators:
            self.execute(
                address,
                f"REPLACE INTO {self.table}_meta (id, note, value) VALUES (%s, %s, %s)",
                (STATS_ROW[table_set], f"statistics {table_set}", json.dumps(asdict(stats))),
            )
        return stats

    def statistics(self, table_set: str) -> Statistics:
        """The figures ``recount`` kept (a scan when there are none)."""
        self.distributed(table_set)  # validates
        rows, _ = self.execute(
            self.coordinator, f"SELECT value FROM {self.table}_meta WHERE id = %s",
            (STATS_ROW[table_set],),
        )
        if rows:
            return Statistics(**json.loads(str(rows[0]["value"])))
        return self._scan_statistics(table_set)

    def _scan_statistics(self, table_set: str) -> Statistics:
        found, _ = self.execute(
            self.coordinator,
            f"SELECT COUNT(*) AS n, SUM(text_units) AS t, SUM(context_units) AS c "
            f"FROM {self.distributed(table_set)}",
        )
        row = found[0] if found else {}
        return Statistics(int(row.get("n") or 0), int(row.get("t") or 0),  # type: ignore[call-overload]
                          int(row.get("c") or 0))  # type: ignore[call-overload]


def _retryable(exc: Exception) -> bool:
    code = exc.args[0] if exc.args else None
    # 2006 server gone away, 2013 lost connection, 0 / InterfaceError: closed socket.
    return isinstance(exc, pymysql.err.InterfaceError) or code in (0, 2006, 2013)
