-- One row per (symbol, category): span, counts, duplicate ids, silences longer than $gap_ms
-- (>= 1 s: found between consecutive non-empty seconds, so no sort of every trade) with the
-- largest as [last trade, next trade] ranges, and the coverage end of ingested files.
WITH sec AS (
    SELECT symbol, category, ts // 1000 AS s, min(ts) AS lo, max(ts) AS hi
    FROM trades GROUP BY ALL
),
g AS (
    SELECT symbol, category, hi AS gap_start,
           lead(lo) OVER (PARTITION BY symbol, category ORDER BY s) AS gap_end
    FROM sec
),
gaps AS (
    SELECT symbol, category, count(*) FILTER (WHERE gap_end - gap_start > $gap_ms) AS gaps,
           coalesce(sum(gap_end - gap_start) FILTER (WHERE gap_end - gap_start > $gap_ms), 0)
               AS silent_ms,
           list([gap_start, gap_end] ORDER BY gap_end - gap_start DESC, gap_start)
               FILTER (WHERE gap_end - gap_start > $gap_ms)[1:$top] AS top_gaps
    FROM g GROUP BY ALL
),
s AS (
    SELECT symbol, category, min(ts) AS first, max(ts) AS last, count(*) AS n,
           count(DISTINCT trade_id) AS n_distinct
    FROM trades GROUP BY ALL
),
f AS (SELECT symbol, category, max(cover_end) AS cover_end FROM trade_files GROUP BY ALL)
SELECT s.symbol, s.category, s.first, s.last, s.n, s.n_distinct, gaps.gaps, gaps.silent_ms,
       gaps.top_gaps, greatest(s.last + 1, coalesce(f.cover_end, 0)) AS cover_end
FROM s
JOIN gaps ON s.symbol = gaps.symbol AND s.category = gaps.category
LEFT JOIN f ON s.symbol = f.symbol AND s.category = f.category
ORDER BY s.symbol, s.category;
