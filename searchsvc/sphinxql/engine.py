"""The search service on a SphinxQL engine (Manticore ≥ 7, Sphinx 2.2): writing and reading.

In: a backend URL ``sphinxql://HOST:PORT/TABLE`` (the coordinator's SphinxQL port and the
table prefix), ``corpus.Article`` records to write, and for reading a table set (``blue``
or ``green``) with ``ranking.MatchSpec``s to answer. Out: ``ranking.Ranked`` answers with
the embedded engine's hit sets, totals and scores, and Whoosh-shaped stored fields.

``SphinxEngine(url).reader(table_set)`` offers what ``search`` uses from the embedded
``VersionSubstrings`` and ``ranking.rank``: ``documents``, ``occurs``, ``occurrences``,
``rank``, ``squeezed_text``, ``stored_fields``, ``article_paragraphs``, ``filter_choices``.

How a query runs (``SphinxReader.rank``): the server matches (``documents``: a phrase of
characters per literal, so hit sets and ``total`` are exact) and orders the matches by a
proxy of the embedded score (literal characters found in the text, then in the context,
then a BM25 saturation of the literals' phrase hits); the best ``CANDIDATES`` come back with
their squeezed text and context (for a fallback spec, whose literals weigh differently,
also the best ``PROBE_CANDIDATES`` holding each of its heaviest literals), and Python
scores them exactly as the embedded engine does (``scoring``) and sorts them, equal scores
in insertion order (``seq``; the embedded index breaks ties by document number, which is
the same order unless its build split the work between several writer processes). The
top of that order equals the embedded one whenever the embedded top ``limit`` lies within
the candidates: always when no more paragraphs match than that; otherwise as good as the
proxy (xwlb 2019, 30,338 paragraphs: 70 everyday queries and questions, every top 10 the
same up to equal scores). Date order is exact: the server sorts by date and insertion
order. Grouping is done on the re-ranked list; its total and the per-article counts come
from GROUP BY queries (every paragraph of an article is on one shard: exact, up to
``MAX_GROUPS`` articles). IDF uses ``occurrences``, the embedded count exactly; the
paragraph count and average lengths are kept by every write (``SphinxEngine.recount``).
``budget`` is not enforced per query; ``partial`` says a shard (or every copy of it) did
not answer, or a grouped total could not be counted exactly.

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
import math
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import pymysql

from ..corpus import Article
from ..query import Filters
from ..ranking import GROUP_LIMIT, MatchSpec, Ranked
from . import documents as docs
from .documents import (
    COLUMNS,
    TEXT_FIELD,
    RowIdCollision,
    article_key,
    article_rows,
    distinct_characters,
    literal_expression,
    match_expression,
    shard_of,
)
from .scoring import count_overlapping, score

log = logging.getLogger(__name__)

SCHEME = "sphinxql"
TABLE_SETS = ("blue", "green")
LAYOUT_ROW = 1
# Candidates re-ranked in Python per query (and the server's max_matches for them).
CANDIDATES = 1000
# A weighted spec (the fallback) also fetches the best PROBE_CANDIDATES holding each of its
# PROBES heaviest literals.
PROBES = 4
PROBE_CANDIDATES = 300
WRITE_BATCH = 200  # rows per multi-row REPLACE
# The server sets aside memory and time for max_matches up front (1,000,000 costs about a
# second per query): queries that must see every group start small and grow.
MAX_CANDIDATES = 65_536  # re-rank candidates of one grouped query, at most
MAX_GROUPS = 131_072  # articles a grouped total is counted exactly over, at most
PAGE = 1000
STATS_ROW = {"blue": 2, "green": 3}  # rows of <table>_meta holding a table set's counts
# The server's proxy of the embedded score, in its order of importance: the query's
# characters found in the text (word_count: distinct query positions, at most 32), the
# longest run of them in query order (lcs: keywords side by side), those found in the
# context; then a BM25 saturation of the text's phrase hits (hit_count) over its length
# (0–2999). The field weights only tell the fields apart inside sum(); WEIGHT() is a
# 32-bit integer, which these bounds keep it within.
_HITS = "sum(if(user_weight>1,hit_count,0))"
PROXY_RANKER = (
    "ranker=expr('sum(if(user_weight>1,word_count*10000000+lcs*100000,word_count*3000))"
    f"+2999*{_HITS}/({_HITS}+1.2*(0.25+0.75*text_units/{{avg_len:.3f}}))'), "
    "field_weights=(chars=100,context=1)"
)
_STORED_COLUMNS = ", ".join(
    ["id", *docs.STORED.values(), "present", "squeezed", "squeezed_context"]
)


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


def _probe_literals(spec: MatchSpec) -> list[str]:
    """The heaviest literals of a spec whose literals weigh differently, heaviest first
    ([] when they all weigh the same: the proxy's count of characters found suffices)."""
    weights: dict[str, float] = {}
    for group in spec.required:
        for literal, text_score, _context_score in group:
            weights[literal] = max(weights.get(literal, 0.0), text_score)
    if len(set(weights.values())) < 2:
        return []
    return sorted(weights, key=lambda lit: -weights[lit])[:PROBES]


def _date_number(value: str) -> int:
    return int(value.replace("-", "")) if value else 0


class SphinxReader:
    """One table set, read as ``search`` reads the embedded index (see the module doc).

    Collection statistics (paragraph count, average lengths) and literal counts are asked
    once and kept for the reader's life (``SphinxEngine.reader`` hands out a shared one
    and replaces it every ``reader_max_age`` seconds). Thread-safe: its caches are plain
    dicts of values that never change for a given key while it lives."""

    def __init__(self, engine: SphinxEngine, table_set: str):
        self.engine = engine
        self.table_set = table_set
        self.table = engine.distributed(table_set)
        self._stats: tuple[int, float, float] | None = None
        self._occurrences: dict[str, int] = {}
        self._rows: dict[int, dict[str, object]] = {}  # recent candidates, by row id

    def _query(
        self, sql: str, args: Sequence[object] | None = None, meta: bool = False
    ) -> tuple[list[dict[str, object]], dict[str, str]]:
        return self.engine.execute(self.engine.coordinator, sql, args, meta)

    # --- statistics --------------------------------------------------------------

    def _statistics(self) -> tuple[int, float, float]:
        if self._stats is None:
            stats = self.engine.statistics(self.table_set)
            # As ``VersionSubstrings``: averages over every paragraph, at least 1.
            total = max(1, stats.documents)
            self._stats = (stats.documents, max(1.0, float(stats.text_units) / total),
                           max(1.0, float(stats.context_units) / total))
        return self._stats

    @property
    def documents(self) -> int:
        """Paragraphs in the table set."""
        return self._statistics()[0]

    @property
    def avg_len(self) -> float:
        return self._statistics()[1]

    @property
    def avg_ctx_len(self) -> float:
        return self._statistics()[2]

    def occurs(self, literal: str) -> bool:
        """Whether some paragraph's text, title or heading contains ``literal``."""
        if not literal:
            return False
        rows, _ = self._query(
            f"SELECT id FROM {self.table} WHERE MATCH(%s) LIMIT 1",
            (literal_expression(literal),),
        )
        return bool(rows)

    def occurrences(self, literal: str) -> int:
        """How often ``literal`` occurs in paragraph texts (overlapping occurrences counted,
        as ``VersionSubstrings.occurrences``). A literal whose characters are all different
        cannot overlap itself: the server's phrase hit count, divided by its length, is
        the answer. Otherwise the matching texts are counted here (exact, but costs a
        fetch of every matching paragraph's squeezed text)."""
        found = self._occurrences.get(literal)
        if found is not None:
            return found
        expression = literal_expression(literal, (TEXT_FIELD,))
        if not literal:
            found = 0
        elif distinct_characters(literal):
            rows, _ = self._query(
                f"SELECT WEIGHT() AS w, SUM(w) AS hits FROM {self.table} WHERE MATCH(%s) "
                "OPTION ranker=expr('sum(hit_count)')",
                (expression,),
            )
            hits = int(rows[0]["hits"] or 0) if rows else 0  # type: ignore[call-overload]
            found = hits // len(literal)
        else:
            found, last = 0, 0
            while True:
                rows, _ = self._query(
                    f"SELECT id, squeezed FROM {self.table} WHERE MATCH(%s) AND id > {last} "
                    "ORDER BY id ASC LIMIT 5000 OPTION max_matches=5000, ranker=none",
                    (expression,),
                )
                found += sum(count_overlapping(str(r["squeezed"]), literal) for r in rows)
                if len(rows) < 5000:
                    break
                last = int(rows[-1]["id"])  # type: ignore[call-overload]
        self._occurrences[literal] = found
        return found

    # --- ranking -----------------------------------------------------------------

    def _where(self, filters: Filters) -> tuple[str, list[object]]:
        clauses, args = ["MATCH(%s)"], []
        if filters.source:
            clauses.append("source = %s")
            args.append(filters.source)
        if filters.date_from:
            clauses.append(f"date >= {_date_number(filters.date_from)}")
        if filters.date_to:  # 0 is "no date": never within a range
            clauses.append(f"date <= {_date_number(filters.date_to)} AND date > 0")
        return " AND ".join(clauses), args

    def rank(
        self,
        spec: MatchSpec,
        limit: int,
        budget: float | None = None,
        group: bool = False,
        filters: Filters | None = None,
    ) -> Ranked:
        """The ``limit`` best paragraphs matching ``spec`` (row ids, embedded scores) and
        the exact total; as ``ranking.rank``. ``budget`` is not applied per query (the
        coordinator's agent timeouts bound it); ``partial`` means a shard did not answer."""
        filters = filters or Filters()
        n = max(1, self.documents)
        idf = {w: math.log(1 + n / (1 + self.occurrences(w))) for w in spec.words}
        where, args = self._where(filters)
        by_date = filters.sort == "date"
        if by_date:
            order, options = "date DESC, seq ASC", "ranker=none"
        else:
            order, options = "WEIGHT() DESC, seq ASC", PROXY_RANKER.format(avg_len=self.avg_len)
        # Only what the re-rank needs: every column costs decoding 1,000 rows in Python.
        columns = "id, seq, squeezed, squeezed_context" + (", date" if by_date else "") + (
            ", article_id" if group else ""
        )
        expression = match_expression(spec)
        wanted = max(limit, 1) if by_date else max(limit, CANDIDATES)
        probes = [] if by_date else _probe_literals(spec)
        while True:
            found: dict[int, dict[str, object]] = {}
            total, partial = 0, False
            for number, probe in enumerate([None, *probes]):
                # The first query: the best by the server's proxy. A weighted spec (the
                # fallback's rare words weigh more) adds one query per heaviest literal,
                # restricted to paragraphs whose text holds it: the proxy cannot weigh
                # literals, and the best answers hold the heaviest ones.
                restricted = expression if probe is None else (
                    f"({expression}) {literal_expression(probe, (TEXT_FIELD,))}"
                )
                size = wanted if probe is None else PROBE_CANDIDATES
                rows, info = self._query(
                    f"SELECT {columns} FROM {self.table} WHERE {where} ORDER BY {order} "
                    f"LIMIT {size} OPTION max_matches={size}, {options}",
                    (restricted, *args), meta=True,
                )
                if number == 0:
                    total = int(info.get("total_found", 0))
                partial = partial or bool(info.get("warning"))
                for row in rows:
                    found.setdefault(int(row["id"]), row)  # type: ignore[call-overload]
            rows = list(found.values())
            scored = []
            for row in rows:
                value = score(spec, idf, str(row["squeezed"]), str(row["squeezed_context"]),
                              self.avg_len, self.avg_ctx_len)
                scored.append((value, row))
                self._remember(row)
            key = (lambda item: (-int(item[1]["date"]), int(item[1]["seq"]))) if by_date else (
                lambda item: (-item[0], int(item[1]["seq"]))
            )
            scored.sort(key=key)  # type: ignore[arg-type]
            if not group:
                hits = [(int(r["id"]), s) for s, r in scored[:limit]]  # type: ignore[call-overload]
                return Ranked(hits, total, partial)
            hits, seen = [], Counter()  # type: ignore[var-annotated]
            for value, row in scored:
                article = str(row["article_id"])
                if seen[article] < GROUP_LIMIT:
                    seen[article] += 1
                    hits.append((int(row["id"]), value))  # type: ignore[call-overload]
                    if len(hits) == limit:
                        break
            if len(hits) == limit or len(rows) >= total or wanted >= MAX_CANDIDATES:
                break
            wanted = min(wanted * 4, MAX_CANDIDATES)
        grouped_total, exact, per_article = self._group_counts(
            where, expression, args, list(seen), total
        )
        partial = partial or not exact
        collapsed = {
            a: per_article[a] - GROUP_LIMIT for a in seen if per_article.get(a, 0) > GROUP_LIMIT
        }
        return Ranked(hits, grouped_total, partial, collapsed)

    def _group_counts(
        self, where: str, expression: str, args: list[object], articles: list[str], total: int
    ) -> tuple[int, bool, dict[str, int]]:
        """Paragraphs shown when grouped (at most GROUP_LIMIT per article, over every
        match), whether that count is exact, and the matches of each of ``articles``."""
        # The server counts exactly while what it groups fits in max_matches (a smaller
        # window gives a wrong count, in either direction): grow it until it fits.
        window = max(1, min(total, PAGE))
        while True:
            _rows, info = self._query(
                f"SELECT id FROM {self.table} WHERE {where} GROUP {GROUP_LIMIT} BY "
                f"article_key LIMIT 1 OPTION max_matches={window}, ranker=none",
                (expression, *args), meta=True,
            )
            grouped_total = int(info.get("total_found", 0))
            exact = grouped_total < window or window >= total
            if exact or window >= MAX_GROUPS:
                break
            window = min(window * 8, total, MAX_GROUPS)
        per_article: dict[str, int] = {}
        if articles:
            keys = ",".join(str(article_key(a)) for a in articles)
            rows, _ = self._query(
                f"SELECT article_id, COUNT(*) AS c FROM {self.table} WHERE {where} "
                f"AND article_key IN ({keys}) GROUP BY article_key LIMIT {len(articles)} "
                f"OPTION max_matches={max(1, len(articles))}, ranker=none",
                (expression, *args),
            )
            per_article = {str(r["article_id"]): int(r["c"]) for r in rows}  # type: ignore[call-overload]
        return grouped_total, exact, per_article

    def _remember(self, row: dict[str, object]) -> None:
        if len(self._rows) > 4 * CANDIDATES:
            self._rows.clear()
        self._rows[int(row["id"])] = row  # type: ignore[call-overload]

    # --- stored paragraphs ---------------------------------------------------------

    def squeezed_text(self, doc: int) -> str:
        """The squeezed text of a paragraph (row id), as matching sees it."""
        row = self._rows.get(doc)
        if row is None:
            found, _ = self._query(f"SELECT id, squeezed FROM {self.table} WHERE id = {int(doc)}")
            if not found:
                raise IndexError(doc)
            row = found[0]
        return str(row["squeezed"])

    def stored_rows(self, doc_ids: Sequence[int]) -> dict[int, dict[str, object]]:
        if not doc_ids:
            return {}
        ids = ",".join(str(int(d)) for d in doc_ids)
        rows, _ = self._query(
            f"SELECT {_STORED_COLUMNS} FROM {self.table} WHERE id IN ({ids}) "
            f"LIMIT {len(doc_ids)} OPTION max_matches={len(doc_ids)}"
        )
        return {int(r["id"]): r for r in rows}  # type: ignore[call-overload]

    def stored_fields(self, doc: int) -> dict[str, object]:
        """A paragraph's stored fields (the keys and types of a Whoosh stored document)."""
        row = self.stored_rows([doc]).get(doc)
        if row is None:
            raise KeyError(doc)
        return docs.stored_fields(row)

    def stored_fields_many(self, doc_ids: Sequence[int]) -> list[dict[str, object]]:
        """Stored fields of several paragraphs in one query, in the order asked."""
        rows = self.stored_rows(doc_ids)
        return [docs.stored_fields(rows[d]) for d in doc_ids if d in rows]

    def article_paragraphs(self, article_id: str) -> list[dict[str, object]]:
        """Every paragraph of an article (stored fields), in order; [] if unknown."""
        found: list[dict[str, object]] = []
        last = -1
        while True:  # paged: an article may have many paragraphs
            rows, _ = self._query(
                f"SELECT {_STORED_COLUMNS} FROM {self.table} WHERE article_key = "
                f"{article_key(article_id)} AND paragraph > {last} ORDER BY paragraph ASC "
                f"LIMIT {PAGE} OPTION max_matches={PAGE}"
            )
            found.extend(docs.stored_fields(r) for r in rows if r["article_id"] == article_id)
            if len(rows) < PAGE:
                return found
            last = int(rows[-1]["paragraph"])  # type: ignore[call-overload]

    def filter_choices(self) -> tuple[list[str], bool]:
        """The source names, and whether any paragraph is dated (``ranking.filter_choices``)."""
        window = PAGE
        while True:  # every source must fit in max_matches: grow it until they do
            rows, _ = self._query(
                f"SELECT source FROM {self.table} GROUP BY source LIMIT {window} "
                f"OPTION max_matches={window}"
            )
            if len(rows) < window or window >= MAX_GROUPS:
                break
            window *= 8
        dated, _ = self._query(f"SELECT id FROM {self.table} WHERE date > 0 LIMIT 1")
        return sorted(str(r["source"]) for r in rows), bool(dated)
