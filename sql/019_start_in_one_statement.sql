-- 019: a job start of the API in one statement.
--
-- A start (lib/job_api.c job_start) was a transaction of six round trips:
-- BEGIN, the caller's start lock (016's jobs_owner_lock), the room left
-- under ANON_MAX_ACTIVE_TOTAL, the rate limit's hit, the INSERT, COMMIT.
-- The lock serializes one caller's starts, so a caller's start waited
-- for the round trips of every start of it ahead: 50 connections of one
-- client, 1,398 starts/s, p99 43 ms, 0.72 ms a start under the lock.
-- jobs_start() below runs the same
-- steps in the server, in one statement sent in autocommit: one round
-- trip, and nothing under the lock waits on the network (pgbench, one
-- client, this machine: 0.78 ms a start as a transaction, 0.46 ms as the
-- function; ./dev bench, one client at 50 connections: 1,961 starts/s,
-- p99 34 ms).  The new-job notice still goes in a transaction of its own
-- after it (lib/db.h db_exec_then), in the same round trip.
--
-- Order inside: the lock; an Idempotency-Key seen before gives back its
-- job; the anonymous room; the caller's cap; the rate hit; the INSERT.
-- Every refusal comes before the one write that can refuse (the rate
-- hit, which writes only when it admits), so a refused start writes
-- nothing and spends no rate, as the transaction's ROLLBACK made sure.
--
-- The counts the steps read are 018's.  The API's retry (lib/job_api.c)
-- is admitted by the same jobs_admit() inside its transaction, whose
-- UPDATE counts the row through lib/counters.h; a retry is rare.

-- One hit of key k against at most lim hits per fixed window of win
-- seconds (lib/ratelimit.c): 0 when admitted and counted, else the
-- seconds until the window ends (>= 1), and nothing counted.  The window
-- comes from the server's clock, so every process agrees on it.  The
-- upsert admits under the row's lock (ON CONFLICT ... WHERE), so hits
-- at once from sessions under no common lock never admit more than lim.
-- The key's finished windows, and any key's older than a day, are
-- deleted on the way: the table stays small without a sweeper, and a
-- window is at most a day (the settings' bound; others are an error).
CREATE FUNCTION rate_limit_hit(k text, lim integer, win integer)
    RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    w timestamptz;
    got bigint;
BEGIN
    IF win IS NULL OR win NOT BETWEEN 1 AND 86400 THEN
        RAISE EXCEPTION 'rate_limit_hit: window of % s, not 1 to 86400', win
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    w := to_timestamp(floor(extract(epoch FROM now()) / win) * win);
    DELETE FROM rate_limits WHERE window_start < w
       AND (key = k OR window_start < now() - interval '1 day');
    IF lim > 0 THEN
        INSERT INTO rate_limits AS r (key, window_start, count)
        VALUES (k, w, 1)
        ON CONFLICT (key, window_start) DO UPDATE SET count = r.count + 1
         WHERE r.count < lim
        RETURNING count INTO got;
    END IF;
    IF got IS NOT NULL THEN
        RETURN 0;
    END IF;
    RETURN greatest(1, ceil(extract(epoch FROM w + make_interval(secs => win)
                                               - now())))::integer;
END
$$;

-- Whether owner u (user), else c (anonymous client), may have one more
-- live job, and an anonymous caller rc may start one: the owner's start
-- lock (016, re-entrant: held to the transaction's end), the room under
-- ANON_MAX_ACTIVE_TOTAL (anon_max, 0: none) for an anonymous owner, the
-- owner's cap (NULL: none), then rc's hit of its rate limit (lim per win
-- seconds, 0: none).  outcome is NULL when admitted, else the first of
--   busy   ANON_MAX_ACTIVE_TOTAL reached: retry_after 30 seconds
--   quota  the owner is at its cap
--   rate   rc's rate limit; retry_after seconds
-- The rate hit is the one write, and comes last: a refused caller
-- spends nothing (a caller at its cap gets 403, not 429: before 019 the
-- rate limit's 429 came first).  jobs_start() admits its starts through
-- it, the API's retry (lib/job_api.c) its retries.  The counts are read
-- here, not through SQL functions: those would be planned anew in every
-- transaction (PL/pgSQL keeps its statements' plans for the session).
CREATE FUNCTION jobs_admit(u bigint, c text, cap bigint, anon_max bigint,
                           rc text, lim integer, win integer,
                           OUT outcome text, OUT retry_after integer)
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM jobs_owner_lock(u, c);
    IF u IS NULL AND anon_max > 0 AND
       (SELECT coalesce(sum(n), 0) FROM job_live WHERE anon) >= anon_max THEN
        outcome := 'busy';
        retry_after := 30;
    ELSIF cap IS NOT NULL AND
          coalesce((SELECT n FROM job_owner_live
                     WHERE owner = CASE WHEN u IS NOT NULL THEN 'u' || u
                                        ELSE 'c' || c END), 0) >= cap THEN
        outcome := 'quota';
    ELSIF rc IS NOT NULL AND lim > 0 THEN
        retry_after := rate_limit_hit('job-start:' || rc, lim, win);
        IF retry_after > 0 THEN
            outcome := 'rate';
        END IF;
    END IF;
END
$$;

-- A start: the job (id, type, priority, max attempts, timeout, input,
-- Idempotency-Key and the input's SHA-256) of user u, else of anonymous
-- client c, else of no one (storyjobsctl, the library's own callers: no
-- lock, no cap), admitted by jobs_admit() (the same arguments; rc, the
-- caller its rate limit counts, is c or none).  outcome is jobs_admit()'s
-- refusal, or one of
--   created   job is the new row
--   reused    job is the key's earlier job, started with this input
--   differs   the key's earlier job was started with another input
CREATE FUNCTION jobs_start(p_id text, p_type text, p_priority smallint,
                           p_max_attempts integer, p_timeout_s integer,
                           p_input jsonb, p_key text, p_digest bytea,
                           u bigint, c text, cap bigint, anon_max bigint,
                           rc text, lim integer, win integer,
                           OUT outcome text, OUT retry_after integer,
                           OUT job jobs)
    LANGUAGE plpgsql AS $$
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
        INSERT INTO jobs (id, type, priority, max_attempts, timeout_s, input,
                          idempotency_key, input_digest, user_id, client)
        VALUES (p_id, p_type, p_priority, p_max_attempts, p_timeout_s,
                p_input, p_key, p_digest, u, c)
        ON CONFLICT (coalesce(user_id, 0), coalesce(client, ''), type,
                     idempotency_key) WHERE idempotency_key IS NOT NULL
        DO NOTHING
        RETURNING * INTO job;
        IF FOUND THEN
            outcome := 'created';
            RETURN;
        END IF;
    END LOOP;
END
$$;
