-- Write one runner state value.
INSERT OR REPLACE INTO live_state (key, value, updated_at) VALUES ($key, $value, $updated_at);
