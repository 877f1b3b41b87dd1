-- 013: a job's use of an upload is recorded whatever the media base.
--
-- 011's trigger recognised an upload only in a URL ending in
-- /media/<name>, the form PUBLIC_BASE_URL gives.  With STORAGE=s3 the
-- URL is S3_PUBLIC_BASE_URL/<name>, which may be a CDN or a bucket's own
-- domain: the use went unrecorded and the orphan sweep could delete an
-- upload a job still names.  Any URL whose last segment is an upload's
-- name now counts; a stranger's URL that happens to end in such a name
-- only keeps that upload longer.

CREATE OR REPLACE FUNCTION jobs_use_uploads() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    n text;
BEGIN
    FOR n IN
        SELECT DISTINCT m FROM (
            SELECT substring(NEW.input ->> f
                   FROM '/([0-9a-f]{32}\.(?:png|jpg|webp))$') AS m
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
