-- 020: a job start counts its own row.
--
-- 018's statement trigger on INSERT counted every new row: a PL/pgSQL
-- trigger reading its transition table into arrays, then jobs_count()'s
-- set-based upserts, planned for a batch, run for one row.  In a start
-- of the API (019's jobs_start) that was the largest single cost: perf
-- over 50 sessions of 50 users calling jobs_start() through pgbench put
-- 19 % of the machine's CPU in the AFTER trigger alone; without any
-- counting a start ran 1.28x as fast.  Now:
--
--   jobs_count()   counts a single row with two single-row upserts (the
--                  same rows, the same lock order: job_live, then
--                  job_owner_live), a batch as before;
--   jobs_start()   counts the row it inserted itself, through
--                  jobs_count(), and its INSERT runs with the setting
--                  storyjobs.inserts_counted on (local to the
--                  transaction, set back to the caller's value right
--                  after), which the trigger's WHEN reads: the trigger
--                  is not run.
--
-- Every other writer (the programs' other inserts, storyjobsctl, an
-- operator's SQL) is counted by the trigger as before.  Whoever turns
-- the setting on for an INSERT of their own takes the count on
-- themselves: the maintenance pass's recount (every 10 minutes, or
-- `storyjobsctl recount`) corrects it otherwise.
--
-- Measured here, pgbench, jobs_start() and a notice per transaction, runs
-- of 8 s alternating with 019's: 50 users at 50 clients 2,530-2,690 ->
-- 3,050-3,080 starts/s; one client at 50 connections 1,520-1,560 ->
-- 1,730-1,780.  Through nginx (./dev bench, two FastCGI processes) the
-- gain is within the runs' spread (50 users 2,198 -> 2,237 starts/s):
-- there each process's round trips bound the rate, 17 % of the CPU idle.

-- jobs_count() of 018, with the single row's path first.
CREATE OR REPLACE FUNCTION jobs_count(
    l_type text[], l_user bigint[], l_client text[], live integer,
    f_status text[], f_code text[], f_started timestamptz[],
    f_done timestamptz[], fin integer)
    RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(l_type) = 1 THEN
        INSERT INTO job_live AS l (type, anon, shard, n)
        VALUES (l_type[1], l_user[1] IS NULL AND l_client[1] IS NOT NULL,
                pg_backend_pid() % 16, live)
            ON CONFLICT (type, anon, shard) DO UPDATE
           SET n = l.n + excluded.n;
        IF l_user[1] IS NOT NULL OR l_client[1] IS NOT NULL THEN
            INSERT INTO job_owner_live AS o (owner, n)
            VALUES (coalesce('u' || l_user[1], 'c' || l_client[1]), live)
                ON CONFLICT (owner) DO UPDATE SET n = o.n + excluded.n;
        END IF;
    ELSIF l_type IS NOT NULL THEN
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

-- jobs_start() of 019; the INSERT is counted here, not by the trigger.
CREATE OR REPLACE FUNCTION jobs_start(
    p_id text, p_type text, p_priority smallint, p_max_attempts integer,
    p_timeout_s integer, p_input jsonb, p_key text, p_digest bytea,
    u bigint, c text, cap bigint, anon_max bigint, rc text, lim integer,
    win integer, OUT outcome text, OUT retry_after integer, OUT job jobs)
    LANGUAGE plpgsql AS $$
DECLARE
    counted text := current_setting('storyjobs.inserts_counted', true);
BEGIN
    PERFORM jobs_owner_lock(u, c);
    -- Twice at most: when the INSERT meets the key's row, a start of the
    -- same key under no lock (no owner) came first, and its job is read.
    FOR i IN 1..2 LOOP
        IF p_key IS NOT NULL THEN
            SELECT * INTO job FROM jobs j
             WHERE coalesce(j.user_id, 0) = coalesce(u, 0)
               AND coalesce(j.client, '') = coalesce(c, '')
               AND j.type = p_type AND j.idempotency_key = p_key;
            IF FOUND THEN
                outcome := CASE WHEN job.input_digest IS NULL
                                  OR job.input_digest = p_digest
                                THEN 'reused' ELSE 'differs' END;
                RETURN;
            END IF;
        END IF;
        -- that start rolled back: refused, as before 019
        outcome := 'quota';
        EXIT WHEN i = 2;
        SELECT a.outcome, a.retry_after INTO outcome, retry_after
          FROM jobs_admit(u, c, cap, anon_max, rc, lim, win) a;
        EXIT WHEN outcome IS NOT NULL;
        PERFORM set_config('storyjobs.inserts_counted', 'on', true);
        INSERT INTO jobs (id, type, priority, max_attempts, timeout_s, input,
                          idempotency_key, input_digest, user_id, client)
        VALUES (p_id, p_type, p_priority, p_max_attempts, p_timeout_s,
                p_input, p_key, p_digest, u, c)
        ON CONFLICT (coalesce(user_id, 0), coalesce(client, ''), type,
                     idempotency_key) WHERE idempotency_key IS NOT NULL
        DO NOTHING
        RETURNING * INTO job;
        PERFORM set_config('storyjobs.inserts_counted',
                           coalesce(counted, ''), true);
        IF job.id = p_id THEN
            PERFORM jobs_count(ARRAY[p_type], ARRAY[u], ARRAY[c], 1,
                               NULL, NULL, NULL, NULL, 0);
            outcome := 'created';
            RETURN;
        END IF;
    END LOOP;
END
$$;

-- The trigger runs unless the inserting statement counts its rows.
-- Replaced in place: SHARE ROW EXCLUSIVE, so readers of jobs (health, a
-- status read) go on while the migration holds it (DROP TRIGGER would
-- take ACCESS EXCLUSIVE).
CREATE OR REPLACE TRIGGER jobs_live_inserted AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS t
    FOR EACH STATEMENT
    WHEN (current_setting('storyjobs.inserts_counted', true)
          IS DISTINCT FROM 'on')
    EXECUTE FUNCTION jobs_live_changed();
