SELECT ts, price, size, CAST(CASE WHEN side = 'Buy' THEN 1 ELSE -1 END AS TINYINT) AS side
FROM trades
WHERE symbol = $symbol AND category = $category AND ts >= $start AND ts < $end
ORDER BY ts, seq;
