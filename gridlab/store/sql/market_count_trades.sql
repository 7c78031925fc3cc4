SELECT count(*) FROM trades
WHERE symbol = $symbol AND category = $category AND ts >= $start AND ts < $end
  AND ($not_prefix IS NULL OR NOT starts_with(trade_id, $not_prefix));
