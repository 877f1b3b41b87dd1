/* Hex text of bytes and digests (digest.h). */
#include <openssl/evp.h>

#include "digest.h"

void
hex_encode(const void *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *b = in;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The digest md of data as hex into out (2 * size + 1 bytes). */
static enum sj_err
digest_hex(const EVP_MD *md, unsigned size, const void *data, size_t len,
	   char *out)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(data, len, d, &n, md, NULL) != 1 || n != size)
		return SJ_ENOMEM;
	hex_encode(d, n, out);
	return SJ_OK;
}

enum sj_err
sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1])
{
	return digest_hex(EVP_sha256(), SHA256_HEX_LEN / 2, data, len, out);
}

enum sj_err
sha1_hex(const void *data, size_t len, char out[SHA1_HEX_LEN + 1])
{
	return digest_hex(EVP_sha1(), SHA1_HEX_LEN / 2, data, len, out);
}
