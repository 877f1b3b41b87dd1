-- 011: uploads recorded, limited and cleaned up (lib/upload.c).
--
-- uploads holds one row per file POST /api/uploads stored in MEDIA_DIR:
-- its name, who sent it (a user, or for an anonymous caller its client:
-- the IPv4 address, or the /64 of an IPv6 one), the bytes actually stored
-- and when.  The row is written before the file, so a file never exists
-- that no quota counted; a row whose file could not be written is deleted
-- again by the writer, or found by the sweep.
--
-- upload_usage holds the bytes stored per owner: 'user:<id>',
-- 'client:<client>' and 'anonymous' (every anonymous upload together).
-- The triggers on uploads keep it equal to the sum over the rows, so a
-- quota check reads one or two rows, never a sum.  upload_admit() is the
-- one place that decides: it locks the owner's counters in name order
-- ('anonymous' before 'client:...', so two admissions never wait on each
-- other in a cycle), refuses with the name of the budget that would be
-- exceeded ('user', 'client' or 'anonymous'; nothing stored), and
-- otherwise inserts the row ('ok').  Concurrent uploads of one owner take
-- turns on the counter's row lock, so they cannot both pass a quota.
--
-- upload_uses says which jobs name an upload in their input
-- (characterImage, cartoonImageUrl or imageUrl ending in /media/<name>).
-- The trigger on jobs fills it inside the job's own INSERT, whatever
-- inserted it, and sets the upload's used_at; deleting a job (pruning)
-- deletes its uses.  The sweep deletes an upload only when no use is left
-- and both created_at and used_at are older than the grace period; it
-- locks the rows it deletes and rechecks them, so a job inserted at that
-- moment either sees its upload deleted (no use recorded) or moved used_at
-- past the cut-off first (the upload stays).  Uploads stored before this
-- migration have no row and are never swept.

CREATE TABLE uploads (
    name        text        PRIMARY KEY
                            CHECK (name ~ '^[0-9a-f]{32}\.(png|jpg|webp)$'),
    user_id     bigint,
    client      text        CHECK (length(client) <= 64),
    bytes       bigint      NOT NULL CHECK (bytes >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    used_at     timestamptz,
    CHECK ((user_id IS NULL) <> (client IS NULL))
);
CREATE INDEX uploads_created_idx ON uploads (created_at);

CREATE TABLE upload_usage (
    owner  text   PRIMARY KEY,
    bytes  bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0)
);

CREATE TABLE upload_uses (
    upload  text NOT NULL REFERENCES uploads (name) ON DELETE CASCADE,
    job_id  text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    PRIMARY KEY (upload, job_id)
);
CREATE INDEX upload_uses_job_idx ON upload_uses (job_id);

-- The counters an upload of (user_id, client) counts against.
CREATE FUNCTION upload_owners(p_user bigint, p_client text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_user IS NOT NULL THEN ARRAY['user:' || p_user]
                WHEN p_client IS NOT NULL
                THEN ARRAY['anonymous', 'client:' || p_client]
                ELSE ARRAY[]::text[] END
$$;

CREATE FUNCTION uploads_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO upload_usage (owner, bytes)
        SELECT o, NEW.bytes FROM unnest(upload_owners(NEW.user_id, NEW.client)) o
        ON CONFLICT (owner)
        DO UPDATE SET bytes = upload_usage.bytes + EXCLUDED.bytes;
        RETURN NEW;
    END IF;
    UPDATE upload_usage SET bytes = greatest(0, bytes - OLD.bytes)
     WHERE owner = ANY (upload_owners(OLD.user_id, OLD.client));
    RETURN OLD;
END
$$;
CREATE TRIGGER uploads_count AFTER INSERT OR DELETE ON uploads
    FOR EACH ROW EXECUTE FUNCTION uploads_count();

CREATE FUNCTION upload_admit(p_name text, p_user bigint, p_client text,
                             p_bytes bigint, p_user_cap bigint,
                             p_client_cap bigint, p_anon_cap bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    owners text[] := upload_owners(p_user, p_client);
    used bigint;
    cap bigint;
BEGIN
    INSERT INTO upload_usage (owner) SELECT unnest(owners)
    ON CONFLICT (owner) DO NOTHING;
    FOR i IN 1 .. coalesce(array_length(owners, 1), 0) LOOP
        SELECT bytes INTO used FROM upload_usage WHERE owner = owners[i]
           FOR UPDATE;
        cap := CASE WHEN owners[i] = 'anonymous' THEN p_anon_cap
                    WHEN owners[i] LIKE 'user:%' THEN p_user_cap
                    ELSE p_client_cap END;
        IF used + p_bytes > cap THEN
            RETURN split_part(owners[i], ':', 1);
        END IF;
    END LOOP;
    INSERT INTO uploads (name, user_id, client, bytes)
    VALUES (p_name, p_user, p_client, p_bytes);
    RETURN 'ok';
END
$$;

CREATE FUNCTION jobs_use_uploads() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n text;
BEGIN
    FOR n IN
        SELECT DISTINCT m FROM (
            SELECT substring(NEW.input ->> f
                   FROM '/media/([0-9a-f]{32}\.(?:png|jpg|webp))$') AS m
              FROM unnest(ARRAY['characterImage', 'cartoonImageUrl',
                                'imageUrl']) AS f) s
         WHERE m IS NOT NULL
    LOOP
        UPDATE uploads SET used_at = now() WHERE name = n;
        IF FOUND THEN
            INSERT INTO upload_uses (upload, job_id) VALUES (n, NEW.id)
            ON CONFLICT DO NOTHING;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
-- The WHEN clause keeps the many jobs without an image off PL/pgSQL.
CREATE TRIGGER jobs_use_uploads AFTER INSERT ON jobs FOR EACH ROW
    WHEN (NEW.input ?| ARRAY['characterImage', 'cartoonImageUrl', 'imageUrl'])
    EXECUTE FUNCTION jobs_use_uploads();
