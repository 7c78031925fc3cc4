-- Synthetic trades from the registered arrays _gl_syn (ts, price, size, buy, seq) into the
-- scratch table: the span was checked empty (or is cleared before publishing), so ids
-- 'syn<seed>-<ts>-<seq>' cannot repeat.
INSERT INTO synth_stage.trades
SELECT $symbol, $category, ts, price, size, CASE WHEN buy THEN 'Buy' ELSE 'Sell' END,
       $prefix || ts || '-' || seq, seq
FROM _gl_syn;
