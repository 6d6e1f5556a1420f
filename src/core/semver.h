/* Semantic versions (semver.org 2.0.0) and npm-style version selectors: parsing, precedence,
 * and choosing a package's version for "@latest" or a range ("^1.2", "~1.4.0", "1.x",
 * ">=2.0.0 <3", "1.2 - 1.4", "a || b"). Pure functions, no allocation: parsed values point
 * into the text they were parsed from, which must outlive them. */
#ifndef DEPOT_SEMVER_H
#define DEPOT_SEMVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]; build metadata is kept out of precedence. */
struct semver {
	uint64_t major, minor, patch;
	const char *pre; /* the pre-release identifiers, not NUL-terminated; pre_len 0: none */
	size_t pre_len;
};

/* Parses a whole string as a semantic version. Returns 0, or -EINVAL. */
int semver_parse(const char *s, struct semver *out);
/* Precedence: < 0, 0 or > 0 as a is lower, equal or higher than b. */
int semver_cmp(const struct semver *a, const struct semver *b);

enum semver_op { SEMVER_EQ, SEMVER_LT, SEMVER_LE, SEMVER_GT, SEMVER_GE };

struct semver_comparator {
	enum semver_op op;
	struct semver v;
};

#define SEMVER_MAX_SETS 16	  /* alternatives joined by "||" */
#define SEMVER_MAX_COMPARATORS 64 /* in all sets together */

/* A range: a version satisfies it when it satisfies every comparator of one set. */
struct semver_range {
	struct semver_comparator c[SEMVER_MAX_COMPARATORS];
	size_t set_of[SEMVER_MAX_COMPARATORS]; /* the set each comparator belongs to */
	size_t ncomparators, nsets;
};

/* A version selector, the text after '@': "latest", or an npm-style range. */
struct semver_selector {
	bool latest;
	struct semver_range range;
};

/* Parses a selector. Returns 0, or -EINVAL (not "latest" and not a range). */
int semver_selector_parse(const char *text, struct semver_selector *out);

/* npm's rule: a pre-release satisfies a range only when a comparator of the matching set
 * names a pre-release of the same MAJOR.MINOR.PATCH. */
bool semver_range_satisfies(const struct semver_range *r, const struct semver *v);

/* One of a package's versions, for semver_select. */
struct semver_candidate {
	const char *version;
	int64_t created_at_ms;
	int64_t id;
};

/* The candidate a selector chooses; -1 when none. "latest": the highest semantic version
 * that is not a pre-release; else the highest pre-release; else the newest version that is
 * not a semantic version at all. A range: the highest semantic version it is satisfied
 * by. Equal precedence (versions that differ in build metadata only) goes to the newest
 * (creation time, then id). */
long semver_select(const struct semver_selector *s, const struct semver_candidate *c, size_t n);

#endif
