-- The symbols a runner's live tape holds.
SELECT DISTINCT symbol FROM live_tape ORDER BY symbol;
