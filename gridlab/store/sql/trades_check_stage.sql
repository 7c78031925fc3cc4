-- Validation of the staged file: counts, span, symbols, and the first bad line (rowid + 2).
-- time_row: a time outside [$min_ts, $max_ts) (implausible: e.g. milliseconds read as
-- seconds); cover_row: a time outside [$cover_lo, $cover_hi) (the day the file name says).
SELECT count(*) AS n, min(ts) AS lo, max(ts) AS hi,
       min(file_symbol) AS sym_lo, max(file_symbol) AS sym_hi,
       min(rowid) FILTER (WHERE ts IS NULL OR price IS NULL OR size IS NULL OR side IS NULL
                          OR trade_id IS NULL) AS null_row,
       min(rowid) FILTER (WHERE side NOT IN ('Buy', 'Sell')) AS side_row,
       min(rowid) FILTER (WHERE NOT (price > 0 AND size > 0 AND isfinite(price)
                                     AND isfinite(size))) AS value_row,
       min(rowid) AS rowid_lo, max(rowid) AS rowid_hi,
       arg_min(rowid, rowid) FILTER (WHERE ts < $min_ts OR ts >= $max_ts) AS time_row,
       arg_min(ts, rowid) FILTER (WHERE ts < $min_ts OR ts >= $max_ts) AS time_ts,
       arg_min(rowid, rowid) FILTER (WHERE ts < $cover_lo OR ts >= $cover_hi) AS cover_row,
       arg_min(ts, rowid) FILTER (WHERE ts < $cover_lo OR ts >= $cover_hi) AS cover_ts
FROM {stage};
