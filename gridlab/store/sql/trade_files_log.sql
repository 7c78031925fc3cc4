INSERT INTO trade_files VALUES ($source, $symbol, $category, $bytes, $cover_start, $cover_end,
                                $rows_read, $rows_added, $ingested_at)
ON CONFLICT DO UPDATE SET cover_start = excluded.cover_start, cover_end = excluded.cover_end,
    rows_read = excluded.rows_read, rows_added = excluded.rows_added,
    ingested_at = excluded.ingested_at;
