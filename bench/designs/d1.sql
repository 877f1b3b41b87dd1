-- Design 1: today's schema without the two indexes the claim and the
-- completion write besides jobs_pkey.  What they serve today:
-- jobs_processing_idx the lease expiry, timeouts and heartbeat renewal
-- (status = 'processing'); jobs_finished_idx pruning and the statistics
-- of finished jobs by completed_at.
DROP INDEX jobs_processing_idx, jobs_finished_idx;
