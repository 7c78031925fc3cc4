-- One Optuna study header from the registered one-row frame _gl_rs.
INSERT INTO studies BY NAME SELECT * FROM _gl_rs;
