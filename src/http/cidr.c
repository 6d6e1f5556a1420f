/* IP address ranges (see cidr.h): parsed once at start, compared byte by byte. */
#include "cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

int cidr_parse(const char *text, size_t len, struct cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 5];
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, text, len);
	buf[len] = '\0';
	char *slash = strchr(buf, '/');
	struct cidr c = {0};
	c.family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	unsigned max = c.family == AF_INET ? 32 : 128;
	c.prefix = max;
	if (slash) {
		*slash = '\0';
		const char *p = slash + 1;
		size_t digits = strspn(p, "0123456789");
		if (digits == 0 || digits > 3 || p[digits] != '\0')
			return -EINVAL;
		c.prefix = 0;
		for (size_t i = 0; i < digits; i++)
			c.prefix = c.prefix * 10 + (unsigned)(p[i] - '0');
		if (c.prefix > max)
			return -EINVAL;
	}
	if (inet_pton(c.family, buf, c.addr) != 1)
		return -EINVAL;
	/* an IPv4-mapped range is an IPv4 one, as the addresses it is compared with are */
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (c.family == AF_INET6 && c.prefix >= 96 && memcmp(c.addr, mapped, 12) == 0) {
		memmove(c.addr, c.addr + 12, 4);
		memset(c.addr + 4, 0, 12);
		c.family = AF_INET;
		c.prefix -= 96;
		max = 32;
	}
	for (unsigned bit = c.prefix; bit < max; bit++)
		c.addr[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
	*out = c;
	return 0;
}

int cidr_list_add(struct cidr_list *l, const char *text)
{
	size_t n = l->n;
	for (const char *p = text;; p++) {
		p += strspn(p, " ");
		size_t len = strcspn(p, ",");
		size_t trimmed = len;
		while (trimmed && p[trimmed - 1] == ' ')
			trimmed--;
		if (n == CIDR_LIST_MAX)
			return -E2BIG;
		if (cidr_parse(p, trimmed, &l->v[n]) != 0)
			return -EINVAL;
		n++;
		p += len;
		if (!*p)
			break;
	}
	l->n = n;
	return 0;
}

/* addr as a family and bytes; a mapped IPv4 address becomes IPv4. */
static int addr_bytes(const char *addr, unsigned char out[16])
{
	if (!strchr(addr, ':'))
		return inet_pton(AF_INET, addr, out) == 1 ? AF_INET : -1;
	if (inet_pton(AF_INET6, addr, out) != 1)
		return -1;
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (memcmp(out, mapped, sizeof(mapped)) == 0) {
		memmove(out, out + 12, 4);
		return AF_INET;
	}
	return AF_INET6;
}

static bool bytes_within(const struct cidr *c, int family, const unsigned char *a)
{
	if (family != c->family)
		return false;
	unsigned whole = c->prefix / 8, rest = c->prefix % 8;
	if (memcmp(a, c->addr, whole) != 0)
		return false;
	if (!rest)
		return true;
	unsigned char mask = (unsigned char)(0xffu << (8 - rest));
	return (a[whole] & mask) == c->addr[whole];
}

bool cidr_contains(const struct cidr *c, const char *addr)
{
	unsigned char a[16];
	int family = addr_bytes(addr, a);
	return family > 0 && bytes_within(c, family, a);
}

bool cidr_list_contains(const struct cidr_list *l, const char *addr)
{
	unsigned char a[16];
	int family = addr_bytes(addr, a);
	for (size_t i = 0; family > 0 && i < l->n; i++)
		if (bytes_within(&l->v[i], family, a))
			return true;
	return false;
}

bool cidr_is_loopback(const char *addr)
{
	unsigned char a[16];
	static const unsigned char one[16] = {[15] = 1};
	int family = addr_bytes(addr, a);
	return (family == AF_INET && a[0] == 127) ||
	       (family == AF_INET6 && memcmp(a, one, sizeof(one)) == 0);
}
