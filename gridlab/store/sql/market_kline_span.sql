SELECT min(open_time), max(open_time), count(*)
FROM klines WHERE symbol = $symbol AND category = $category AND interval = $interval;
