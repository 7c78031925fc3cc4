-- Every key of a runner's live_state with its JSON value.
SELECT key, value FROM live_state ORDER BY key;
