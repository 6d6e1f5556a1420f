/* IP address ranges (10.0.0.0/8, 2001:db8::/32) and the test whether an address is inside
 * one: the allowlist of /-/metrics (--metrics-allow). Pure: no I/O, no allocation. */
#ifndef DEPOT_CIDR_H
#define DEPOT_CIDR_H

#include <stdbool.h>
#include <stddef.h>

struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* the network: bits past prefix are zero */
	unsigned prefix;
};

/* Enough for any sensible allowlist, and a bound on what a command line can make the
 * server compare on each scrape. */
#define CIDR_LIST_MAX 64

struct cidr_list {
	struct cidr v[CIDR_LIST_MAX];
	size_t n;
};

/* Parses len bytes of "ADDR" (one host) or "ADDR/PREFIX", IPv4 or IPv6. Host bits past the
 * prefix are allowed and ignored (10.1.2.3/8 is 10.0.0.0/8). 0, or -EINVAL. */
int cidr_parse(const char *text, size_t len, struct cidr *out);
/* Adds each range of a comma-separated list (spaces around commas allowed). 0, -EINVAL
 * for anything that is not a range (an empty entry too), or -E2BIG past CIDR_LIST_MAX;
 * the list is unchanged on failure. */
int cidr_list_add(struct cidr_list *l, const char *text);
/* Is the address (text, as inet_ntop writes it) inside c? An IPv4-mapped IPv6 address
 * (::ffff:10.1.2.3) is its IPv4 address. False for anything that is not an address. */
bool cidr_contains(const struct cidr *c, const char *addr);
bool cidr_list_contains(const struct cidr_list *l, const char *addr);
/* 127.0.0.0/8, ::1, or an IPv4-mapped 127.x address. */
bool cidr_is_loopback(const char *addr);

#endif
