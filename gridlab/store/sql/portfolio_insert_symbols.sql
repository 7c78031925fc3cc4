-- Bulk insert into portfolio_symbols from the registered frame _gl_bt.
INSERT INTO portfolio_symbols BY NAME SELECT * FROM _gl_bt;
