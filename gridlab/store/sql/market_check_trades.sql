-- Validation of a trades batch in _gl_in: counts and the first offending row of each kind.
SELECT count(*) AS n,
       min(CAST(ts AS BIGINT)) AS lo,
       max(CAST(ts AS BIGINT)) AS hi,
       count(*) FILTER (WHERE symbol IS NULL OR category IS NULL OR ts IS NULL OR price IS NULL
                          OR size IS NULL OR side IS NULL OR trade_id IS NULL OR seq IS NULL)
           AS n_null,
       count(*) FILTER (WHERE side NOT IN ('Buy', 'Sell')) AS n_side,
       any_value(side) FILTER (WHERE side NOT IN ('Buy', 'Sell')) AS bad_side,
       count(*) FILTER (WHERE NOT (CAST(price AS DOUBLE) > 0 AND CAST(size AS DOUBLE) > 0
                                   AND isfinite(CAST(price AS DOUBLE))
                                   AND isfinite(CAST(size AS DOUBLE)))) AS n_value,
       count(*) - count(DISTINCT (symbol, category, trade_id)) AS n_repeat
FROM _gl_in;
