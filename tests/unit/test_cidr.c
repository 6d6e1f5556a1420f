/* Unit tests for the address ranges of --metrics-allow (cidr.c). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "cidr.h"

static int parse(const char *s, struct cidr *c)
{
	return cidr_parse(s, strlen(s), c);
}

static void parsing(void)
{
	struct cidr c;
	CHECK(parse("10.0.0.0/8", &c) == 0 && c.family == AF_INET && c.prefix == 8);
	CHECK(parse("192.0.2.7", &c) == 0 && c.prefix == 32); /* one host */
	CHECK(parse("2001:db8::/32", &c) == 0 && c.family == AF_INET6 && c.prefix == 32);
	CHECK(parse("::1", &c) == 0 && c.prefix == 128);
	CHECK(parse("0.0.0.0/0", &c) == 0 && c.prefix == 0);
	CHECK(parse("::/0", &c) == 0 && c.prefix == 0);
	/* host bits past the prefix are dropped, as GitLab's IPAddr does */
	CHECK(parse("10.1.2.3/8", &c) == 0 && c.addr[0] == 10 && c.addr[1] == 0 && c.addr[3] == 0);
	CHECK(parse("10.1.2.3/12", &c) == 0 && c.addr[1] == 0);
	CHECK(parse("10.31.2.3/12", &c) == 0 && c.addr[1] == 16);
	/* an IPv4-mapped range is the IPv4 range */
	CHECK(parse("::ffff:10.0.0.0/104", &c) == 0 && c.family == AF_INET && c.prefix == 8);
	static const char *const bad[] = {"",
					  "10.0.0.0/",
					  "10.0.0.0/33",
					  "::/129",
					  "10.0.0/8",
					  "10.0.0.0/8/8",
					  "10.0.0.0/-1",
					  "10.0.0.0/+8",
					  "10.0.0.0/0008",
					  "example.com",
					  "10.0.0.256",
					  "1.2.3.4 ",
					  " 1.2.3.4",
					  "/8",
					  "2001:db8::g/32",
					  "fe80::1%eth0",
					  "10.0.0.0/8a"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(parse(bad[i], &c) == -EINVAL);
}

static void matching(void)
{
	struct cidr c;
	CHECK(parse("10.0.0.0/8", &c) == 0);
	CHECK(cidr_contains(&c, "10.0.0.0") && cidr_contains(&c, "10.255.255.255"));
	CHECK(!cidr_contains(&c, "11.0.0.0") && !cidr_contains(&c, "9.255.255.255"));
	CHECK(cidr_contains(&c, "::ffff:10.1.2.3")); /* a dual-stack socket's IPv4 client */
	CHECK(!cidr_contains(&c, "::a01:203"));	     /* IPv4-compatible is not mapped */
	CHECK(!cidr_contains(&c, "?") && !cidr_contains(&c, "") && !cidr_contains(&c, "10.0.0"));
	CHECK(parse("172.16.0.0/12", &c) == 0);
	CHECK(cidr_contains(&c, "172.31.255.1") && !cidr_contains(&c, "172.32.0.1"));
	CHECK(!cidr_contains(&c, "172.15.255.255"));
	CHECK(parse("2001:db8::/32", &c) == 0);
	CHECK(cidr_contains(&c, "2001:db8::1") && cidr_contains(&c, "2001:db8:ffff::1"));
	CHECK(!cidr_contains(&c, "2001:db9::1") && !cidr_contains(&c, "10.0.0.1"));
	CHECK(parse("2001:db8::/33", &c) == 0);
	CHECK(cidr_contains(&c, "2001:db8:7fff::1") && !cidr_contains(&c, "2001:db8:8000::1"));
	CHECK(parse("0.0.0.0/0", &c) == 0);
	CHECK(cidr_contains(&c, "203.0.113.9") && !cidr_contains(&c, "2001:db8::1"));
	CHECK(parse("192.0.2.7", &c) == 0);
	CHECK(cidr_contains(&c, "192.0.2.7") && !cidr_contains(&c, "192.0.2.6"));
}

static void lists(void)
{
	struct cidr_list l = {0};
	CHECK(cidr_list_add(&l, "10.0.0.0/8") == 0 && l.n == 1);
	CHECK(cidr_list_add(&l, "2001:db8::/32, 192.0.2.7 ,::1") == 0 && l.n == 4);
	CHECK(cidr_list_contains(&l, "10.9.8.7") && cidr_list_contains(&l, "2001:db8::5"));
	CHECK(cidr_list_contains(&l, "192.0.2.7") && !cidr_list_contains(&l, "192.0.2.8"));
	/* a bad entry anywhere refuses the whole value and leaves the list as it was */
	CHECK(cidr_list_add(&l, "172.16.0.0/12,nope") == -EINVAL && l.n == 4);
	CHECK(!cidr_list_contains(&l, "172.16.0.1"));
	CHECK(cidr_list_add(&l, "") == -EINVAL && cidr_list_add(&l, "1.2.3.4,") == -EINVAL);
	CHECK(cidr_list_add(&l, ",1.2.3.4") == -EINVAL &&
	      cidr_list_add(&l, "1.2.3.4,,5.6.7.8") == -EINVAL);
	CHECK(l.n == 4);
	struct cidr_list full = {0};
	for (int i = 0; i < CIDR_LIST_MAX; i++)
		CHECK(cidr_list_add(&full, "10.0.0.1") == 0);
	CHECK(cidr_list_add(&full, "10.0.0.2") == -E2BIG && full.n == CIDR_LIST_MAX);
	struct cidr_list empty = {0};
	CHECK(!cidr_list_contains(&empty, "127.0.0.1"));
}

static void loopback(void)
{
	CHECK(cidr_is_loopback("127.0.0.1") && cidr_is_loopback("127.255.0.9"));
	CHECK(cidr_is_loopback("::1") && cidr_is_loopback("::ffff:127.0.0.1"));
	CHECK(!cidr_is_loopback("128.0.0.1") && !cidr_is_loopback("::2"));
	CHECK(!cidr_is_loopback("?") && !cidr_is_loopback("localhost") && !cidr_is_loopback(""));
}

int main(void)
{
	parsing();
	matching();
	lists();
	loopback();
	return check_done("cidr");
}
