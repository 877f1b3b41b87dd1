-- Designs 5 and 5f: the claim writes only the side tables.  jobs_ready as
-- in 2a; jobs_claimed holds the lease (owner, epoch, expiry, claim time):
-- a job is processing while it has a row there, and the record is written
-- once after its insert, by the completion (HOT when the page has room).
CREATE TABLE jobs_claimed (
    id               job_id      PRIMARY KEY,
    lease_owner      text        COLLATE "C" NOT NULL,
    lease_epoch      bigint      NOT NULL,
    lease_expires_at timestamptz NOT NULL,
    claimed_at       timestamptz NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0.01,
        autovacuum_vacuum_cost_delay = 1);
