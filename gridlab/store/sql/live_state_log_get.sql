-- One logged state of a grid: its value and bar ring.
SELECT value, bars FROM live_state_log
WHERE state_key = $state_key AND recorded_at = $recorded_at AND kind = $kind;
