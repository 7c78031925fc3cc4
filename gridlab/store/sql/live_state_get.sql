-- One runner state value (no row when unset).
SELECT value FROM live_state WHERE key = $key;
