-- Log one grid state a replay can start from.
INSERT OR REPLACE INTO live_state_log (state_key, symbol, ts, kind, recorded_at, value, bars)
VALUES ($state_key, $symbol, $ts, $kind, $recorded_at, $value, $bars);
