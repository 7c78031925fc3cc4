-- Newest stored version of one profile: version, params.
SELECT version, params
FROM profiles
WHERE name = ?
ORDER BY version DESC
LIMIT 1;
