-- Design 2b: jobs_ready, and the lease expiry through one index on jobs
-- that names no status: the claim sets lease_expires_at and the
-- completion clears it, so on PostgreSQL 15 both updates are non-HOT
-- (a BRIN index, which PostgreSQL 16 lets HOT updates skip, would not be).
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at)
    WHERE lease_expires_at IS NOT NULL;
