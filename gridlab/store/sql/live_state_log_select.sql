-- The logged states of one grid (without the state values), oldest first.
SELECT ts, kind, recorded_at FROM live_state_log
WHERE state_key = $state_key
ORDER BY ts, recorded_at;
