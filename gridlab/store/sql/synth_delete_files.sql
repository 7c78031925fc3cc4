-- Log rows of files / synthetic batches whose cover overlaps the span (their trades are gone).
DELETE FROM trade_files
WHERE symbol = $symbol AND category = $category AND cover_start < $end AND cover_end > $start;
