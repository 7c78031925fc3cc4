-- Bulk insert into portfolio_equity from the registered frame _gl_bt.
INSERT INTO portfolio_equity BY NAME SELECT * FROM _gl_bt;
