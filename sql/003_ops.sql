-- 003: operations tables: a shared rate limiter and HTTP request counters.
--
-- rate_limits holds one fixed-window counter per (key, window start); every
-- FastCGI process bumps the same row, so several processes or hosts share
-- one limit.  Old windows are deleted by the statement that bumps them.
--
-- http_requests counts answered requests by route pattern and status for
-- the /metrics exposition; each program upserts its own rows.

CREATE TABLE rate_limits (
    key          text        NOT NULL,
    window_start timestamptz NOT NULL,
    count        integer     NOT NULL DEFAULT 0 CHECK (count >= 0),
    PRIMARY KEY (key, window_start)
);

CREATE TABLE http_requests (
    route  text    NOT NULL,
    status integer NOT NULL CHECK (status BETWEEN 100 AND 599),
    count  bigint  NOT NULL DEFAULT 0 CHECK (count >= 0),
    PRIMARY KEY (route, status)
);
