"""Running many scenarios: the selection, parallel workers, and CI shards."""
