-- The latest grid builds, newest first: of one symbol by generation, or of all ($symbol NULL)
-- by build time.
SELECT gen, ts, price, lowest, highest, spacing, n_buy, n_sell, reason, profile,
       profile_version, seed_qty, symbol
FROM live_grid
WHERE $symbol IS NULL OR symbol = $symbol
ORDER BY (CASE WHEN $symbol IS NULL THEN ts ELSE 0 END) DESC, gen DESC, symbol
LIMIT $limit;
