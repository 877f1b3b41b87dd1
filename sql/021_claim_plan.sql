-- 021: the claim's plan no longer depends on the statistics.
--
-- The claim (lib/job_queue.c) is meant to be one range scan of
-- jobs_claim_idx per type, in the claim's order, stopping at its LIMIT.
-- 018's jobs_due_idx (run_at) WHERE status = 'pending' matched the
-- claim's predicates too, and the planner chose it whenever the
-- statistics said pending rows are rare, which is what they say of a
-- healthy queue: almost every row is finished.  That plan reads every
-- due pending job and sorts them all for each claim.  Measured on a
-- table of 20,000 finished rows, analysed, then 55,000 pending: 45 ms
-- a claim of 100 (and a sort spilled to disk) instead of 0.19 ms.
-- Under a pinned snapshot (a long transaction elsewhere) it also walks
-- the index entries of every job claimed since the pin: after the
-- bench's scale phase (10^6 finished jobs, so the statistics said
-- "all finished") the claim ran 33 ms at 1,000 jobs/s, p50 13 ms from
-- enqueue to start instead of 1 ms.
--
-- The due index now also requires lease_owner IS NULL, which no claim
-- predicate implies, so the planner cannot use it for a claim at all;
-- the health statement, its one reader, names the same predicate.  A
-- pending row never has a lease owner (every move out of processing
-- clears it); the constraint below makes that a rule, so the health
-- figure read through the index is exact.
--
-- The new index is built under its own name before the old one goes:
-- the build blocks writes but not reads, and the ACCESS EXCLUSIVE lock
-- that DROP INDEX takes is held only for the rest of this transaction.

UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL
 WHERE status = 'pending' AND lease_owner IS NOT NULL;

ALTER TABLE jobs ADD CONSTRAINT jobs_pending_unleased_check
    CHECK (status <> 'pending' OR lease_owner IS NULL);

CREATE INDEX jobs_due_unleased_idx ON jobs (run_at)
    WHERE status = 'pending' AND lease_owner IS NULL;
DROP INDEX jobs_due_idx;
ALTER INDEX jobs_due_unleased_idx RENAME TO jobs_due_idx;
