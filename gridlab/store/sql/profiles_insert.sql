-- Add one profile version: name, version, params (JSON text), created_at (epoch ms), note.
INSERT INTO profiles (name, version, params, created_at, note)
VALUES (?, ?, ?, ?, ?);
