-- One trial of a study.
SELECT trial, params, metrics, feasible FROM study_trials
WHERE study_id = $study_id AND trial = $trial;
