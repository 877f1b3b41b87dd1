-- 014: a client that logged in to an account lately is not held back by
-- the account's delay.
--
-- 009 applied the account's delay to every client, so a guesser who sent
-- one wrong password from a fresh address each time that delay ran out
-- (at most LOGIN_BACKOFF_ACCOUNT_MAX_SECONDS) kept the real user's right
-- password answered 429 for as long as it cared to.  Now a successful
-- login keeps the client's row as "known" for 30 days (known_until)
-- instead of deleting it; a known client waits only on its own delay,
-- which grows only with its own failures.  A client is what the API
-- counts (an IPv4 address, an IPv6 /64).  Everyone else still meets the
-- account's delay, so guessing from many addresses stays slow.  Known
-- rows are kept by the idle sweep until they expire.

ALTER TABLE login_backoff ADD COLUMN known_until timestamptz;

CREATE OR REPLACE FUNCTION login_attempt(p_account bytea, p_client text,
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
          AND until < now()
          AND (known_until IS NULL OR known_until < now()) LIMIT 20));
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
    IF c.known_until > now() THEN
        wait := extract(epoch FROM c.until - now());
    ELSE
        wait := extract(epoch FROM greatest(a.until, coalesce(c.until, now()))
                                    - now());
    END IF;
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
