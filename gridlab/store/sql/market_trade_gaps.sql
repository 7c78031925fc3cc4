-- Silences longer than $gap_ms (>= 1 s) between consecutive trades, as [last trade, next trade],
-- found between consecutive non-empty seconds.
SELECT gap_start, gap_end
FROM (
    SELECT max(ts) AS gap_start, lead(min(ts)) OVER (ORDER BY ts // 1000) AS gap_end
    FROM trades WHERE symbol = $symbol AND category = $category
    GROUP BY ts // 1000
)
WHERE gap_end - gap_start > $gap_ms
ORDER BY gap_start;
