SELECT open_time, open, high, low, close
FROM price_klines
WHERE kind = $kind AND symbol = $symbol AND category = $category AND interval = $interval
  AND open_time >= $start AND open_time < $end
ORDER BY open_time;
