-- Bulk insert of trades from the registered relation _gl_in (no repeated ids inside it).
-- The key (symbol, category, trade_id) is enforced here: ids already stored in the batch's
-- time span [$lo, $hi] are skipped.
INSERT INTO trades
SELECT s.symbol, s.category, s.ts, s.price, s.size, s.side, s.trade_id, s.seq
FROM (
    SELECT CAST(symbol AS VARCHAR) AS symbol, CAST(category AS VARCHAR) AS category,
           CAST(ts AS BIGINT) AS ts, CAST(price AS DOUBLE) AS price,
           CAST(size AS DOUBLE) AS size, CAST(side AS VARCHAR) AS side,
           CAST(trade_id AS VARCHAR) AS trade_id, CAST(seq AS BIGINT) AS seq
    FROM _gl_in
) AS s
WHERE NOT EXISTS (
    SELECT 1 FROM trades AS x
    WHERE x.ts BETWEEN $lo AND $hi
      AND x.symbol = s.symbol AND x.category = s.category AND x.trade_id = s.trade_id
);
