SELECT rows_read, rows_added, ingested_at FROM trade_files
WHERE symbol = $symbol AND category = $category AND source = $source AND bytes = $bytes;
