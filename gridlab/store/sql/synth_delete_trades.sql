DELETE FROM trades
WHERE symbol = $symbol AND category = $category AND ts >= $start AND ts < $end;
