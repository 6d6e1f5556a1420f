/* Path matching and percent-decoding (see route.h). */
#include "route.h"

#include <errno.h>
#include <limits.h>
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

/* One entry of the index, in a list of those that end at the same node; lists are in
 * number order, as entries are added in that order. */
struct route_entry {
	int id;
	unsigned kinds;
	int next; /* in entries[], -1 at the end */
};

/* A segment position in the patterns' tree; children and lists are indexes into the
 * index's arrays (which grow), -1 for none. */
struct route_node {
	const char *lit; /* the literal segment leading here; NULL for a parameter */
	size_t litlen;
	int literals; /* first literal child; siblings link through next */
	int next;
	int param; /* the ":x" child */
	int min_id; /* the lowest entry number in this subtree: a search stops here above it */
	int ends, ends_tail; /* entries whose pattern ends here */
	int rests, rests_tail; /* entries whose pattern's "*x" follows here */
};

struct route_index {
	struct route_node *nodes; /* [0] is the root, the path's leading '/' */
	size_t nnodes, nodes_cap;
	struct route_entry *entries;
	size_t nentries, entries_cap;
	int next_id;
};

static int node_new(struct route_index *ix, const char *lit, size_t litlen)
{
	if (ix->nnodes == ix->nodes_cap) {
		size_t cap = ix->nodes_cap ? 2 * ix->nodes_cap : 32;
		struct route_node *n = realloc(ix->nodes, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		ix->nodes = n, ix->nodes_cap = cap;
	}
	ix->nodes[ix->nnodes] =
	    (struct route_node){lit, litlen, -1, -1, -1, INT_MAX, -1, -1, -1, -1};
	return (int)ix->nnodes++;
}

struct route_index *route_index_new(void)
{
	struct route_index *ix = calloc(1, sizeof(*ix));
	if (ix && node_new(ix, NULL, 0) < 0) {
		free(ix);
		ix = NULL;
	}
	return ix;
}

void route_index_free(struct route_index *ix)
{
	if (!ix)
		return;
	free(ix->nodes);
	free(ix->entries);
	free(ix);
}

/* The child of node reached by one pattern segment, created if need be; a new literal
 * goes first among its siblings (their order does not matter: they differ). */
static int child(struct route_index *ix, int node, const char *seg, size_t len)
{
	bool param = seg[0] == ':';
	int c = param ? ix->nodes[node].param : ix->nodes[node].literals;
	for (; c >= 0 && !param; c = ix->nodes[c].next)
		if (ix->nodes[c].litlen == len && memcmp(ix->nodes[c].lit, seg, len) == 0)
			break;
	if (c >= 0)
		return c;
	c = param ? node_new(ix, NULL, 0) : node_new(ix, seg, len);
	if (c < 0)
		return c;
	if (param) {
		ix->nodes[node].param = c;
	} else {
		ix->nodes[c].next = ix->nodes[node].literals;
		ix->nodes[node].literals = c;
	}
	return c;
}

/* Appends an entry to the list head..tail (number order, as entries come in order). */
static int entry_append(struct route_index *ix, int *head, int *tail, int id, unsigned kinds)
{
	if (ix->nentries == ix->entries_cap) {
		size_t cap = ix->entries_cap ? 2 * ix->entries_cap : 32;
		struct route_entry *e = realloc(ix->entries, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		ix->entries = e, ix->entries_cap = cap;
	}
	int e = (int)ix->nentries++;
	ix->entries[e] = (struct route_entry){id, kinds, -1};
	if (*tail >= 0)
		ix->entries[*tail].next = e;
	else
		*head = e;
	*tail = e;
	return 0;
}

int route_index_add(struct route_index *ix, const char *pattern, unsigned kinds)
{
	/* what route_match could never match is a mistake in the table */
	int ncaps = 0;
	for (const char *p = pattern; *p == '/' && p[1] != '*'; p = strchrnul(p + 1, '/'))
		ncaps += p[1] == ':';
	if (pattern[0] != '/' || ncaps + (strstr(pattern, "/*") != NULL) > ROUTE_MAX_CAPTURES)
		return -EINVAL;
	int id = ix->next_id, node = 0;
	const char *p = pattern;
	/* p is at a '/' or at the end; a "*x" segment takes the rest, whatever follows it */
	while (*p && p[1] != '*') {
		if (ix->nodes[node].min_id > id)
			ix->nodes[node].min_id = id;
		const char *seg = p + 1, *end = strchrnul(seg, '/');
		node = child(ix, node, seg, (size_t)(end - seg));
		if (node < 0)
			return node;
		p = end;
	}
	struct route_node *n = &ix->nodes[node];
	if (n->min_id > id)
		n->min_id = id;
	int rc = *p ? entry_append(ix, &n->rests, &n->rests_tail, id, kinds)
		    : entry_append(ix, &n->ends, &n->ends_tail, id, kinds);
	if (rc < 0)
		return rc;
	return ix->next_id++;
}

struct route_search {
	const struct route_index *ix;
	unsigned kinds;
	int best; /* the lowest entry number found so far; INT_MAX for none */
	struct route_capture cur[ROUTE_MAX_CAPTURES]; /* on the way to the node searched */
	struct route_capture *caps; /* the best entry's */
	int ncaps;
};

/* The list's first entry of a wanted kind becomes best if it is below it; its captures
 * are cur[0..ncaps). */
static void search_list(struct route_search *s, int e, int ncaps)
{
	for (; e >= 0 && s->ix->entries[e].id < s->best; e = s->ix->entries[e].next)
		if (s->ix->entries[e].kinds & s->kinds) {
			s->best = s->ix->entries[e].id;
			memcpy(s->caps, s->cur, (size_t)ncaps * sizeof(s->cur[0]));
			s->ncaps = ncaps;
			return;
		}
}

/* u is at the '/' before the path's next segment, or at its end; cur[0..depth) holds the
 * captures so far. Recursion is as deep as the patterns, whatever the path. The literal
 * and parameter branches go first: the catch-alls come late in a table. */
static void search(struct route_search *s, int node, const char *u, int depth)
{
	const struct route_node *n = &s->ix->nodes[node];
	if (n->min_id >= s->best)
		return;
	if (!*u) {
		search_list(s, n->ends, depth);
		return;
	}
	const char *seg = u + 1, *end = strchrnul(seg, '/');
	size_t len = (size_t)(end - seg);
	for (int c = n->literals; c >= 0; c = s->ix->nodes[c].next)
		if (s->ix->nodes[c].litlen == len && memcmp(s->ix->nodes[c].lit, seg, len) == 0) {
			search(s, c, end, depth);
			break;
		}
	/* route_index_add refused patterns with more captures than cur holds */
	if (depth == ROUTE_MAX_CAPTURES)
		return;
	if (len && n->param >= 0) {
		s->cur[depth] = (struct route_capture){seg, len};
		search(s, n->param, end, depth + 1);
	}
	if (*seg && n->rests >= 0 && s->ix->entries[n->rests].id < s->best) {
		s->cur[depth] = (struct route_capture){seg, strlen(seg)}; /* one byte or more */
		search_list(s, n->rests, depth + 1);
	}
}

int route_index_find(const struct route_index *ix, const char *path, unsigned kinds,
		     struct route_capture *caps, int *ncaps)
{
	struct route_search s = {.ix = ix, .kinds = kinds, .best = INT_MAX, .caps = caps};
	if (path[0] == '/')
		search(&s, 0, path, 0);
	*ncaps = s.ncaps;
	return s.best == INT_MAX ? -1 : s.best;
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
