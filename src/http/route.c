/* Path matching and percent-decoding (see route.h). */
#include "route.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long pct_decode(const char *in, size_t len, char *out, size_t outcap, bool plus_space)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -1;
			int hi = hexval((unsigned char)in[i + 1]), lo = hexval((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (c == '\0' || o + 1 >= outcap)
			return -1;
		out[o++] = (char)c;
	}
	if (outcap == 0)
		return -1;
	out[o] = '\0';
	return (long)o;
}

int route_match(const char *pattern, const char *path, struct route_capture *caps, int maxcaps)
{
	int ncaps = 0;
	const char *p = pattern, *u = path;
	/* One pass over both, byte by byte: each request tries most of the route table, and
	 * nearly every pattern differs from the path within its first segments. */
	while (*p) {
		if (*p != '/' || *u != '/')
			return -1;
		p++, u++;
		if (p[0] == '*') {
			size_t ulen = strlen(u);
			if (ulen == 0 || ncaps >= maxcaps)
				return -1;
			caps[ncaps++] = (struct route_capture){u, ulen};
			return ncaps;
		}
		if (p[0] == ':') {
			const char *start = u;
			while (*u && *u != '/')
				u++;
			if (u == start || ncaps >= maxcaps)
				return -1;
			caps[ncaps++] = (struct route_capture){start, (size_t)(u - start)};
			while (*p && *p != '/')
				p++;
			continue;
		}
		while (*p && *p != '/' && *p == *u)
			p++, u++;
		if ((*p && *p != '/') || (*u && *u != '/'))
			return -1; /* the literal segments differ */
	}
	return *u == '\0' ? ncaps : -1;
}

enum project_ref_kind project_ref_parse(const char *s, int64_t *id_out)
{
	const char *d = s[0] == '-' ? s + 1 : s;
	if (*d && strspn(d, "0123456789") == strlen(d)) {
		errno = 0;
		long long v = strtoll(s, NULL, 10);
		if (errno != 0)
			return PROJECT_REF_NONE;
		*id_out = v;
		return PROJECT_REF_ID;
	}
	return strchr(s, '/') ? PROJECT_REF_PATH : PROJECT_REF_NONE;
}
