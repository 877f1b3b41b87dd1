/*
 * Hex text of bytes and of their digests: the one encoder every name,
 * key, checksum and signature of the project is written with.
 */
#ifndef SJ_DIGEST_H
#define SJ_DIGEST_H

#include <stddef.h>

#include "err.h"

#define SHA256_HEX_LEN 64
#define SHA1_HEX_LEN   40

/* n bytes of in as 2n lowercase hex digits and a NUL into out. */
void hex_encode(const void *in, size_t n, char *out);
/* SHA-256 of data as lowercase hex; SJ_ENOMEM when OpenSSL fails. */
enum sj_err sha256_hex(const void *data, size_t len,
		       char out[SHA256_HEX_LEN + 1]) SJ_WUR;
/* SHA-1 of data as lowercase hex (Cloudinary's signatures). */
enum sj_err sha1_hex(const void *data, size_t len,
		     char out[SHA1_HEX_LEN + 1]) SJ_WUR;

#endif
