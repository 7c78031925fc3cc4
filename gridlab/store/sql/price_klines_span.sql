SELECT min(open_time), max(open_time), count(*)
FROM price_klines
WHERE kind = $kind AND symbol = $symbol AND category = $category AND interval = $interval;
