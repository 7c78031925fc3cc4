INSERT INTO schema_version VALUES ($version, $name, $applied_at);
