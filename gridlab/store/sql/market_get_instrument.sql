SELECT symbol, category, tick_size, qty_step, min_qty, min_notional, max_qty, fetched_at
FROM instruments WHERE symbol = $symbol AND category = $category;
