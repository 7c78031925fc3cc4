SELECT value FROM live_state WHERE key = $key;
