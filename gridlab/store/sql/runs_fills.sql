-- The fills of one run in order.
SELECT seq, ts, side, price, qty, fee, kind, slot, position, grid_profit
FROM backtest_fills WHERE run_id = $run_id ORDER BY seq;
