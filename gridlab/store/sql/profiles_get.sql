-- One stored version of a profile: version, params, note.
SELECT version, params, note
FROM profiles
WHERE name = ? AND version = ?;
