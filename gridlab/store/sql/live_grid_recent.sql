-- The latest grid builds, newest first.
SELECT gen, ts, price, lowest, highest, spacing, n_buy, n_sell, reason, profile,
       profile_version, seed_qty
FROM live_grid
ORDER BY gen DESC
LIMIT $limit;
