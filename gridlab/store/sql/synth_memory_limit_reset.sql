-- Back to DuckDB's default buffer-pool limit (the store never sets one).
RESET memory_limit;
