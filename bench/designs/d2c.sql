-- Design 2c: jobs_ready only, no way to find processing jobs but a scan
-- of jobs: the bound of what HOT updates of the record can give.
SELECT 1;
