"""Reading one table set of a SphinxQL backend as ``search`` reads the embedded index.

In: a ``SphinxEngine`` and a table set. Out: ``SphinxReader``: ``documents``, ``occurs``,
``occurrences`` (exact, as ``VersionSubstrings.occurrences``), ``rank`` (the embedded
engine's hit sets, totals and scores: how, below), squeezed texts and stored fields
(Whoosh-shaped), article paragraphs and filter choices.

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
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from ..literal_index import date_number
from ..query import Filters
from ..ranking import GROUP_LIMIT, MatchSpec, Ranked
from . import documents as docs
from .documents import (
    TEXT_FIELD,
    article_key,
    distinct_characters,
    literal_expression,
    match_expression,
)
from .engine import SphinxEngine
from .scoring import count_overlapping, score

# Candidates re-ranked in Python per query (and the server's max_matches for them).
CANDIDATES = 1000
# A weighted spec (the fallback) also fetches the best PROBE_CANDIDATES holding each of its
# PROBES heaviest literals.
PROBES = 4
PROBE_CANDIDATES = 300
# The server sets aside memory and time for max_matches up front (1,000,000 costs about a
# second per query): queries that must see every group start small and grow.
MAX_CANDIDATES = 65_536  # re-rank candidates of one grouped query, at most
MAX_GROUPS = 131_072  # articles a grouped total is counted exactly over, at most
PAGE = 1000
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
            clauses.append(f"date >= {date_number(filters.date_from)}")
        if filters.date_to:  # 0 is "no date": never within a range
            clauses.append(f"date <= {date_number(filters.date_to)} AND date > 0")
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

    def squeezed_texts(self, docs: list[int]) -> list[str]:
        """The squeezed texts of paragraphs (row ids), as matching sees them."""
        return [self._squeezed_text(doc) for doc in docs]

    def _squeezed_text(self, doc: int) -> str:
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
