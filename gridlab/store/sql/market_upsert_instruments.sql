-- Instruments from _gl_in; a row replaces the stored one unless the stored one is newer.
INSERT INTO instruments (symbol, category, tick_size, qty_step, min_qty, min_notional, max_qty,
                         fetched_at, max_leverage, funding_interval_min, origin)
SELECT CAST(symbol AS VARCHAR), CAST(category AS VARCHAR), CAST(tick_size AS DOUBLE),
       CAST(qty_step AS DOUBLE), CAST(min_qty AS DOUBLE), CAST(min_notional AS DOUBLE),
       CAST(max_qty AS DOUBLE), CAST(fetched_at AS BIGINT), CAST(max_leverage AS DOUBLE),
       CAST(funding_interval_min AS INTEGER), CAST(origin AS VARCHAR)
FROM _gl_in
QUALIFY row_number() OVER (PARTITION BY symbol, category ORDER BY fetched_at DESC) = 1
ON CONFLICT (symbol, category) DO UPDATE SET
    tick_size = excluded.tick_size, qty_step = excluded.qty_step, min_qty = excluded.min_qty,
    min_notional = excluded.min_notional, max_qty = excluded.max_qty,
    fetched_at = excluded.fetched_at, max_leverage = excluded.max_leverage,
    funding_interval_min = excluded.funding_interval_min, origin = excluded.origin
WHERE excluded.fetched_at >= instruments.fetched_at;
