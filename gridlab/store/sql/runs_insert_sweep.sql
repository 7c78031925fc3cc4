-- Insert one sweep header from the registered one-row frame _gl_bt.
INSERT INTO sweeps BY NAME SELECT * FROM _gl_bt;
