-- Design 2a: jobs_ready plus jobs_claimed, the jobs in hand (solid_queue's
-- claimed_executions): inserted by the claim, deleted by the completion;
-- the lease expiry reads this small table (by a scan, or the index).
CREATE TABLE jobs_claimed (
    id               job_id      PRIMARY KEY,
    lease_owner      text        COLLATE "C" NOT NULL,
    lease_expires_at timestamptz NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0.01,
        autovacuum_vacuum_cost_delay = 1);
