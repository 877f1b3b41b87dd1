-- 012: media names keyed by a server secret, and who made each cached image.
--
-- A generated image used to be named by SHA-256 of what made it, so anyone
-- could compute the name of a picture for a given prompt and test whether
-- somebody had already asked for it.  Names are now HMAC-SHA256 of the
-- same parts under a key only the database and the workers know: the
-- media cache stays shared by every job and worker, but a name no longer
-- says what made it.  The key is made here, once, from PostgreSQL's strong
-- random source (two version-4 UUIDs: 244 random bits), so every worker
-- on every host shares it with no setting to keep in step; rotating it
-- (UPDATE server_keys ... then restart the workers) only costs the cache.
--
-- made_by names the owner of the job that made a cached image ("user:ID"
-- or "anon:CLIENT"); a job reports `cached: true` only for its own
-- owner's earlier picture, so the flag tells nobody what another asked.
-- Rows from before this migration have no maker and report false.

CREATE TABLE server_keys (
    name        text        PRIMARY KEY,
    key         bytea       NOT NULL CHECK (length(key) >= 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO server_keys (name, key)
VALUES ('media_names', decode(replace(gen_random_uuid()::text ||
                                      gen_random_uuid()::text, '-', ''), 'hex'));

ALTER TABLE media_cache ADD COLUMN made_by text;
