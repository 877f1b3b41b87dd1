-- 018: the counts that health, /metrics and the start caps read, kept as
-- the jobs change.
--
-- The health route counted the pending and processing rows and the jobs
-- finished in the last 24 hours on every request (p50 60 ms with 61,000
-- jobs pending, and it is public); /metrics counted the live rows by
-- type; every start counted its owner's live jobs and, when anonymous,
-- every anonymous caller's (30,000 rows a start once a backlog built up).
-- Their cost now depends on neither the backlog nor the stored jobs:
--
--   job_live              live rows (pending or processing) by type and
--                         anonymity, in shards by the writing session like
--                         008's counters (sum the shards; one shard may be
--                         negative, their sum cannot);
--   job_owner_live        live rows of each owner: 'u' || user_id, else
--                         'c' || client (rows at 0 are dropped by the
--                         maintenance pass);
--   job_finished_minutes  the jobs finished in each minute, and in each
--   job_finished_hours    hour (the last 25 hours; the maintenance pass
--                         drops older ones): completed, failed other than
--                         INVALID_INPUT, all finished, and the completed
--                         ones' processing seconds, by the minute and
--                         hour (UTC's) each finished row finished in: a
--                         retry or a delete takes the row out again, so
--                         they count the rows as the health route used
--                         to.  Health sums the whole hours of its 24 h
--                         window and the minutes at its two ends: at most
--                         ~570 rows, exact to the minute.
--
-- Rows enter the jobs table by INSERT and leave it by DELETE or TRUNCATE,
-- from any writer (the programs, storyjobsctl, an operator's SQL): the
-- statement-level triggers below count those.  A row leaves the live set
-- by an UPDATE only when it finishes, and comes back only when retried:
-- the statements that do either (lib/counters.h COUNTED) count it
-- themselves, which costs a claim nothing (pending and
-- processing are both live; the processing rows are counted directly,
-- bounded by the workers' slots).  A status changed by hand is counted by
-- none of them: the maintenance pass recounts every 10 minutes, and
-- `storyjobsctl recount` (jobs_live_recount below) does it at once,
-- while everything runs.
--
-- The oldest due pending job, the one health figure that is not a count,
-- is read through jobs_due_idx: one index entry.  jobs_client_live_idx
-- served only the anonymous caps and goes.

CREATE TABLE job_live (
    type  text COLLATE "C" NOT NULL,
    anon  boolean  NOT NULL,
    shard smallint NOT NULL CHECK (shard BETWEEN 0 AND 15),
    n     bigint   NOT NULL,
    PRIMARY KEY (type, anon, shard)
) WITH (fillfactor = 50);

CREATE TABLE job_owner_live (
    owner text COLLATE "C" PRIMARY KEY,
    n     bigint NOT NULL
) WITH (fillfactor = 50);

CREATE TABLE job_finished_minutes (
    minute    timestamptz NOT NULL,
    shard     smallint NOT NULL CHECK (shard BETWEEN 0 AND 3),
    completed bigint   NOT NULL,
    failed    bigint   NOT NULL,
    finished  bigint   NOT NULL,
    timed     bigint   NOT NULL,
    timed_s   float8   NOT NULL,
    PRIMARY KEY (minute, shard)
) WITH (fillfactor = 50);

CREATE TABLE job_finished_hours (LIKE job_finished_minutes INCLUDING ALL)
    WITH (fillfactor = 50);
ALTER TABLE job_finished_hours RENAME COLUMN minute TO hour;

-- The one writer of the counts: the programs' statements that finish or
-- retry jobs (lib/counters.h COUNTED) and the triggers below call it.
-- Rows come as arrays, one element per row: the live part (type, user,
-- client) adds live (1 or -1) to job_live and job_owner_live; the
-- finished part (status, error code, started, completed) adds fin (1 or
-- -1) to the minute and hour (UTC's) each row finished in, if that was
-- within 25 hours.  It takes the tables in one order (job_live,
-- job_owner_live, the minutes, the hours) and each table's rows in key
-- order, so no two callers deadlock on them.  A NULL part is skipped.
CREATE FUNCTION jobs_count(l_type text[], l_user bigint[], l_client text[],
                           live integer, f_status text[], f_code text[],
                           f_started timestamptz[], f_done timestamptz[],
                           fin integer)
    RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF l_type IS NOT NULL THEN
        INSERT INTO job_live AS l (type, anon, shard, n)
        SELECT t, u IS NULL AND c IS NOT NULL, pg_backend_pid() % 16,
               live * count(*)
          FROM unnest(l_type, l_user, l_client) AS x (t, u, c)
         GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (type, anon, shard) DO UPDATE
           SET n = l.n + excluded.n;
        INSERT INTO job_owner_live AS o (owner, n)
        SELECT coalesce('u' || u, 'c' || c), live * count(*)
          FROM unnest(l_type, l_user, l_client) AS x (t, u, c)
         WHERE u IS NOT NULL OR c IS NOT NULL
         GROUP BY 1 ORDER BY 1
            ON CONFLICT (owner) DO UPDATE SET n = o.n + excluded.n;
    END IF;
    IF f_status IS NULL THEN
        RETURN;
    END IF;
    WITH a AS (
        SELECT date_trunc('minute', c, 'UTC') AS minute,
               pg_backend_pid() % 4 AS shard,
               fin * count(*) FILTER (WHERE s = 'completed') AS completed,
               fin * count(*) FILTER (WHERE s = 'failed' AND e
                                      IS DISTINCT FROM 'INVALID_INPUT')
                   AS failed,
               fin * count(*) AS finished,
               fin * count(*) FILTER (WHERE s = 'completed'
                                      AND b IS NOT NULL) AS timed,
               fin * coalesce(sum(date_part('epoch', c - b))
                              FILTER (WHERE s = 'completed'), 0) AS timed_s
          FROM unnest(f_status, f_code, f_started, f_done) AS u (s, e, b, c)
         WHERE c > now() - interval '25 hours'
         GROUP BY 1),
    m AS (
        INSERT INTO job_finished_minutes AS m
        SELECT * FROM a ORDER BY minute
            ON CONFLICT (minute, shard) DO UPDATE
           SET completed = m.completed + excluded.completed,
               failed = m.failed + excluded.failed,
               finished = m.finished + excluded.finished,
               timed = m.timed + excluded.timed,
               timed_s = m.timed_s + excluded.timed_s
        RETURNING 1)
    INSERT INTO job_finished_hours AS h
    SELECT date_trunc('hour', minute, 'UTC'), shard, sum(completed),
           sum(failed), sum(finished), sum(timed), sum(timed_s)
      FROM a WHERE (SELECT count(*) FROM m) >= 0
     GROUP BY 1, 2 ORDER BY 1
        ON CONFLICT (hour, shard) DO UPDATE
       SET completed = h.completed + excluded.completed,
           failed = h.failed + excluded.failed,
           finished = h.finished + excluded.finished,
           timed = h.timed + excluded.timed,
           timed_s = h.timed_s + excluded.timed_s;
END
$$;

-- The rows a statement inserted or deleted (both triggers name their
-- transition table t).  A row inserted finished (an import, a test)
-- counts in the minute it finished; deleting a finished row takes it
-- out of its minute, as a retry does.
CREATE FUNCTION jobs_live_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sign integer := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    PERFORM jobs_count(
        array_agg(type) FILTER (WHERE status IN ('pending', 'processing')),
        array_agg(user_id) FILTER (WHERE status IN ('pending', 'processing')),
        array_agg(client) FILTER (WHERE status IN ('pending', 'processing')),
        sign,
        array_agg(status) FILTER (WHERE status NOT IN ('pending', 'processing')),
        array_agg(error_code) FILTER (WHERE status NOT IN ('pending', 'processing')),
        array_agg(started_at) FILTER (WHERE status NOT IN ('pending', 'processing')),
        array_agg(completed_at) FILTER (WHERE status NOT IN ('pending', 'processing')),
        sign)
      FROM t;
    RETURN NULL;
END
$$;

CREATE FUNCTION jobs_live_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM job_live;
    DELETE FROM job_owner_live;
    DELETE FROM job_finished_minutes;
    DELETE FROM job_finished_hours;
    RETURN NULL;
END
$$;

-- Sets job_live and job_owner_live to what the rows say, without
-- stopping anyone: one statement compares the rows and the counts under
-- one snapshot and adds the difference, so the changes committed after
-- that snapshot (each counted by its own statement) stay counted.  One
-- recount at a time (two would each add the difference).  Returns how
-- many counts were wrong.
CREATE FUNCTION jobs_live_recount() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    a bigint;
    b bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1936355180, 0);
    WITH fix AS (
        INSERT INTO job_live AS l (type, anon, shard, n)
        SELECT coalesce(r.type, c.type), coalesce(r.anon, c.anon), 0,
               coalesce(r.n, 0) - coalesce(c.n, 0)
          FROM (SELECT type, user_id IS NULL AND client IS NOT NULL AS anon,
                       count(*) AS n
                  FROM jobs WHERE status IN ('pending', 'processing')
                 GROUP BY 1, 2) r
          FULL JOIN (SELECT type, anon, sum(n) AS n FROM job_live
                      GROUP BY 1, 2) c
            ON c.type = r.type AND c.anon = r.anon
         WHERE coalesce(r.n, 0) <> coalesce(c.n, 0)
         ORDER BY 1, 2
            ON CONFLICT (type, anon, shard) DO UPDATE SET n = l.n + excluded.n
        RETURNING 1)
    SELECT count(*) INTO a FROM fix;
    WITH fix AS (
        INSERT INTO job_owner_live AS o (owner, n)
        SELECT coalesce(r.owner, c.owner), coalesce(r.n, 0) - coalesce(c.n, 0)
          FROM (SELECT coalesce('u' || user_id, 'c' || client) AS owner,
                       count(*) AS n
                  FROM jobs WHERE status IN ('pending', 'processing')
                   AND (user_id IS NOT NULL OR client IS NOT NULL)
                 GROUP BY 1) r
          FULL JOIN job_owner_live c ON c.owner = r.owner
         WHERE coalesce(r.n, 0) <> coalesce(c.n, 0)
         ORDER BY 1
            ON CONFLICT (owner) DO UPDATE SET n = o.n + excluded.n
        RETURNING 1)
    SELECT count(*) INTO b FROM fix;
    RETURN a + b;
END
$$;

-- The maintenance pass recounts every 10 minutes (whoever runs it first
-- after that): the counts come right on their own after what no
-- statement counts, e.g. the jobs the previous release's programs
-- finish between `storyjobsctl migrate` and their restart, or a status
-- changed by hand.
CREATE TABLE job_count_state (
    one          boolean PRIMARY KEY DEFAULT true CHECK (one),
    recounted_at timestamptz NOT NULL
);
INSERT INTO job_count_state (recounted_at) VALUES (now());

CREATE FUNCTION jobs_live_recount_due() RETURNS bigint
    LANGUAGE plpgsql AS $$
BEGIN
    UPDATE job_count_state SET recounted_at = now()
     WHERE recounted_at < now() - interval '10 minutes';
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    RETURN jobs_live_recount();
END
$$;

-- The triggers first: they lock out writers until this migration
-- commits, so the count below reads a table no one changes meanwhile.
CREATE TRIGGER jobs_live_inserted AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS t
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_live_changed();
CREATE TRIGGER jobs_live_deleted AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS t
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_live_changed();
CREATE TRIGGER jobs_live_truncated AFTER TRUNCATE ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_live_truncated();

SELECT jobs_live_recount();

SELECT jobs_count(NULL, NULL, NULL, 0, array_agg(status), array_agg(error_code),
                  array_agg(started_at), array_agg(completed_at), 1)
  FROM jobs
 WHERE status IN ('completed', 'failed', 'cancelled')
   AND completed_at > now() - interval '25 hours';

CREATE INDEX jobs_due_idx ON jobs (run_at) WHERE status = 'pending';

DROP INDEX jobs_client_live_idx;
