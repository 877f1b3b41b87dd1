-- 017: provider rate limits shared by every worker, and what jobs used.
--
-- A provider's limits (OPENAI_CHAT_RPM, OPENAI_CHAT_TPM,
-- OPENAI_IMAGE_IPM) hold for all workers on all hosts together, so the
-- budget is a row here, taken in one statement (lib/budget.c).  The
-- promise is the provider's own: at most N calls in ANY 60 s, a sliding
-- window.  A token bucket of a minute's size would let N calls through at
-- once and N more over the next minute as it refills: 2N in a window.
-- So the budget is GCRA with no burst: each unit of a limit of N per
-- minute occupies 60/N s; a limit's tat (theoretical arrival time) is
-- when the units taken so far have been paid for, a take is admitted
-- only when tat <= now and moves tat to now + cost * 60/N s.  Calls
-- (cost 1) are therefore spaced at least 60/N s apart: N+1 of them span
-- 60 s or more, never fewer.  A take of cost c > 1 (tokens, images of
-- one call) pays its time after it: any 60 s window holds less than N
-- units before its last take, plus that take's c.  No refused take
-- writes anything; the caller waits the time the statement names.
--
-- One row per provider holds all its limits (tat_requests, tat_tokens,
-- tat_images) and its pause: a chat call takes a request and its
-- tokens, both or neither, and one row makes that one atomic upsert
-- whose ON CONFLICT update sees the newest row however many workers
-- take at once.  paused_until is set from a 429's Retry-After, as this
-- database's now() plus its length (one clock: a worker host's skew
-- never moves it), and only ever moves later; every take waits for it,
-- limits on or off.  A
-- provider with no limit set and never paused has no row: its takes
-- only read.
--
-- budget_reserve() is the worker's way in (lib/budget.h): instead of
-- refusing, it books the call's next free slot in advance, tat =
-- greatest(tat, now, paused_until) + cost * interval, and answers how
-- far ahead that slot starts, so a job waiting for budget is deferred to
-- its own instant rather than with every other waiting job to the same
-- one.  A slot further ahead than the caller allows is not booked (the
-- answer is negative: come back then).  The caller passes each limit as
-- its interval per unit, so it may keep a margin over the provider's own
-- (a call late by milliseconds must not make N+1 in a window).  A pause
-- set after a booking does not move it: the worker checks paused_until
-- against the booked instant before using it, and books again.
--
-- Usage: each job's tokens (prompt, completion) and images are columns
-- of the job, added by the statement that also adds them to
-- usage_totals (by type, sharded by session like 008's counters, for
-- /metrics) and usage_by_user (by user and type, for the admin stats'
-- top users; not sharded: it is read by one admin at a time, and a
-- user's own jobs rarely add at the same moment).  Neither ever scans
-- jobs, and pruning jobs leaves the sums alone.  Jobs from before this
-- migration count zero.

CREATE TABLE provider_budget (
    provider     text COLLATE "C" PRIMARY KEY,
    tat_requests timestamptz NOT NULL DEFAULT '-infinity',
    tat_tokens   timestamptz NOT NULL DEFAULT '-infinity',
    tat_images   timestamptz NOT NULL DEFAULT '-infinity',
    paused_until timestamptz NOT NULL DEFAULT '-infinity'
);

ALTER TABLE jobs
    ADD COLUMN tokens_in  bigint NOT NULL DEFAULT 0 CHECK (tokens_in >= 0),
    ADD COLUMN tokens_out bigint NOT NULL DEFAULT 0 CHECK (tokens_out >= 0),
    ADD COLUMN images     bigint NOT NULL DEFAULT 0 CHECK (images >= 0);

CREATE TABLE usage_totals (
    type       text COLLATE "C" NOT NULL,
    shard      smallint NOT NULL CHECK (shard BETWEEN 0 AND 15),
    tokens_in  bigint NOT NULL CHECK (tokens_in >= 0),
    tokens_out bigint NOT NULL CHECK (tokens_out >= 0),
    images     bigint NOT NULL CHECK (images >= 0),
    PRIMARY KEY (type, shard)
) WITH (fillfactor = 50);

-- user_id 0: anonymous jobs.
CREATE TABLE usage_by_user (
    user_id    bigint NOT NULL,
    type       text COLLATE "C" NOT NULL,
    tokens_in  bigint NOT NULL CHECK (tokens_in >= 0),
    tokens_out bigint NOT NULL CHECK (tokens_out >= 0),
    images     bigint NOT NULL CHECK (images >= 0),
    PRIMARY KEY (user_id, type)
) WITH (fillfactor = 50);

-- Books the next slot of a call (each limit's interval per unit in
-- seconds, 0: that limit is off; its cost in units) at p_now: 0 when the
-- slot is now, > 0 the ms until it starts (booked), < 0 minus the ms
-- until it would be within p_ahead_ms (nothing booked).  All limits
-- off: only the pause is read, nothing is booked or written.
CREATE FUNCTION budget_reserve(p_provider text, p_iv_req float8,
                               p_req bigint, p_iv_tok float8, p_tok bigint,
                               p_iv_img float8, p_img bigint,
                               p_now timestamptz, p_ahead_ms bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r provider_budget;
    on_r boolean := p_iv_req > 0 AND p_req > 0;
    on_t boolean := p_iv_tok > 0 AND p_tok > 0;
    on_i boolean := p_iv_img > 0 AND p_img > 0;
    start timestamptz;
    ms float8;
BEGIN
    IF NOT (on_r OR on_t OR on_i) THEN
        SELECT * INTO r FROM provider_budget WHERE provider = p_provider;
        IF NOT FOUND OR r.paused_until <= p_now THEN
            RETURN 0;
        END IF;
        RETURN -greatest(1, ceil(1000 * date_part('epoch',
                                                   r.paused_until - p_now)));
    END IF;
    INSERT INTO provider_budget (provider) VALUES (p_provider)
    ON CONFLICT (provider) DO NOTHING;
    SELECT * INTO r FROM provider_budget WHERE provider = p_provider
    FOR UPDATE;
    start := greatest(p_now, r.paused_until,
                      CASE WHEN on_r THEN r.tat_requests END,
                      CASE WHEN on_t THEN r.tat_tokens END,
                      CASE WHEN on_i THEN r.tat_images END);
    ms := 1000 * date_part('epoch', start - p_now);
    IF ms > p_ahead_ms THEN
        RETURN -greatest(1, ceil(ms - p_ahead_ms));
    END IF;
    UPDATE provider_budget SET
        tat_requests = CASE WHEN on_r THEN start + make_interval(
            secs => p_req * p_iv_req) ELSE tat_requests END,
        tat_tokens = CASE WHEN on_t THEN start + make_interval(
            secs => p_tok * p_iv_tok) ELSE tat_tokens END,
        tat_images = CASE WHEN on_i THEN start + make_interval(
            secs => p_img * p_iv_img) ELSE tat_images END
    WHERE provider = p_provider;
    RETURN ceil(ms);
END
$$;
