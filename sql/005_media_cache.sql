-- 005: the media cache of generated images, shared by every worker.
--
-- A generated image is stored under a name derived from SHA-256 of what
-- made it (prompt, style, source image), so an equal request is answered
-- from here without an upstream call, whatever the storage (a local file
-- or a Cloudinary asset).  Rows are small and bounded by the distinct
-- inputs; an operator who deletes media files deletes their rows too, or
-- the old URL keeps being answered.

CREATE TABLE media_cache (
    name        text        PRIMARY KEY CHECK (name ~ '^[a-z]+-[0-9a-f]{32}$'),
    url         text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
