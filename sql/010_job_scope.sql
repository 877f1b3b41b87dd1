-- 010: who an anonymous job belongs to, and idempotency keys scoped to
-- the caller and the type and bound to the request.
--
-- client is an anonymous job's client as the API saw it (lib/client.h):
-- an IPv4 address, or an IPv6 address's /64 prefix ("2001:db8:1:2::/64"),
-- since one line is normally given a whole /64 and may use any address
-- in it.  NULL for a user's job, and for anonymous jobs started before
-- this version.  The cap on live anonymous jobs per client
-- (ANON_MAX_ACTIVE_JOBS) counts through jobs_client_live_idx, which holds
-- live rows only.
--
-- input_digest is the SHA-256 of the job's canonical input (the
-- normalized request the API stores), kept when the start carried an
-- Idempotency-Key: the same key with another input is refused.
--
-- A key's scope becomes (user or 0, client or '', type, key).  Keys
-- stored before this version keep their rows unchanged: a user's key
-- still finds its job (its type's, with any body: it has no digest); an
-- anonymous key had no client, so no caller finds it any more and a new
-- start with it makes a new job.  The new index is finer than the old
-- one, so existing rows cannot collide in it.

ALTER TABLE jobs
    ADD COLUMN client text COLLATE "C",
    ADD COLUMN input_digest bytea CHECK (octet_length(input_digest) = 32);

DROP INDEX jobs_idempotency_idx;
CREATE UNIQUE INDEX jobs_idempotency_idx
    ON jobs (coalesce(user_id, 0), coalesce(client, ''), type, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE INDEX jobs_client_live_idx ON jobs (client)
    WHERE client IS NOT NULL AND status IN ('pending', 'processing');
