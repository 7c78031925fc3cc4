-- A single-symbol runner takes the grid rows written before migration 0006 (symbol '').
UPDATE live_grid SET symbol = $symbol WHERE symbol = '';
