-- One grid build (generation).
INSERT OR REPLACE INTO live_grid
    (gen, ts, price, lowest, highest, spacing, n_buy, n_sell, reason, profile, profile_version,
     seed_qty)
VALUES ($gen, $ts, $price, $lowest, $highest, $spacing, $n_buy, $n_sell, $reason, $profile,
        $profile_version, $seed_qty);
