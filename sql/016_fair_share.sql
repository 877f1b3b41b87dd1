-- 016: fair share between owners within a priority.
--
-- Claims used to go oldest-due first across everyone, so one user's ten
-- queued storybooks made another user's one picture wait for all of
-- them.  Each job now carries a start tag, fair_at (start-time fair
-- queuing), and the claim takes a type's pending jobs by (priority,
-- fair_at, id) through jobs_claim_idx, an index on the plain column:
-- still one index range scan, with run_at <= now() as a filter.
--
-- The tag is computed at insert by a BEFORE INSERT trigger, so every
-- inserter (the API, storyjobsctl, the benchmarks, a multi-row INSERT:
-- a row trigger sees the rows its statement inserted before) gets one.
-- The owner is the user (user_id), or an anonymous caller's client
-- (010); a job with neither has no owner and is tagged with its creation
-- time (first-in first-out among such jobs), or its run_at when later:
-- the column's default now() already is that tag for a row inserted
-- with the defaults, and the trigger's WHEN skips the function call
-- for it (a 20,000-row INSERT: 65-83 us a row with the call, 12-20
-- before 016).  An owner's job is tagged
--   greatest(now(), owner's latest tag among its pending jobs of that
--            priority + 1 hour / users.share)
-- so an owner with nothing queued starts at now(), and a backlog is
-- spread one virtual hour (divided by the owner's share) per job: a
-- newcomer's job lands before every backlog job tagged after now, i.e.
-- right behind what each other owner has at the head.  The hour only
-- has to be long compared with the time between arrivals: the tags of
-- a backlog then run ahead of the wall clock and the order is a
-- weighted round robin.  users.share (1..100, default 1; storyjobsctl
-- user share) is the weight: share 2 gets twice the claims of share 1
-- while both have jobs queued.  The API starts a caller's jobs behind
-- an advisory lock on the caller, so two of its starts never read the
-- same latest tag.
--
-- The tag of a pending row is never before its run_at: every
-- statement that moves run_at later (job_fail's backoff, job_defer,
-- job_release, the maintenance's rescue, a retry) sets fair_at =
-- greatest(fair_at, the new run_at) in the same UPDATE (lib/job.c,
-- lib/job_queue.c, lib/job_internal.h's JOB_RETRY_SET), so a row not yet
-- due never sits at the head of the index in front of due ones and the
-- claim's key is the plain column (an index on the expression
-- greatest(fair_at, run_at) made a claim 7-15% slower).  job_force
-- brings run_at back to now() and the tag to now() at the latest.
-- No trigger on UPDATE keeps it: any BEFORE ROW UPDATE trigger on jobs,
-- even one for
-- columns a statement does not set, makes PostgreSQL fetch and lock
-- every updated row once more (GetTupleForTrigger): a claim of 100 read
-- 1,320 buffers instead of 1,220, about a tenth of its rate.
--
-- A row not yet due is not its owner's latest tag (the lookup steps
-- over run_at > now()): a job deferred up to a day (a provider's
-- budget, a Retry-After) is tagged at its run_at but does not put the
-- owner's next jobs behind it; once due it counts again.
--
-- A retry (failed or cancelled back to pending: the API's, the admin's,
-- storyjobsctl's) is tagged as an insert is, behind the owner's pending
-- jobs (jobs_fair_retag, in lib/job_internal.h's JOB_RETRY_SET), under
-- the owner's start lock (jobs_owner_lock, the API's): a retry of k old
-- jobs would otherwise be k jobs at now(), ahead of every other owner's
-- second.
--
-- Tags chain per owner and priority, whichever order the workers claim
-- in (ENABLE_PRIORITY_PROCESSING is each process's setting; a tag is
-- fixed at insert and the trigger cannot see it).  In first-in
-- first-out mode the claim orders by the tag alone, so an owner's jobs
-- of one priority run in creation order, but jobs of different
-- priorities each start their own chain: an owner with jobs at k
-- priorities has k of them tagged near now, and its jobs of different
-- priorities interleave rather than run in creation order.  A job's
-- priority is its type's (JOB_<TYPE>_PRIORITY), so this is an owner
-- with jobs of k types of different priorities.  Chaining per owner
-- alone in both modes was rejected: in priority order it would charge
-- an owner's backlog of one priority to its jobs of another.
--
-- Finished rows keep the constant default (no table rewrite); new rows
-- default to now().  Existing pending rows are tagged here as if
-- inserted in creation order.

ALTER TABLE users ADD COLUMN share smallint NOT NULL DEFAULT 1
    CHECK (share BETWEEN 1 AND 100);

ALTER TABLE jobs ADD COLUMN fair_at timestamptz NOT NULL
    DEFAULT timestamptz '1970-01-01 00:00:00+00';
ALTER TABLE jobs ALTER COLUMN fair_at SET DEFAULT now();

UPDATE jobs j SET fair_at = greatest(j.run_at, s.tag)
  FROM (SELECT p.id, CASE WHEN coalesce(p.user_id::text, p.client) IS NULL
               THEN p.created_at
               ELSE p.first + (row_number() OVER w - 1) * interval '1 hour'
                    / coalesce((SELECT share FROM users u
                                 WHERE u.id = p.user_id), 1) END AS tag
          FROM (SELECT id, user_id, client, priority, created_at,
                       min(created_at) OVER (PARTITION BY user_id, client,
                                             priority) AS first
                  FROM jobs WHERE status = 'pending') p
        WINDOW w AS (PARTITION BY p.user_id, p.client, p.priority
                     ORDER BY p.created_at, p.id)) s
 WHERE j.id = s.id;

-- An owner's latest pending tag at a priority: one descent at insert.
CREATE INDEX jobs_fair_user_idx ON jobs (user_id, priority, fair_at)
    WHERE status = 'pending' AND user_id IS NOT NULL;
CREATE INDEX jobs_fair_client_idx ON jobs (client, priority, fair_at)
    WHERE status = 'pending' AND client IS NOT NULL;

-- The claim's key: the tag (never before run_at, see above).
DROP INDEX jobs_claim_idx;
CREATE INDEX jobs_claim_idx ON jobs (type, priority, fair_at, id)
    WHERE status = 'pending';

-- An owner's start lock, the API's (lib/job_api.c caller_lock): a
-- user's, else an anonymous client's; none for a job with no owner.
CREATE FUNCTION jobs_owner_lock(u bigint, c text) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    IF u IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(1936355178, (u % 2147483647)::int4);
    ELSIF c IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(1936355179, hashtext(c));
    END IF;
END
$$;

-- The next tag in the chain of owner (user u, else client c) at
-- priority p: its latest due pending tag + 1 hour / share, or NULL.
-- The latest tag is read backward from jobs_fair_user_idx or
-- jobs_fair_client_idx, the only paths with that order once sorting and
-- sequential scans are off: the function's plans are cached per session,
-- and one made while the table looked empty (a new install, a TRUNCATE)
-- walked jobs_claim_idx with a filter for every row (a 20,000-row INSERT
-- of one owner took 40-64 s instead of 0.5).  Rows not yet due are
-- stepped over (run_at <= now()): a deferred job is not the latest tag.
CREATE FUNCTION jobs_fair_next(u bigint, c text, p smallint)
    RETURNS timestamptz LANGUAGE plpgsql
    SET enable_seqscan = off SET enable_sort = off AS $$
DECLARE
    last timestamptz;
    w integer;
BEGIN
    IF u IS NOT NULL THEN
        SELECT fair_at INTO last FROM jobs WHERE status = 'pending'
           AND user_id = u AND priority = p AND run_at <= now()
         ORDER BY user_id DESC, priority DESC, fair_at DESC LIMIT 1;
        IF last IS NOT NULL THEN
            SELECT share INTO w FROM users WHERE id = u;
        END IF;
    ELSIF c IS NOT NULL THEN
        SELECT fair_at INTO last FROM jobs WHERE status = 'pending'
           AND client = c AND priority = p AND run_at <= now()
         ORDER BY client DESC, priority DESC, fair_at DESC LIMIT 1;
    END IF;
    RETURN last + interval '1 hour' / coalesce(w, 1);
END
$$;

CREATE FUNCTION jobs_fair_tag() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.fair_at := greatest(NEW.created_at, NEW.run_at,
                            jobs_fair_next(NEW.user_id, NEW.client,
                                           NEW.priority));
    RETURN NEW;
END
$$;
-- A row with no owner inserted with the defaults already has its tag.
CREATE TRIGGER jobs_fair_tag BEFORE INSERT ON jobs FOR EACH ROW
    WHEN (NEW.user_id IS NOT NULL OR NEW.client IS NOT NULL
          OR NEW.fair_at IS DISTINCT FROM greatest(NEW.created_at,
                                                   NEW.run_at))
    EXECUTE FUNCTION jobs_fair_tag();

-- A retry's tag (lib/job_internal.h JOB_RETRY_SET), under the owner's
-- start lock: taken while the UPDATE computes the row, before it locks
-- the row, as the API's retry takes it before its UPDATE.
CREATE FUNCTION jobs_fair_retag(u bigint, c text, p smallint)
    RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN
    PERFORM jobs_owner_lock(u, c);
    RETURN greatest(now(), jobs_fair_next(u, c, p));
END
$$;
