/*
 * Users, passwords and sessions.
 *
 * Passwords: scrypt through OpenSSL's EVP_KDF (maxmem set), stored as
 * "scrypt$<logN>$<r>$<p>$<salt b64>$<hash b64>"; capped at
 * AUTH_PASSWORD_MAX bytes before hashing.  Tokens are opaque: 32 random
 * bytes, base64url, stored only as their SHA-256 with an expiry; logout
 * revokes at once.  An unknown email and a wrong password give the same
 * answer after the same work (a dummy hash is verified).
 */
#ifndef SJ_AUTH_H
#define SJ_AUTH_H

#include <stdint.h>

#include "cfg.h"
#include "db.h"
#include "err.h"

#define AUTH_EMAIL_MAX	  254
#define AUTH_PASSWORD_MIN 8
#define AUTH_PASSWORD_MAX 256
#define AUTH_TOKEN_MAX	  64 /* buffer size of a token string */
#define AUTH_TOKEN_TTL_S  (7 * 24 * 3600)

enum user_role { ROLE_USER = 0, ROLE_ADMIN, ROLE_MAX };

struct user {
	int64_t id;
	char email[AUTH_EMAIL_MAX + 1];
	enum user_role role;
};

const char *auth_role_name(enum user_role r);

/*
 * Creates a user.  SJ_EINVAL with *msg set for a bad email or password
 * ("Invalid email address", "Password must be 8 to 256 characters"),
 * SJ_ECONFLICT when the email (case-insensitive) exists.
 */
enum sj_err auth_user_create(struct db *db, const char *email,
			     const char *password, enum user_role role,
			     struct user *out, const char **msg) SJ_WUR;
/* Sets a new password and revokes every session of the user. */
enum sj_err auth_set_password(struct db *db, const char *email,
			      const char *password, const char **msg) SJ_WUR;
/*
 * The email as stored (trimmed, ASCII lowercased) into out; SJ_EINVAL
 * when it cannot be a user's (one '@' inside, 3..254 bytes, no spaces).
 */
enum sj_err auth_email_normalize(const char *in,
				 char out[AUTH_EMAIL_MAX + 1]) SJ_WUR;
/* SJ_ENOTFOUND for any wrong email/password pair. */
enum sj_err auth_login(struct db *db, const char *email, const char *password,
		       char token[AUTH_TOKEN_MAX], int64_t *expires_ms,
		       struct user *out) SJ_WUR;
/*
 * Resolves an Authorization header value ("Bearer <token>").
 * SJ_EINVAL: not a Bearer header; SJ_ENOTFOUND: unknown, expired or
 * revoked token.
 */
enum sj_err auth_bearer(struct db *db, const char *authorization,
			struct user *out) SJ_WUR;
/*
 * The password hashing alone, for tests and tools: auth_hash_password
 * writes "scrypt$15$8$1$<salt>$<key>" (SJ_EINVAL: length out of bounds);
 * auth_verify_password gives SJ_OK on a match, SJ_ENOTFOUND on a
 * mismatch, SJ_EINVAL for a bad length or an unreadable stored string.
 */
#define AUTH_HASH_MAX 160
enum sj_err auth_hash_password(const char *pw, char out[AUTH_HASH_MAX]) SJ_WUR;
enum sj_err auth_verify_password(const char *pw, const char *stored) SJ_WUR;
/* Revokes the session of the header's token; SJ_ENOTFOUND if none. */
enum sj_err auth_logout(struct db *db, const char *authorization) SJ_WUR;
/* Deletes every session past its expiry; *deleted receives the count. */
enum sj_err auth_sessions_expire(struct db *db, long long *deleted) SJ_WUR;

#endif
