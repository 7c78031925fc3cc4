-- One walk-forward header + folds from the registered one-row frame _gl_rs.
INSERT INTO walkforwards BY NAME SELECT * FROM _gl_rs;
