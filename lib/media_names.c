/*
 * Media names under the server's key, and the media cache.
 *
 * DESIGN
 * The key is read once when a worker starts (it changes only by an
 * operator's UPDATE and a restart).  HMAC goes through OpenSSL 3's EVP_MAC
 * so the parts are fed one by one, never copied into one buffer.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "media_names.h"

static const struct db_stmt st_key = {
    "media_key",
    "SELECT encode(key, 'hex') FROM server_keys WHERE name = "
    "'media_names'",
    0};

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

enum sj_err
media_key_load(struct db *db, struct media_key *key)
{
	PGresult *r = NULL;
	const char *hex;
	enum sj_err e;
	size_t n;

	memset(key, 0, sizeof(*key));
	if ((e = db_exec(db, &st_key, NULL, &r)) != SJ_OK)
		return e;
	hex = PQntuples(r) == 1 ? db_str(r, 0, 0) : NULL;
	n = hex ? strlen(hex) : 0;
	if (hex == NULL)
		e = SJ_ENOTFOUND;
	else if (n % 2 != 0 || n / 2 < 32 || n / 2 > MEDIA_KEY_MAX)
		e = SJ_EINVAL;
	for (size_t i = 0; e == SJ_OK && i < n / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			e = SJ_EINVAL;
		else
			key->k[i] = (unsigned char)(hi << 4 | lo);
	}
	if (e == SJ_OK)
		key->len = n / 2;
	PQclear(r);
	return e;
}

enum sj_err
media_hmac(const struct media_key *key, const char *const *parts, size_t n,
	   unsigned char md[MEDIA_DIGEST_LEN])
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
	    OSSL_PARAM_construct_end()};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	enum sj_err e = SJ_ENOMEM;
	size_t len = 0;

	if (ctx == NULL || key->len == 0 ||
	    EVP_MAC_init(ctx, key->k, key->len, params) != 1)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (EVP_MAC_update(ctx, (const unsigned char *)parts[i],
				   strlen(parts[i])) != 1 ||
		    EVP_MAC_update(ctx, (const unsigned char *)"", 1) != 1)
			goto out;
	if (EVP_MAC_final(ctx, md, &len, MEDIA_DIGEST_LEN) == 1 &&
	    len == MEDIA_DIGEST_LEN)
		e = SJ_OK;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return e;
}

/*
 * The owner scope of a job, as made_by records it: "user:ID", or
 * "anon:CLIENT" (the client key the API saw; "anon:" when unknown).
 */
#define OWNER_OF(id)                                                           \
	"(SELECT CASE WHEN coalesce(user_id, 0) <> 0 THEN 'user:' || user_id " \
	"ELSE 'anon:' || coalesce(client, '') END FROM jobs WHERE id = " id    \
	")"

static const struct db_stmt st_cache_get = {
    "media_cache_get",
    "SELECT url, made_by IS NOT NULL AND made_by = " OWNER_OF(
	"$2") " FROM "
	      "media_cache WHERE name = $1",
    2};

enum sj_err
media_cache_get(struct db *db, const char *name, const char *job_id, char *url,
		size_t urlsz, bool *mine)
{
	const char *params[2] = {name, job_id};
	PGresult *r = NULL;
	enum sj_err e;

	*mine = false;
	if ((e = db_exec(db, &st_cache_get, params, &r)) != SJ_OK)
		return e;
	if (PQntuples(r) != 1 || db_str(r, 0, 0) == NULL)
		e = SJ_ENOTFOUND;
	else if ((size_t)snprintf(url, urlsz, "%s", db_str(r, 0, 0)) >= urlsz)
		e = SJ_ETOOBIG;
	else
		*mine = db_bool(r, 0, 1);
	PQclear(r);
	return e;
}

static const struct db_stmt st_cache_put = {
    "media_cache_put",
    "INSERT INTO media_cache (name, url, made_by) VALUES ($1, $2, " OWNER_OF(
	"$3") ") ON CONFLICT (name) DO UPDATE SET url = EXCLUDED.url",
    3};

enum sj_err
media_cache_put(struct db *db, const char *name, const char *url,
		const char *job_id)
{
	const char *params[3] = {name, url, job_id};

	return db_exec(db, &st_cache_put, params, NULL);
}
