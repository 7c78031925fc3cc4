-- Bulk insert into portfolio_fills from the registered frame _gl_bt.
INSERT INTO portfolio_fills BY NAME SELECT * FROM _gl_bt;
