-- 009: password guessing slowed down per account (lib/login_backoff.c).
--
-- login_backoff holds, per account, one row for the account as a whole
-- (client '') and one per client address that tried it: how many login
-- attempts in a row did not succeed, and the time before which the next
-- one is refused.  Accounts are named by the SHA-256 of the lowercased
-- email, whether or not a user has it, so an unknown email is counted
-- the same and no address is stored in clear next to it.
--
-- login_attempt() is the one place that decides, so every FastCGI
-- process on every host shares it: it locks the account's row (attempts
-- on one account take turns), refuses while the account's or this
-- client's delay runs (returning the seconds left, nothing written), and
-- otherwise counts the attempt before the password is checked (so a burst
-- of parallel guesses cannot all pass) and sets both delays from the
-- schedules the caller passes (delays[n] after the n-th attempt in a row,
-- the last element for any later one).  A successful login deletes the
-- account's row and the client's.  Rows idle for forget_s and not
-- delaying anything are dropped, a few per call, so the table stays
-- small without a sweeper.

CREATE TABLE login_backoff (
    account  bytea       NOT NULL CHECK (length(account) = 32),
    client   text        NOT NULL CHECK (length(client) <= 64),
    failures integer     NOT NULL DEFAULT 0 CHECK (failures >= 0),
    until    timestamptz NOT NULL DEFAULT now(),
    last_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, client)
);
CREATE INDEX login_backoff_last_idx ON login_backoff (last_at);

CREATE FUNCTION login_attempt(p_account bytea, p_client text,
                              p_client_delays integer[],
                              p_account_delays integer[],
                              p_forget_s integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    a login_backoff;
    c login_backoff;
    wait double precision;
    na integer;
    nc integer;
BEGIN
    DELETE FROM login_backoff WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM login_backoff
        WHERE last_at < now() - make_interval(secs => p_forget_s)
          AND until < now() LIMIT 20));
    -- the account's row, locked: a concurrent success may delete it
    -- between the insert and the lock, so try again then
    FOR i IN 1..3 LOOP
        INSERT INTO login_backoff (account, client) VALUES (p_account, '')
            ON CONFLICT DO NOTHING;
        SELECT * INTO a FROM login_backoff
            WHERE account = p_account AND client = '' FOR UPDATE;
        EXIT WHEN FOUND;
    END LOOP;
    IF a.account IS NULL THEN
        RAISE EXCEPTION 'login_backoff: the account row keeps vanishing';
    END IF;
    SELECT * INTO c FROM login_backoff
        WHERE account = p_account AND client = p_client;
    wait := extract(epoch FROM greatest(a.until, coalesce(c.until, now()))
                                - now());
    IF wait > 0 THEN
        RETURN greatest(1, ceil(wait))::integer;
    END IF;
    na := CASE WHEN a.last_at < now() - make_interval(secs => p_forget_s)
               THEN 1 ELSE a.failures + 1 END;
    nc := CASE WHEN c.last_at IS NULL
                 OR c.last_at < now() - make_interval(secs => p_forget_s)
               THEN 1 ELSE c.failures + 1 END;
    UPDATE login_backoff SET failures = na, last_at = now(),
        until = now() + make_interval(secs => p_account_delays[
            least(na, cardinality(p_account_delays))])
        WHERE account = p_account AND client = '';
    INSERT INTO login_backoff AS b (account, client, failures, until, last_at)
        VALUES (p_account, p_client, nc, now() + make_interval(secs =>
            p_client_delays[least(nc, cardinality(p_client_delays))]), now())
        ON CONFLICT (account, client) DO UPDATE
        SET failures = EXCLUDED.failures, until = EXCLUDED.until,
            last_at = EXCLUDED.last_at;
    RETURN 0;
END
$$;
