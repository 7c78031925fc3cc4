-- Every interval's bars that open in the span (they were resampled from its trades).
DELETE FROM klines
WHERE symbol = $symbol AND category = $category AND open_time >= $start AND open_time < $end;
