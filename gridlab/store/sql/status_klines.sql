-- One row per (symbol, category, interval): span, counts, gaps (missing bars between stored
-- bars) and the largest gaps as [start, end) ranges, largest first.
WITH iv AS (SELECT unnest($names) AS interval, unnest($ms) AS ms),
k AS (
    SELECT symbol, category, interval, open_time,
           lead(open_time) OVER (PARTITION BY symbol, category, interval ORDER BY open_time)
               AS nxt
    FROM klines
)
SELECT k.symbol, k.category, k.interval, any_value(iv.ms) AS ms,
       min(k.open_time) AS first, max(k.open_time) AS last, count(*) AS n,
       count(DISTINCT k.open_time) AS n_distinct,
       count(*) FILTER (WHERE k.nxt - k.open_time > iv.ms) AS gaps,
       list([k.open_time + iv.ms, k.nxt] ORDER BY k.nxt - k.open_time DESC, k.open_time)
           FILTER (WHERE k.nxt - k.open_time > iv.ms)[1:$top] AS top_gaps
FROM k JOIN iv ON k.interval = iv.interval
GROUP BY k.symbol, k.category, k.interval
ORDER BY k.symbol, k.category, any_value(iv.ms);
