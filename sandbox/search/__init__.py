"""An Elasticsearch-compatible `_search` over the simulated cluster's logs (SQLite FTS5)."""
