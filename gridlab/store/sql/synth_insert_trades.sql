-- Synthetic trades from the registered Arrow table _gl_syn (ts, price, size, buy, seq): the
-- span was checked empty (or cleared) before, so ids 'syn<seed>-<ts>-<seq>' cannot repeat.
INSERT INTO trades
SELECT $symbol, $category, ts, price, size, CASE WHEN buy THEN 'Buy' ELSE 'Sell' END,
       $prefix || ts || '-' || seq, seq
FROM _gl_syn;
