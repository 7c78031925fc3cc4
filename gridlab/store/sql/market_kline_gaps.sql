-- Missing bars of one series as [start, end) ranges: start = the first missing open time,
-- end = the open time of the next stored bar.
SELECT open_time + $ms AS gap_start, nxt AS gap_end
FROM (
    SELECT open_time, lead(open_time) OVER (ORDER BY open_time) AS nxt
    FROM klines WHERE symbol = $symbol AND category = $category AND interval = $interval
)
WHERE nxt - open_time > $ms
ORDER BY open_time;
