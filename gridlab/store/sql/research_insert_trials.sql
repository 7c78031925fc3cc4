-- The trials of one study from the registered frame _gl_rs.
INSERT INTO study_trials BY NAME SELECT * FROM _gl_rs;
