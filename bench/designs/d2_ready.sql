-- Designs 2a-2c, the common part: the pending jobs' claim key moves to
-- jobs_ready, a small insert-and-delete table beside the job record
-- (solid_queue's ready_executions).  Every index of jobs whose key or
-- predicate names a column the claim or the completion writes goes
-- (status, lease_*, completed_at): PostgreSQL 15 makes an update HOT
-- only when no indexed column (key or predicate) changes.  Left on jobs:
-- jobs_pkey, jobs_user_idx (user_id, created_at, id), jobs_idempotency_idx,
-- none of which the queue writes after the insert.  fillfactor 70 (001)
-- leaves the room a HOT update needs on the page.
-- (IF EXISTS: 018 drops jobs_client_live_idx and adds jobs_due_idx, run_at
-- of the pending jobs, which would go to jobs_ready as well.)
DROP INDEX IF EXISTS jobs_claim_idx, jobs_processing_idx, jobs_finished_idx,
    jobs_fair_user_idx, jobs_fair_client_idx, jobs_client_live_idx,
    jobs_due_idx;
-- Pending jobs only; no primary key: a cancel or retry finds its row by
-- the claim key, which the job record holds (type, priority, fair_at, id).
CREATE TABLE jobs_ready (
    id       job_id      NOT NULL,
    type     text        COLLATE "C" NOT NULL,
    priority smallint    NOT NULL,
    fair_at  timestamptz NOT NULL,
    run_at   timestamptz NOT NULL,
    user_id  bigint,
    client   text        COLLATE "C"
) WITH (autovacuum_vacuum_scale_factor = 0.01,
        autovacuum_vacuum_cost_delay = 1);
CREATE INDEX jobs_ready_claim_idx ON jobs_ready (type, priority, fair_at, id);
-- fair share's owner tags (016's jobs_fair_user_idx/jobs_fair_client_idx)
CREATE INDEX jobs_ready_user_idx ON jobs_ready (user_id, priority, fair_at)
    WHERE user_id IS NOT NULL;
CREATE INDEX jobs_ready_client_idx ON jobs_ready (client, priority, fair_at)
    WHERE client IS NOT NULL;
