-- 002: users and their sessions.
--
-- Emails are unique case-insensitively (stored lowercase by the library,
-- and the unique index on lower(email) makes it hold whatever writes
-- them).  A session row holds only the SHA-256 of its token; a lookup is
-- one primary-key probe filtered on revoked_at and expires_at.

CREATE TABLE users (
    id            bigserial   PRIMARY KEY,
    email         text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash text        NOT NULL,
    role          text        NOT NULL DEFAULT 'user'
                              CHECK (role IN ('user', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_idx ON users (lower(email));

CREATE TABLE sessions (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- Jobs of a deleted user stay, anonymous.  NOT VALID: existing rows (made
-- before users existed) are not checked, new ones are.
ALTER TABLE jobs ADD CONSTRAINT jobs_user_fk FOREIGN KEY (user_id)
    REFERENCES users (id) ON DELETE SET NULL NOT VALID;
