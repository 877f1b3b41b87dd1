-- 001: the jobs table and the worker heartbeat table.
--
-- Only live jobs (pending, processing) sit in the partial indexes the
-- queue uses, so claiming and lease expiry stay O(log live) however many
-- finished jobs the table holds; status reads go through the primary key.

CREATE TABLE jobs (
    id               text        PRIMARY KEY
                                 CHECK (id ~ '^job_[0-9]+_[a-z0-9]+$'),
    type             text        NOT NULL
                                 CHECK (type IN ('storybook', 'auto-story', 'scenes',
                                                 'cartoonize', 'image-generation')),
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'processing', 'completed',
                                                   'failed', 'cancelled')),
    progress         smallint    NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    current_step     text,
    user_id          bigint,
    priority         smallint    NOT NULL DEFAULT 0,
    run_at           timestamptz NOT NULL DEFAULT now(),
    attempts         integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     integer     NOT NULL CHECK (max_attempts >= 1),
    rescues          integer     NOT NULL DEFAULT 0,
    timeout_s        integer     NOT NULL CHECK (timeout_s > 0),
    -- lease: who holds the job, until when, and the fence token of the claim
    lease_owner      text,
    lease_epoch      bigint      NOT NULL DEFAULT 0,
    lease_expires_at timestamptz,
    claimed_at       timestamptz,
    input            jsonb       NOT NULL,
    result           jsonb,
    checkpoint       jsonb,
    error_code       text,
    error_message    text,
    idempotency_key  text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    completed_at     timestamptz,
    CHECK (status <> 'processing' OR (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
) WITH (fillfactor = 70,
        autovacuum_vacuum_scale_factor = 0.01,
        autovacuum_analyze_scale_factor = 0.02,
        autovacuum_vacuum_cost_delay = 1);

-- Claiming: per type, by priority then due time, live rows only.
CREATE INDEX jobs_claim_idx ON jobs (type, priority, run_at, id)
    WHERE status = 'pending';
-- Lease expiry, timeouts and heartbeat renewal: processing rows only.
CREATE INDEX jobs_processing_idx ON jobs (lease_owner, lease_expires_at)
    WHERE status = 'processing';
-- A user's history, newest first, with a keyset cursor.
CREATE INDEX jobs_user_idx ON jobs (user_id, created_at DESC, id DESC)
    WHERE user_id IS NOT NULL;
-- Pruning and statistics over finished jobs.
CREATE INDEX jobs_finished_idx ON jobs (completed_at)
    WHERE status IN ('completed', 'failed', 'cancelled');
-- Idempotent starts: one job per (user or anonymous, key).
CREATE UNIQUE INDEX jobs_idempotency_idx
    ON jobs (coalesce(user_id, 0), idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE workers (
    id             text        PRIMARY KEY,
    host           text        NOT NULL,
    pid            integer     NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    last_heartbeat timestamptz NOT NULL DEFAULT now(),
    jobs_in_hand   integer     NOT NULL DEFAULT 0,
    mem_used_pct   smallint
);
