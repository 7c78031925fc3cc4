-- Every stored profile version with the number of versions of its name, newest last.
SELECT name, version, created_at, note, params,
       count(*) OVER (PARTITION BY name) AS n_versions,
       max(version) OVER (PARTITION BY name) AS latest
FROM profiles
ORDER BY name, version;
