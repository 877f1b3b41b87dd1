/*
 * Who an anonymous caller is, for the limits that count per client: the
 * peer address nginx passes as REMOTE_ADDR (behind a trusted proxy,
 * nginx's real_ip makes that the real client).  An IPv4 address is one
 * client; an IPv6 address is counted by its /64 prefix, because one
 * subscriber line (one home, one server) is normally given a whole /64
 * and can pick any address in it at will.
 */
#ifndef SJ_CLIENT_H
#define SJ_CLIENT_H

#include "err.h"

/* "ffff:ffff:ffff:ffff::/64" and its NUL fit; so does any IPv4 address. */
#define CLIENT_KEY_MAX 48

/*
 * The client key of addr into out: an IPv4 address in dotted form (an
 * IPv4-mapped IPv6 address too), else the IPv6 address's /64 prefix as
 * "2001:db8:1:2::/64".  SJ_EINVAL when addr is NULL or not an address;
 * out is then "unknown", one key shared by all such callers.
 */
enum sj_err client_key(const char *addr, char out[CLIENT_KEY_MAX]) SJ_WUR;

#endif
