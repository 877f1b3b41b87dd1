-- 004: storybooks, the saved output of storybook and auto-story jobs.
--
-- One storybook per job (the unique job_id index makes the worker's save
-- idempotent across retries).  Ids are unguessable ('sb_' + 26 base32
-- characters from RAND_bytes): knowing one is the capability to read it.

CREATE TABLE storybooks (
    id          text        PRIMARY KEY CHECK (id ~ '^sb_[a-z0-9]+$'),
    user_id     bigint      REFERENCES users (id) ON DELETE CASCADE,
    job_id      text,
    title       text        NOT NULL,
    audience    text        NOT NULL,
    pages       jsonb       NOT NULL DEFAULT '[]',
    has_errors  boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX storybooks_job_idx ON storybooks (job_id)
    WHERE job_id IS NOT NULL;
CREATE INDEX storybooks_user_idx ON storybooks (user_id, created_at DESC)
    WHERE user_id IS NOT NULL;
