/*
 * DESIGN
 * Passwords are hashed with scrypt (N=2^15, r=8, p=1: 32 MiB, maxmem
 * capped at 64 MiB) through OpenSSL's EVP_KDF and stored as
 * "scrypt$15$8$1$<salt b64>$<key b64>"; verification recomputes with the
 * stored parameters and compares the fixed-size keys with CRYPTO_memcmp.
 * A login for an unknown email verifies against a fixed dummy hash, so
 * both failures cost one scrypt and give the same SJ_ENOTFOUND.
 *
 * Tokens are "sjt_" + base64url(32 random bytes); only SHA-256(token)
 * reaches the database.  Each change is one statement: setting a password
 * and revoking the user's sessions happen together in one CTE.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "digest.h"
#include "auth.h"
#include "log.h"
#include "num.h"

#define SCRYPT_LOGN   15
#define SCRYPT_R      8
#define SCRYPT_P      1
#define SCRYPT_MAXMEM ((uint64_t)64 * 1024 * 1024)
#define SALT_LEN      16
#define KEY_LEN	      32
#define HASH_STR_MAX  AUTH_HASH_MAX
#define TOKEN_PREFIX  "sjt_"
#define TOKEN_RAW     32
#define TOKEN_B64     43
#define TOKEN_LEN     (sizeof(TOKEN_PREFIX) - 1 + TOKEN_B64)

/* Verified when the email is unknown; its password is never used. */
static const char dummy_hash[] = "scrypt$15$8$1$FjqpYTLqvPq2Qn54c0gzjw==$"
				 "4BzK1fJjvazKRdH2EytKP/x/ks2hDIuGcyJUJaMA9wM=";

static const char *const role_names[ROLE_MAX] = {"user", "admin"};

static const char msg_email[] = "Invalid email address";
static const char msg_password[] = "Password must be 8 to 256 characters";

const char *
auth_role_name(enum user_role r)
{
	return (unsigned)r < ROLE_MAX ? role_names[r] : "user";
}

static enum user_role
role_parse(const char *s)
{
	return s != NULL && strcmp(s, "admin") == 0 ? ROLE_ADMIN : ROLE_USER;
}

/*
 * Trims, checks and lowercases an email into out.  Exactly one '@' with
 * something on each side, 3..254 bytes, no spaces or control bytes.
 */
static enum sj_err
email_normalize(const char *in, char out[AUTH_EMAIL_MAX + 1])
{
	size_t n, at = 0, ats = 0;

	if (in == NULL)
		return SJ_EINVAL;
	while (*in == ' ' || *in == '\t')
		in++;
	n = strnlen(in, AUTH_EMAIL_MAX + 64);
	while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	if (n < 3 || n > AUTH_EMAIL_MAX)
		return SJ_EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c <= 0x20 || c == 0x7f)
			return SJ_EINVAL;
		if (c == '@') {
			ats++;
			at = i;
		}
		out[i] = (char)(c < 0x80 ? tolower(c) : c);
	}
	out[n] = '\0';
	if (ats != 1 || at == 0 || at == n - 1)
		return SJ_EINVAL;
	return SJ_OK;
}

enum sj_err
auth_email_normalize(const char *in, char out[AUTH_EMAIL_MAX + 1])
{
	return email_normalize(in, out);
}

static int
password_ok(const char *pw)
{
	size_t n;

	if (pw == NULL)
		return 0;
	n = strnlen(pw, AUTH_PASSWORD_MAX + 1);
	return n >= AUTH_PASSWORD_MIN && n <= AUTH_PASSWORD_MAX;
}

static enum sj_err
scrypt_derive(const char *pw, const unsigned char *salt, uint64_t logn,
	      uint32_t r, uint32_t p, unsigned char key[KEY_LEN])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *ctx = NULL;
	uint64_t n = (uint64_t)1 << logn, maxmem = SCRYPT_MAXMEM;
	OSSL_PARAM params[7];
	enum sj_err e = SJ_EIO;

	if (kdf == NULL || (ctx = EVP_KDF_CTX_new(kdf)) == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_octet_string(
	    OSSL_KDF_PARAM_PASSWORD, (void *)(uintptr_t)pw, strlen(pw));
	params[1] = OSSL_PARAM_construct_octet_string(
	    OSSL_KDF_PARAM_SALT, (void *)(uintptr_t)salt, SALT_LEN);
	params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
	params[5] =
	    OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
	params[6] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, key, KEY_LEN, params) != 1) {
		log_error("scrypt derivation failed");
		goto out;
	}
	e = SJ_OK;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return e;
}

/* Decodes exactly want bytes from standard base64 of the right length. */
static int
b64_decode(const char *s, size_t slen, unsigned char *out, size_t want)
{
	unsigned char tmp[64];
	int n;

	if (slen != 4 * ((want + 2) / 3) || slen > sizeof(tmp) / 3 * 4)
		return -1;
	n = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)slen);
	if (n < 0 || (size_t)n < want)
		return -1;
	memcpy(out, tmp, want);
	return 0;
}

/* Hashes pw with a fresh salt into out ("scrypt$15$8$1$salt$key"). */
static enum sj_err
hash_password(const char *pw, char out[HASH_STR_MAX])
{
	unsigned char salt[SALT_LEN], key[KEY_LEN];
	unsigned char s64[32], k64[48];
	enum sj_err e;
	int n;

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return SJ_EIO;
	e = scrypt_derive(pw, salt, SCRYPT_LOGN, SCRYPT_R, SCRYPT_P, key);
	if (e != SJ_OK)
		return e;
	EVP_EncodeBlock(s64, salt, sizeof(salt));
	EVP_EncodeBlock(k64, key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	n = snprintf(out, HASH_STR_MAX, "scrypt$%d$%d$%d$%s$%s", SCRYPT_LOGN,
		     SCRYPT_R, SCRYPT_P, (char *)s64, (char *)k64);
	return n > 0 && n < HASH_STR_MAX ? SJ_OK : SJ_EINVAL;
}

/* Copies the next '$'-separated field of *p into f; advances *p. */
static int
next_field(const char **p, char *f, size_t fsz)
{
	size_t n = strcspn(*p, "$");

	if (n == 0 || n >= fsz)
		return -1;
	memcpy(f, *p, n);
	f[n] = '\0';
	*p += n;
	if (**p == '$')
		(*p)++;
	return 0;
}

/*
 * SJ_OK when pw matches stored, SJ_ENOTFOUND when it does not, SJ_EINVAL
 * for a stored string this code cannot read.
 */
static enum sj_err
verify_password(const char *pw, const char *stored)
{
	unsigned char salt[SALT_LEN], want[KEY_LEN], got[KEY_LEN];
	char alg[8], ln[4], rs[4], ps[4], s64[32], k64[64];
	uint64_t logn, r, p;
	const char *q = stored;
	enum sj_err e;

	if (next_field(&q, alg, sizeof(alg)) || strcmp(alg, "scrypt") != 0 ||
	    next_field(&q, ln, sizeof(ln)) || next_field(&q, rs, sizeof(rs)) ||
	    next_field(&q, ps, sizeof(ps)) ||
	    next_field(&q, s64, sizeof(s64)) ||
	    next_field(&q, k64, sizeof(k64)) || *q != '\0' ||
	    num_u64_digits(ln, 20, &logn) != SJ_OK || logn < 10 ||
	    num_u64_digits(rs, 16, &r) != SJ_OK || r < 1 ||
	    num_u64_digits(ps, 4, &p) != SJ_OK || p < 1 ||
	    b64_decode(s64, strlen(s64), salt, SALT_LEN) != 0 ||
	    b64_decode(k64, strlen(k64), want, KEY_LEN) != 0)
		return SJ_EINVAL;
	e = scrypt_derive(pw, salt, logn, (uint32_t)r, (uint32_t)p, got);
	if (e != SJ_OK)
		return e;
	e = CRYPTO_memcmp(got, want, KEY_LEN) == 0 ? SJ_OK : SJ_ENOTFOUND;
	OPENSSL_cleanse(got, sizeof(got));
	return e;
}

/* For the unit tests (declared in auth.h). */
enum sj_err
auth_hash_password(const char *pw, char out[AUTH_HASH_MAX])
{
	if (!password_ok(pw))
		return SJ_EINVAL;
	return hash_password(pw, out);
}

enum sj_err
auth_verify_password(const char *pw, const char *stored)
{
	if (!password_ok(pw))
		return SJ_EINVAL;
	return verify_password(pw, stored);
}

/* "sjt_" + base64url(32 random bytes), no padding. */
static enum sj_err
token_new(char token[AUTH_TOKEN_MAX])
{
	unsigned char raw[TOKEN_RAW], b64[48];
	char *t;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return SJ_EIO;
	EVP_EncodeBlock(b64, raw, sizeof(raw)); /* 44 chars, one '=' */
	OPENSSL_cleanse(raw, sizeof(raw));
	memcpy(token, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1);
	t = token + sizeof(TOKEN_PREFIX) - 1;
	for (int i = 0; i < TOKEN_B64; i++)
		t[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
	t[TOKEN_B64] = '\0';
	return SJ_OK;
}

/* "\\x" + hex of SHA-256(token): bytea text input. */
static enum sj_err
token_digest(const char *token, size_t len, char out[2 + SHA256_HEX_LEN + 1])
{
	out[0] = '\\';
	out[1] = 'x';
	return sha256_hex(token, len, out + 2);
}

/*
 * Takes the token out of "Bearer <token>" and digests it.  SJ_EINVAL: not
 * a Bearer header; SJ_ENOTFOUND: a token of the wrong shape (it could not
 * have been issued, so no query is made).
 */
static enum sj_err
bearer_digest(const char *h, char out[2 + 2 * 32 + 1])
{
	size_t n;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return SJ_EINVAL;
	h += 7;
	while (*h == ' ')
		h++;
	n = strnlen(h, TOKEN_LEN + 1);
	while (n > 0 && n <= TOKEN_LEN && h[n - 1] == ' ')
		n--;
	if (n == 0)
		return SJ_EINVAL;
	if (n != TOKEN_LEN ||
	    strncmp(h, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1) != 0 ||
	    strspn(h + sizeof(TOKEN_PREFIX) - 1,
		   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		   "0123456789-_") != TOKEN_B64)
		return SJ_ENOTFOUND;
	return token_digest(h, n, out);
}

static void
user_from_row(const PGresult *r, struct user *u)
{
	const char *email = db_str(r, 0, 1);

	memset(u, 0, sizeof(*u));
	u->id = db_ll(r, 0, 0, 0);
	snprintf(u->email, sizeof(u->email), "%s", email ? email : "");
	u->role = role_parse(db_str(r, 0, 2));
}

/* Runs st; exactly one row fills *out, anything else is miss. */
static enum sj_err
user_query(struct db *db, const struct db_stmt *st, const char *const *params,
	   enum sj_err miss, struct user *out)
{
	PGresult *r = NULL;
	enum sj_err e;

	if ((e = db_exec(db, st, params, &r)) != SJ_OK)
		return e;
	if (db_rows(r) != 1)
		e = miss;
	else
		user_from_row(r, out);
	PQclear(r);
	return e;
}

/*
 * Checks a new email and password and hashes the password: norm receives
 * the normalized email, hash the stored form.  SJ_EINVAL with *msg set
 * for a bad value.
 */
static enum sj_err
credentials(const char *email, const char *password,
	    char norm[AUTH_EMAIL_MAX + 1], char hash[HASH_STR_MAX],
	    const char **msg)
{
	*msg = NULL;
	if (email_normalize(email, norm) != SJ_OK) {
		*msg = msg_email;
		return SJ_EINVAL;
	}
	if (!password_ok(password)) {
		*msg = msg_password;
		return SJ_EINVAL;
	}
	return hash_password(password, hash);
}

static const struct db_stmt st_user_insert = {
    "auth_user_insert",
    "INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3) "
    "RETURNING id, email, role",
    3};

enum sj_err
auth_user_create(struct db *db, const char *email, const char *password,
		 enum user_role role, struct user *out, const char **msg)
{
	char norm[AUTH_EMAIL_MAX + 1], hash[HASH_STR_MAX];
	const char *params[3];
	enum sj_err e;

	if ((e = credentials(email, password, norm, hash, msg)) != SJ_OK)
		return e;
	params[0] = norm;
	params[1] = hash;
	params[2] = auth_role_name(role);
	return user_query(db, &st_user_insert, params, SJ_EDB, out);
}

/* The user's row is updated and every live session revoked at once. */
static const struct db_stmt st_set_password = {
    "auth_set_password",
    "WITH u AS (UPDATE users SET password_hash = $2, updated_at = now() "
    "WHERE lower(email) = $1 RETURNING id), "
    "s AS (UPDATE sessions SET revoked_at = now() "
    "WHERE user_id IN (SELECT id FROM u) AND revoked_at IS NULL) "
    "SELECT count(*) FROM u",
    2};

enum sj_err
auth_set_password(struct db *db, const char *email, const char *password,
		  const char **msg)
{
	char norm[AUTH_EMAIL_MAX + 1], hash[HASH_STR_MAX];
	const char *params[2];
	PGresult *r = NULL;
	enum sj_err e;

	if ((e = credentials(email, password, norm, hash, msg)) != SJ_OK)
		return e;
	params[0] = norm;
	params[1] = hash;
	if ((e = db_exec(db, &st_set_password, params, &r)) != SJ_OK)
		return e;
	e = db_ll(r, 0, 0, 0) == 1 ? SJ_OK : SJ_ENOTFOUND;
	PQclear(r);
	return e;
}

static const struct db_stmt st_user_by_email = {
    "auth_user_by_email",
    "SELECT id, email, role, password_hash FROM users "
    "WHERE lower(email) = $1",
    1};

static const struct db_stmt st_session_insert = {
    "auth_session_insert",
    "INSERT INTO sessions (token_hash, user_id, expires_at) "
    "VALUES ($1::bytea, $2::int8, now() + make_interval(secs => $3::int8)) "
    "RETURNING (floor(extract(epoch from expires_at) * 1000))::int8",
    3};

/* Stores a new session for u; token and *expires_ms receive it. */
static enum sj_err
session_new(struct db *db, const struct user *u, char token[AUTH_TOKEN_MAX],
	    int64_t *expires_ms)
{
	char digest[2 + 2 * 32 + 1], uid[24], ttl[24];
	const char *params[3] = {digest, uid, ttl};
	PGresult *r = NULL;
	enum sj_err e;

	if ((e = token_new(token)) != SJ_OK)
		return e;
	if ((e = token_digest(token, strlen(token), digest)) != SJ_OK)
		return e;
	snprintf(uid, sizeof(uid), "%lld", (long long)u->id);
	snprintf(ttl, sizeof(ttl), "%d", AUTH_TOKEN_TTL_S);
	if ((e = db_exec(db, &st_session_insert, params, &r)) != SJ_OK)
		return e;
	*expires_ms = db_ll(r, 0, 0, 0);
	PQclear(r);
	return SJ_OK;
}

enum sj_err
auth_login(struct db *db, const char *email, const char *password,
	   char token[AUTH_TOKEN_MAX], int64_t *expires_ms, struct user *out)
{
	char norm[AUTH_EMAIL_MAX + 1];
	const char *params[1] = {norm};
	const char *stored = dummy_hash;
	PGresult *r = NULL;
	enum sj_err e, v;
	int found;

	token[0] = '\0';
	if (email_normalize(email, norm) != SJ_OK || !password_ok(password))
		return SJ_ENOTFOUND;
	if ((e = db_exec(db, &st_user_by_email, params, &r)) != SJ_OK)
		return e;
	found = db_rows(r) == 1 && db_str(r, 0, 3) != NULL;
	if (found)
		stored = db_str(r, 0, 3);
	/* the same scrypt work whether or not the email exists */
	v = verify_password(password, stored);
	if (!found || v != SJ_OK) {
		if (found && v == SJ_EINVAL)
			log_warn("unreadable password hash for a user");
		PQclear(r);
		return v == SJ_EIO ? SJ_EIO : SJ_ENOTFOUND;
	}
	user_from_row(r, out);
	PQclear(r);
	return session_new(db, out, token, expires_ms);
}

static const struct db_stmt st_bearer = {
    "auth_bearer",
    "SELECT u.id, u.email, u.role FROM sessions s "
    "JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1::bytea "
    "AND s.revoked_at IS NULL AND s.expires_at > now()",
    1};

enum sj_err
auth_bearer(struct db *db, const char *authorization, struct user *out)
{
	char digest[2 + 2 * 32 + 1];
	const char *params[1] = {digest};
	enum sj_err e;

	if ((e = bearer_digest(authorization, digest)) != SJ_OK)
		return e;
	return user_query(db, &st_bearer, params, SJ_ENOTFOUND, out);
}

static const struct db_stmt st_logout = {
    "auth_logout",
    "UPDATE sessions SET revoked_at = now() WHERE token_hash = $1::bytea "
    "AND revoked_at IS NULL AND expires_at > now()",
    1};

enum sj_err
auth_logout(struct db *db, const char *authorization)
{
	char digest[2 + 2 * 32 + 1];
	const char *params[1] = {digest};
	PGresult *r = NULL;
	enum sj_err e;

	if ((e = bearer_digest(authorization, digest)) != SJ_OK)
		return e;
	if ((e = db_exec(db, &st_logout, params, &r)) != SJ_OK)
		return e;
	e = db_rows(r) == 1 ? SJ_OK : SJ_ENOTFOUND;
	PQclear(r);
	return e;
}

/* Sessions past their expiry can never authenticate again. */
static const struct db_stmt st_expire = {
    "auth_sessions_expire", "DELETE FROM sessions WHERE expires_at < now()", 0};

enum sj_err
auth_sessions_expire(struct db *db, long long *deleted)
{
	PGresult *r = NULL;
	enum sj_err e;

	*deleted = 0;
	if ((e = db_exec(db, &st_expire, NULL, &r)) != SJ_OK)
		return e;
	*deleted = db_rows(r);
	PQclear(r);
	return SJ_OK;
}
