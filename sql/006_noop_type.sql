-- 006: the benchmarks' no-op job type.
--
-- 'noop' jobs are never started through the API; a benchmark inserts them
-- and a worker started with BENCH_NOOP_JOBS=true completes each at once,
-- so the queue itself is what gets measured.

ALTER TABLE jobs DROP CONSTRAINT jobs_type_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_type_check
    CHECK (type IN ('storybook', 'auto-story', 'scenes', 'cartoonize',
                    'image-generation', 'noop'));
