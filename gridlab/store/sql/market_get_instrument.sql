SELECT symbol, category, tick_size, qty_step, min_qty, min_notional, max_qty, fetched_at,
       coalesce(max_leverage, 0), coalesce(funding_interval_min, 0), coalesce(origin, '')
FROM instruments WHERE symbol = $symbol AND category = $category;
