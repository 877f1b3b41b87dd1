/* client_key(): an anonymous caller's identity for per-client limits. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "client.h"

enum sj_err
client_key(const char *addr, char out[CLIENT_KEY_MAX])
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0,	   0,
						 0, 0, 0, 0, 0xff, 0xff};
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];

	snprintf(out, CLIENT_KEY_MAX, "unknown");
	if (addr == NULL)
		return SJ_EINVAL;
	if (inet_pton(AF_INET, addr, a) == 1)
		return inet_ntop(AF_INET, a, out, CLIENT_KEY_MAX) ? SJ_OK
								  : SJ_EINVAL;
	if (inet_pton(AF_INET6, addr, a) != 1)
		return SJ_EINVAL;
	if (memcmp(a, mapped, sizeof(mapped)) == 0)
		return inet_ntop(AF_INET, a + 12, out, CLIENT_KEY_MAX)
			   ? SJ_OK
			   : SJ_EINVAL;
	memset(a + 8, 0, 8);
	if (inet_ntop(AF_INET6, a, text, sizeof(text)) == NULL)
		return SJ_EINVAL;
	/* at most "ffff:ffff:ffff:ffff::" */
	snprintf(out, CLIENT_KEY_MAX, "%.40s/64", text);
	return SJ_OK;
}
