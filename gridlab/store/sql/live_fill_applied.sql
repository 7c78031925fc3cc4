-- Mark a stored fill as booked into the ledger and the strategy.
UPDATE live_fills
SET applied = true, apply_seq = $apply_seq, kind = $kind, gen = $gen, slot = $slot,
    position = $position, grid_profit = $grid_profit
WHERE exec_id = $exec_id;
