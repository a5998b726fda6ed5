"""The catalog of listings: the listing store the indexer writes, the SQL search and the in-memory index."""
