-- Staged file -> trades. seq = line order in the file; ids already stored in [$lo, $hi] skipped.
INSERT INTO trades
SELECT $symbol, $category, s.ts, s.price, s.size, s.side, s.trade_id, s.rowid - $rowid_lo
FROM {stage} AS s
WHERE NOT EXISTS (
    SELECT 1 FROM trades AS x
    WHERE x.ts BETWEEN $lo AND $hi
      AND x.symbol = $symbol AND x.category = $category AND x.trade_id = s.trade_id
);
