/*
 * Names of generated media and the shared media cache (sql/005, sql/012).
 *
 * A name is "<prefix>-<32 hex>" where the hex is HMAC-SHA256, under the
 * database's media_names key, of the parts that made the image: equal
 * requests share one name (and one stored image), and nobody without
 * the key can derive a name from a prompt.
 */
#ifndef SJ_MEDIA_NAMES_H
#define SJ_MEDIA_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "err.h"

#define MEDIA_KEY_MAX	 64 /* bytes of a server key */
#define MEDIA_DIGEST_LEN 32 /* bytes of HMAC-SHA256 */

struct media_key {
	unsigned char k[MEDIA_KEY_MAX];
	size_t len;
};

/* Reads the media_names key; SJ_ENOTFOUND when the schema has none. */
enum sj_err media_key_load(struct db *db, struct media_key *key) SJ_WUR;

/*
 * HMAC-SHA256 under key of parts[0..n), each followed by a NUL byte so
 * ("ab", "c") and ("a", "bc") differ.
 */
enum sj_err media_hmac(const struct media_key *key, const char *const *parts,
		       size_t n, unsigned char md[MEDIA_DIGEST_LEN]) SJ_WUR;

/*
 * The cached URL of name.  *mine: the image was made for the owner of the
 * job job_id (the same user, or the same anonymous client); SJ_ENOTFOUND
 * on a miss.
 */
enum sj_err media_cache_get(struct db *db, const char *name, const char *job_id,
			    char *url, size_t urlsz, bool *mine) SJ_WUR;
/* Records name -> url as made for job_id's owner (the first is kept). */
enum sj_err media_cache_put(struct db *db, const char *name, const char *url,
			    const char *job_id) SJ_WUR;

#endif
