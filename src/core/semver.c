/* Semantic versions and npm-style selectors (see semver.h). A range is desugared as npm's
 * node-semver does it into sets of plain comparators ("^1.2" is ">=1.2.0 <2.0.0-0"), so
 * that matching is one loop; upper bounds end in "-0", the lowest pre-release, so that a
 * range's end excludes that version's pre-releases too. */
#include "semver.h"

#include <errno.h>
#include <string.h>

/* Numbers beyond 15 digits are refused, so that "+1" in the desugaring never overflows
 * (npm's limit is 2^53 - 1 as well). */
#define NUM_DIGITS_MAX 15

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_ident_char(char c)
{
	return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-';
}

/* A numeric component at s[*i]: digits, no leading zero. */
static int parse_num(const char *s, size_t len, size_t *i, uint64_t *out)
{
	size_t start = *i;
	uint64_t v = 0;
	while (*i < len && is_digit(s[*i]))
		v = v * 10 + (uint64_t)(s[(*i)++] - '0');
	size_t n = *i - start;
	if (n == 0 || n > NUM_DIGITS_MAX || (n > 1 && s[start] == '0'))
		return -EINVAL;
	*out = v;
	return 0;
}

/* Dot-separated identifiers from s[*i] up to a character outside them; numeric ones may
 * not have leading zeros when strict_numbers (pre-releases; build metadata may). */
static int parse_idents(const char *s, size_t len, size_t *i, bool strict_numbers)
{
	for (;;) {
		size_t start = *i;
		bool numeric = true;
		for (; *i < len && is_ident_char(s[*i]); ++*i)
			numeric = numeric && is_digit(s[*i]);
		size_t n = *i - start;
		if (n == 0 || (strict_numbers && numeric && n > 1 && s[start] == '0'))
			return -EINVAL;
		if (*i == len || s[*i] != '.')
			return 0;
		(*i)++;
	}
}

/* The optional "-pre" and "+build" after MAJOR.MINOR.PATCH at s[*i]. */
static int parse_tail(const char *s, size_t len, size_t *i, struct semver *v)
{
	v->pre = NULL;
	v->pre_len = 0;
	if (*i < len && s[*i] == '-') {
		size_t start = ++*i;
		if (parse_idents(s, len, i, true) != 0)
			return -EINVAL;
		v->pre = s + start;
		v->pre_len = *i - start;
	}
	if (*i < len && s[*i] == '+') {
		++*i;
		if (parse_idents(s, len, i, false) != 0)
			return -EINVAL;
	}
	return 0;
}

static int parse_span(const char *s, size_t len, struct semver *out)
{
	size_t i = 0;
	if (parse_num(s, len, &i, &out->major) != 0 || i >= len || s[i++] != '.' ||
	    parse_num(s, len, &i, &out->minor) != 0 || i >= len || s[i++] != '.' ||
	    parse_num(s, len, &i, &out->patch) != 0 || parse_tail(s, len, &i, out) != 0)
		return -EINVAL;
	return i == len ? 0 : -EINVAL;
}

int semver_parse(const char *s, struct semver *out)
{
	return parse_span(s, strlen(s), out);
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

/* One pre-release identifier against another: numbers numerically and below words, words
 * in ASCII order. */
static int cmp_ident(const char *a, size_t alen, const char *b, size_t blen)
{
	bool anum = true, bnum = true;
	for (size_t i = 0; i < alen; i++)
		anum = anum && is_digit(a[i]);
	for (size_t i = 0; i < blen; i++)
		bnum = bnum && is_digit(b[i]);
	if (anum && bnum) /* no leading zeros: the longer is the larger */
		return alen != blen ? cmp_u64(alen, blen) : (memcmp(a, b, alen) > 0) - (memcmp(a, b, alen) < 0);
	if (anum != bnum)
		return anum ? -1 : 1;
	size_t n = alen < blen ? alen : blen;
	int c = memcmp(a, b, n);
	return c != 0 ? (c < 0 ? -1 : 1) : cmp_u64(alen, blen);
}

int semver_cmp(const struct semver *a, const struct semver *b)
{
	int c = cmp_u64(a->major, b->major);
	if (c == 0)
		c = cmp_u64(a->minor, b->minor);
	if (c == 0)
		c = cmp_u64(a->patch, b->patch);
	if (c != 0)
		return c;
	if (!a->pre_len || !b->pre_len) /* a release ranks above its pre-releases */
		return cmp_u64(!a->pre_len, !b->pre_len);
	size_t i = 0, j = 0;
	while (i < a->pre_len && j < b->pre_len) {
		size_t ie = i, je = j;
		while (ie < a->pre_len && a->pre[ie] != '.')
			ie++;
		while (je < b->pre_len && b->pre[je] != '.')
			je++;
		if ((c = cmp_ident(a->pre + i, ie - i, b->pre + j, je - j)) != 0)
			return c;
		i = ie + 1;
		j = je + 1;
	}
	/* equal so far: the one with identifiers left ranks higher */
	return cmp_u64(i < a->pre_len, j < b->pre_len);
}

/* A partial version of a range: n numeric components (0-3) before a wildcard or the end. */
struct partial {
	int n;
	uint64_t v[3];
	const char *pre;
	size_t pre_len;
};

static bool is_wild(char c)
{
	return c == 'x' || c == 'X' || c == '*';
}

static int parse_partial(const char *s, size_t len, struct partial *p)
{
	size_t i = 0;
	bool wild = false;
	*p = (struct partial){0};
	for (int k = 0; k < 3; k++) {
		if (k > 0) {
			if (i == len)
				break;
			if (s[i++] != '.')
				return -EINVAL;
		}
		if (i < len && is_wild(s[i])) {
			wild = true;
			i++;
		} else if (wild || parse_num(s, len, &i, &p->v[k]) != 0) {
			return -EINVAL;
		} else {
			p->n = k + 1;
		}
	}
	if (p->n == 3) {
		struct semver tail;
		if (parse_tail(s, len, &i, &tail) != 0)
			return -EINVAL;
		p->pre = tail.pre;
		p->pre_len = tail.pre_len;
	}
	return i == len ? 0 : -EINVAL;
}

static const char lowest_pre[] = "0";

static int add(struct semver_range *r, enum semver_op op, uint64_t ma, uint64_t mi, uint64_t pa,
	       const char *pre, size_t pre_len)
{
	if (r->ncomparators == SEMVER_MAX_COMPARATORS)
		return -EINVAL;
	r->set_of[r->ncomparators] = r->nsets;
	r->c[r->ncomparators++] = (struct semver_comparator){
		op, {.major = ma, .minor = mi, .patch = pa, .pre = pre, .pre_len = pre_len}};
	return 0;
}

/* "< the next version at level n": < (M+1).0.0-0 for n 1, < M.(m+1).0-0 for n 2. */
static int add_below_next(struct semver_range *r, const struct partial *p, int n)
{
	return n == 1 ? add(r, SEMVER_LT, p->v[0] + 1, 0, 0, lowest_pre, 1)
		      : add(r, SEMVER_LT, p->v[0], p->v[1] + 1, 0, lowest_pre, 1);
}

static int add_lower(struct semver_range *r, const struct partial *p)
{
	return add(r, SEMVER_GE, p->v[0], p->v[1], p->v[2], p->pre, p->pre_len);
}

/* An upper bound that includes every version the partial covers. */
static int add_upper_inclusive(struct semver_range *r, const struct partial *p)
{
	if (p->n == 3)
		return add(r, SEMVER_LE, p->v[0], p->v[1], p->v[2], p->pre, p->pre_len);
	return p->n == 0 ? 0 : add_below_next(r, p, p->n);
}

static int add_caret(struct semver_range *r, const struct partial *p)
{
	int ret = add_lower(r, p);
	if (ret != 0 || p->n == 0)
		return ret;
	if (p->v[0] > 0 || p->n == 1)
		return add_below_next(r, p, 1);
	if (p->v[1] > 0 || p->n == 2)
		return add_below_next(r, p, 2);
	return add(r, SEMVER_LT, 0, 0, p->v[2] + 1, lowest_pre, 1);
}

static int add_tilde(struct semver_range *r, const struct partial *p)
{
	int ret = add_lower(r, p);
	if (ret != 0 || p->n == 0)
		return ret;
	return add_below_next(r, p, p->n == 1 ? 1 : 2);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* One comparator token: an operator (or none, ~, ^) and a partial version. */
static int add_token(struct semver_range *r, const char *s, size_t len)
{
	enum { NONE, TILDE, CARET, GT, GE, LT, LE, EQ } op = NONE;
	static const struct {
		const char *text;
		int op;
	} ops[] = {{">=", GE}, {"<=", LE}, {">", GT}, {"<", LT}, {"=", EQ}, {"~>", TILDE},
		   {"~", TILDE}, {"^", CARET}};
	size_t skip = 0;
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		size_t n = strlen(ops[k].text);
		if (len >= n && memcmp(s, ops[k].text, n) == 0) {
			op = ops[k].op;
			skip = n;
			break;
		}
	}
	while (skip < len && is_space(s[skip]))
		skip++;
	struct partial p;
	if (parse_partial(s + skip, len - skip, &p) != 0)
		return -EINVAL;
	switch (op) {
	case TILDE:
		return add_tilde(r, &p);
	case CARET:
		return add_caret(r, &p);
	case GT:
		if (p.n == 3)
			return add(r, SEMVER_GT, p.v[0], p.v[1], p.v[2], p.pre, p.pre_len);
		if (p.n == 0) /* above every version: none */
			return add(r, SEMVER_LT, 0, 0, 0, lowest_pre, 1);
		return p.n == 1 ? add(r, SEMVER_GE, p.v[0] + 1, 0, 0, NULL, 0)
				: add(r, SEMVER_GE, p.v[0], p.v[1] + 1, 0, NULL, 0);
	case GE:
		return add_lower(r, &p);
	case LT:
		if (p.n == 3)
			return add(r, SEMVER_LT, p.v[0], p.v[1], p.v[2], p.pre, p.pre_len);
		return add(r, SEMVER_LT, p.v[0], p.v[1], 0, lowest_pre, 1);
	case LE:
		return p.n == 0 ? add_lower(r, &p) : add_upper_inclusive(r, &p);
	case NONE:
	case EQ:
		if (p.n == 3)
			return add(r, SEMVER_EQ, p.v[0], p.v[1], p.v[2], p.pre, p.pre_len);
		return add_tilde(r, &p); /* 1.2, 1.2.x: the same as ~1.2 */
	}
	return -EINVAL;
}

/* One set (the text between "||"): space-separated comparators, or "A - B". */
static int parse_set(struct semver_range *r, const char *s, size_t len)
{
	const char *tok[SEMVER_MAX_COMPARATORS];
	size_t tlen[SEMVER_MAX_COMPARATORS], n = 0;
	for (size_t i = 0; i < len;) {
		while (i < len && is_space(s[i]))
			i++;
		if (i == len)
			break;
		if (n == SEMVER_MAX_COMPARATORS)
			return -EINVAL;
		tok[n] = s + i;
		while (i < len && !is_space(s[i]))
			i++;
		tlen[n] = (size_t)(s + i - tok[n]);
		/* ">= 1.2.3": an operator alone takes the next word */
		if (strspn(tok[n], "<>=~^") == tlen[n]) {
			while (i < len && is_space(s[i]))
				i++;
			while (i < len && !is_space(s[i]))
				i++;
			tlen[n] = (size_t)(s + i - tok[n]);
		}
		n++;
	}
	if (n == 0)
		return -EINVAL;
	size_t before = r->ncomparators;
	int ret = 0;
	if (n == 3 && tlen[1] == 1 && tok[1][0] == '-') {
		struct partial lo, hi;
		if (parse_partial(tok[0], tlen[0], &lo) != 0 || parse_partial(tok[2], tlen[2], &hi) != 0)
			return -EINVAL;
		ret = add_lower(r, &lo);
		if (ret == 0)
			ret = add_upper_inclusive(r, &hi);
	} else {
		for (size_t k = 0; ret == 0 && k < n; k++)
			ret = add_token(r, tok[k], tlen[k]);
	}
	if (ret == 0 && r->ncomparators == before) /* "*": any release */
		ret = add(r, SEMVER_GE, 0, 0, 0, NULL, 0);
	return ret;
}

int semver_selector_parse(const char *text, struct semver_selector *out)
{
	memset(out, 0, sizeof(*out));
	if (strcmp(text, "latest") == 0) {
		out->latest = true;
		return 0;
	}
	struct semver_range *r = &out->range;
	const char *s = text;
	for (;;) {
		const char *bar = strstr(s, "||");
		size_t len = bar ? (size_t)(bar - s) : strlen(s);
		if (r->nsets == SEMVER_MAX_SETS || parse_set(r, s, len) != 0)
			return -EINVAL;
		r->nsets++;
		if (!bar)
			return 0;
		s = bar + 2;
	}
}

static bool comparator_holds(const struct semver_comparator *c, const struct semver *v)
{
	int k = semver_cmp(v, &c->v);
	switch (c->op) {
	case SEMVER_EQ:
		return k == 0;
	case SEMVER_LT:
		return k < 0;
	case SEMVER_LE:
		return k <= 0;
	case SEMVER_GT:
		return k > 0;
	case SEMVER_GE:
		return k >= 0;
	}
	return false;
}

bool semver_range_satisfies(const struct semver_range *r, const struct semver *v)
{
	for (size_t set = 0; set < r->nsets; set++) {
		bool all = true, pre_allowed = v->pre_len == 0;
		for (size_t i = 0; i < r->ncomparators; i++) {
			if (r->set_of[i] != set)
				continue;
			const struct semver *cv = &r->c[i].v;
			all = all && comparator_holds(&r->c[i], v);
			if (cv->pre_len && cv->pre != lowest_pre && cv->major == v->major &&
			    cv->minor == v->minor && cv->patch == v->patch)
				pre_allowed = true;
		}
		if (all && pre_allowed)
			return true;
	}
	return false;
}

/* Is candidate b newer than a (for equal precedence, or non-semantic versions)? */
static bool newer(const struct semver_candidate *a, const struct semver_candidate *b)
{
	return b->created_at_ms != a->created_at_ms ? b->created_at_ms > a->created_at_ms
						    : b->id > a->id;
}

long semver_select(const struct semver_selector *s, const struct semver_candidate *c, size_t n)
{
	/* Classes, best first: releases, pre-releases, non-semantic ("latest" only). */
	long best[3] = {-1, -1, -1};
	struct semver bv[2];
	for (size_t i = 0; i < n; i++) {
		struct semver v;
		if (semver_parse(c[i].version, &v) != 0) {
			if (s->latest && (best[2] < 0 || newer(&c[best[2]], &c[i])))
				best[2] = (long)i;
			continue;
		}
		if (!s->latest && !semver_range_satisfies(&s->range, &v))
			continue;
		int cls = s->latest && v.pre_len ? 1 : 0;
		int k = best[cls] < 0 ? 1 : semver_cmp(&v, &bv[cls]);
		if (k > 0 || (k == 0 && newer(&c[best[cls]], &c[i]))) {
			best[cls] = (long)i;
			bv[cls] = v;
		}
	}
	return best[0] >= 0 ? best[0] : best[1] >= 0 ? best[1] : best[2];
}
