-- Insert one portfolio run from the registered frame _gl_bt.
INSERT INTO portfolio_runs BY NAME SELECT * FROM _gl_bt;
