-- 008: the counters behind /metrics, kept as things happen.
--
-- /metrics used to count finished jobs and their durations from the
-- stored rows: pruning old jobs lowered a counter, and a scrape grew
-- with the table (1.7 s at 10^6 finished jobs).  Now every statement that
-- finishes jobs (completion batches, failures, cancels, the maintenance
-- pass's timeouts and give-ups) adds to these tables in the same
-- statement, so a counter moves exactly when the rows it counts commit,
-- and pruning never touches them.  A scrape reads only these small tables
-- and the live jobs.
--
-- Rows a statement adds to are sharded by the writing session
-- (pg_backend_pid() % 16): concurrent workers' completions rarely wait on
-- each other's counter row; the scrape sums the shards.
--
-- A histogram row holds cumulative bucket counts, in the order of the
-- bounds the code names (lib/counters.h), the last one +Inf (= the count),
-- and the sum of the observed values in seconds; adding two rows adds
-- them element by element.
--
-- job_counters and job_durations are seeded once from the jobs stored at
-- upgrade; jobs an old binary finishes after this migration are not
-- counted (restart the programs after migrating).

CREATE TABLE job_counters (
    type    text COLLATE "C" NOT NULL,
    outcome text COLLATE "C" NOT NULL
                             CHECK (outcome IN ('completed', 'failed', 'cancelled')),
    shard   smallint NOT NULL CHECK (shard BETWEEN 0 AND 15),
    n       bigint   NOT NULL CHECK (n >= 0),
    PRIMARY KEY (type, outcome, shard)
) WITH (fillfactor = 50);

-- Processing time of completed jobs (started to completed).
CREATE TABLE job_durations (
    shard   smallint PRIMARY KEY CHECK (shard BETWEEN 0 AND 15),
    buckets bigint[] NOT NULL,
    sum     float8   NOT NULL
) WITH (fillfactor = 50);

-- Failed attempts put back in the queue for another, by error code.
CREATE TABLE job_retries (
    code  text COLLATE "C" NOT NULL,
    shard smallint NOT NULL CHECK (shard BETWEEN 0 AND 15),
    n     bigint   NOT NULL CHECK (n >= 0),
    PRIMARY KEY (code, shard)
) WITH (fillfactor = 50);

-- Request latency by route pattern, flushed with http_requests.
CREATE TABLE http_request_durations (
    route   text COLLATE "C" PRIMARY KEY,
    buckets bigint[] NOT NULL,
    sum     float8   NOT NULL
);

-- The workers' upstream calls, flushed with their heartbeats.
CREATE TABLE upstream_calls (
    provider text COLLATE "C" NOT NULL,
    kind     text COLLATE "C" NOT NULL,
    outcome  text COLLATE "C" NOT NULL,
    n        bigint NOT NULL CHECK (n >= 0),
    PRIMARY KEY (provider, kind, outcome)
);
CREATE TABLE upstream_durations (
    provider text COLLATE "C" NOT NULL,
    kind     text COLLATE "C" NOT NULL,
    buckets  bigint[] NOT NULL,
    sum      float8   NOT NULL,
    PRIMARY KEY (provider, kind)
);

-- What each worker can hold (MAX_CONCURRENT_JOBS + PREFETCH_JOBS);
-- jobs_in_hand is how many of those slots are in use.
ALTER TABLE workers ADD COLUMN slots integer NOT NULL DEFAULT 0;

-- The seed: what the jobs table holds now, in shard 0.  The bounds are
-- those of JOB_DURATION_LE in lib/counters.h.
INSERT INTO job_counters (type, outcome, shard, n)
SELECT type, status, 0, count(*) FROM jobs
WHERE status IN ('completed', 'failed', 'cancelled') GROUP BY type, status;

INSERT INTO job_durations (shard, buckets, sum)
SELECT 0, ARRAY[count(*) FILTER (WHERE s <= 1), count(*) FILTER (WHERE s <= 5),
                count(*) FILTER (WHERE s <= 15), count(*) FILTER (WHERE s <= 30),
                count(*) FILTER (WHERE s <= 60), count(*) FILTER (WHERE s <= 120),
                count(*) FILTER (WHERE s <= 300), count(*) FILTER (WHERE s <= 600),
                count(*) FILTER (WHERE s <= 1200), count(*)],
       sum(s)
FROM (SELECT date_part('epoch', completed_at - started_at) AS s FROM jobs
      WHERE status = 'completed' AND started_at IS NOT NULL
        AND completed_at IS NOT NULL) d
HAVING count(*) > 0;
