-- Staged file -> trades. seq = line order in the file; a trade id repeated inside the file is
-- stored once (its first line); ids already stored in [$lo, $hi] are skipped.
INSERT INTO trades
SELECT $symbol, $category, s.ts, s.price, s.size, s.side, s.trade_id, s.rid - $rowid_lo
FROM (
    SELECT ts, price, size, side, trade_id, rowid AS rid
    FROM {stage}
    QUALIFY row_number() OVER (PARTITION BY trade_id ORDER BY rowid) = 1
) AS s
WHERE NOT EXISTS (
    SELECT 1 FROM trades AS x
    WHERE x.ts BETWEEN $lo AND $hi
      AND x.symbol = $symbol AND x.category = $category AND x.trade_id = s.trade_id
);
