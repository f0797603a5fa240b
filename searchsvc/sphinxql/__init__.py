"""The search service on a distributed SphinxQL engine (Manticore ≥ 7; Sphinx 2.2 in tests).

``cluster``: start/stop a local cluster (N RT shards + a distributed coordinator) and get
its backend URL ``sphinxql://HOST:PORT/TABLE``. ``documents``: how a paragraph becomes a
row and a ``ranking.MatchSpec`` a MATCH() expression. ``scoring``: the embedded engine's
score of one paragraph, for the re-rank. ``engine``: ``SphinxEngine`` (writes, table
sets) and its readers, which answer as ``substrings.VersionSubstrings`` + ``ranking.rank``.
"""
