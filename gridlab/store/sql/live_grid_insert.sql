-- One grid build (generation) of one symbol.
INSERT OR REPLACE INTO live_grid
    (gen, symbol, ts, price, lowest, highest, spacing, n_buy, n_sell, reason, profile,
     profile_version, seed_qty)
VALUES ($gen, $symbol, $ts, $price, $lowest, $highest, $spacing, $n_buy, $n_sell, $reason,
        $profile, $profile_version, $seed_qty);
