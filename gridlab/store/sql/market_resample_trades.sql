-- Trades -> klines of one interval over [$lo, $hi): bar open = floor((ts - $offset) / $ms) * $ms
-- + $offset; open/close are the first/last trade by (ts, seq). Bars are rewritten (upsert), so
-- a bar that was partial when first resampled is completed by a later run.
INSERT INTO klines
SELECT $symbol, $category, $interval, b,
       arg_min(price, k), max(price), min(price), arg_max(price, k),
       sum(size),
       sum(CASE WHEN $category = 'inverse' THEN size / price ELSE size * price END)
FROM (
    SELECT (ts - $offset) // $ms * $ms + $offset AS b, price, size,
           CAST(ts AS HUGEINT) * 1099511627776 + seq AS k
    FROM trades
    WHERE symbol = $symbol AND category = $category AND ts >= $lo AND ts < $hi
)
GROUP BY b
ON CONFLICT DO UPDATE SET
    open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
    volume = excluded.volume, turnover = excluded.turnover;
