-- 015: the sweep finds unused uploads through an index.
--
-- 011's sweep asked, of every upload older than the grace period, whether
-- a job still names it (NOT EXISTS on upload_uses): a walk over all the
-- used uploads on every cron tick (164 ms at 200,000, growing with them).
-- uploads.uses now counts the upload's rows in upload_uses, kept by a
-- trigger on upload_uses in the statement that changes them (a job's
-- insert names an upload; pruning the job drops its uses), and the
-- unused ones are a partial index in the sweep's order, so a sweep reads
-- only the uploads it may delete.

ALTER TABLE uploads ADD COLUMN uses integer NOT NULL DEFAULT 0
    CHECK (uses >= 0);
UPDATE uploads u SET uses = s.n
  FROM (SELECT upload, count(*) AS n FROM upload_uses GROUP BY upload) s
 WHERE s.upload = u.name;

CREATE FUNCTION upload_uses_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE uploads SET uses = uses + 1 WHERE name = NEW.upload;
    ELSE
        UPDATE uploads SET uses = uses - 1 WHERE name = OLD.upload;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER upload_uses_count AFTER INSERT OR DELETE ON upload_uses
    FOR EACH ROW EXECUTE FUNCTION upload_uses_count();

CREATE INDEX uploads_unused_idx ON uploads (created_at, name)
    WHERE uses = 0;
