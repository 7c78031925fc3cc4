SELECT count(*) FROM klines
WHERE symbol = $symbol AND category = $category AND interval = $interval
  AND open_time >= $lo AND open_time < $hi;
