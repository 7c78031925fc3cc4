-- A single-symbol runner takes the equity rows written before migration 0006 (symbol '').
UPDATE live_equity SET symbol = $symbol WHERE symbol = '';
