/* Unit tests for semantic versions and version selectors (semver.c): parsing, precedence,
 * range matching, and the issue's table of versions and selectors with the choice each
 * must make. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "semver.h"

static int cmp(const char *a, const char *b)
{
	struct semver x, y;
	if (semver_parse(a, &x) != 0 || semver_parse(b, &y) != 0)
		return 99;
	return semver_cmp(&x, &y);
}

static void parsing(void)
{
	struct semver v;
	CHECK(semver_parse("1.2.3", &v) == 0 && v.major == 1 && v.minor == 2 && v.patch == 3 &&
	      v.pre_len == 0);
	CHECK(semver_parse("2.0.0-rc.1", &v) == 0 && v.pre_len == 4 && memcmp(v.pre, "rc.1", 4) == 0);
	CHECK(semver_parse("1.2.0+build", &v) == 0 && v.pre_len == 0);
	CHECK(semver_parse("1.0.0-alpha+001", &v) == 0 && v.pre_len == 5);
	CHECK(semver_parse("1.0.0+20130313144700", &v) == 0);
	CHECK(semver_parse("1.0.0-0A.is.legal", &v) == 0);
	CHECK(semver_parse("nightly-2024-01-01", &v) == -EINVAL);
	CHECK(semver_parse("1.2", &v) == -EINVAL);
	CHECK(semver_parse("01.2.3", &v) == -EINVAL);
	CHECK(semver_parse("1.2.3-01", &v) == -EINVAL);
	CHECK(semver_parse("1.2.3-", &v) == -EINVAL);
	CHECK(semver_parse("1.2.3+", &v) == -EINVAL);
	CHECK(semver_parse("1.2.3-a..b", &v) == -EINVAL);
	CHECK(semver_parse("1.2.3.4", &v) == -EINVAL);
	CHECK(semver_parse("v1.2.3", &v) == -EINVAL);
	CHECK(semver_parse("1.2.3 ", &v) == -EINVAL);
	CHECK(semver_parse("", &v) == -EINVAL);
	CHECK(semver_parse("1234567890123456.0.0", &v) == -EINVAL);
	CHECK(semver_parse("123456789012345.0.0", &v) == 0);
}

static void precedence(void)
{
	/* semver.org's example chain */
	static const char *const chain[] = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
					    "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
					    "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1"};
	for (size_t i = 0; i + 1 < sizeof(chain) / sizeof(chain[0]); i++) {
		CHECK(cmp(chain[i], chain[i + 1]) < 0);
		CHECK(cmp(chain[i + 1], chain[i]) > 0);
	}
	CHECK(cmp("1.10.0", "1.2.0") > 0);
	CHECK(cmp("1.2.0", "1.2.0+build") == 0);
	CHECK(cmp("1.2.0-rc.1+a", "1.2.0-rc.1+b") == 0);
	CHECK(cmp("1.0.0-2", "1.0.0-10") < 0);
	CHECK(cmp("1.0.0-a", "1.0.0-a.0") < 0);
}

static bool sat(const char *range, const char *version)
{
	struct semver_selector s;
	struct semver v;
	if (semver_selector_parse(range, &s) != 0 || s.latest || semver_parse(version, &v) != 0)
		return false;
	return semver_range_satisfies(&s.range, &v);
}

static void ranges(void)
{
	CHECK(sat("^1.2", "1.2.0") && sat("^1.2", "1.10.0") && !sat("^1.2", "2.0.0"));
	CHECK(!sat("^1.2", "1.1.9") && !sat("^1.2", "2.0.0-rc.1") && !sat("^1.2", "1.3.0-beta"));
	CHECK(sat("^0.2.3", "0.2.9") && !sat("^0.2.3", "0.3.0"));
	CHECK(sat("^0.0.3", "0.0.3") && !sat("^0.0.3", "0.0.4"));
	CHECK(sat("^0", "0.9.9") && !sat("^0", "1.0.0"));
	CHECK(sat("~1.4.0", "1.4.7") && !sat("~1.4.0", "1.5.0") && !sat("~1.4.0", "1.3.9"));
	CHECK(sat("~1", "1.9.0") && !sat("~1", "2.0.0"));
	CHECK(sat("1.x", "1.0.0") && sat("1.x", "1.10.0") && !sat("1.x", "2.0.0"));
	CHECK(sat("1.2.x", "1.2.5") && !sat("1.2.x", "1.3.0"));
	CHECK(sat("1.*", "1.5.0") && sat("1.X", "1.5.0") && sat("1", "1.5.0"));
	CHECK(sat("*", "3.0.0") && sat("x", "0.0.1") && !sat("*", "3.0.0-rc.1"));
	CHECK(sat(">=2.0.0 <3", "2.0.0") && sat(">=2.0.0 <3", "2.9.9") &&
	      !sat(">=2.0.0 <3", "3.0.0") && !sat(">=2.0.0 <3", "1.9.0"));
	CHECK(!sat(">=2.0.0 <3", "2.0.0-rc.1") && !sat(">=2.0.0 <3", "3.0.0-rc.1"));
	CHECK(sat(">= 2.0.0 < 3", "2.5.0") && !sat(">= 2.0.0 < 3", "3.0.0"));
	CHECK(sat(">1.2", "1.3.0") && !sat(">1.2", "1.2.9"));
	CHECK(sat(">1", "2.0.0") && !sat(">1", "1.9.0"));
	CHECK(sat("<=1.2", "1.2.9") && !sat("<=1.2", "1.3.0"));
	CHECK(sat("<1.2", "1.1.9") && !sat("<1.2", "1.2.0"));
	CHECK(sat(">1.2.0", "1.2.1") && !sat(">1.2.0", "1.2.0"));
	CHECK(sat("=1.2.0", "1.2.0") && sat("1.2.0", "1.2.0+build") && !sat("1.2.0", "1.2.1"));
	CHECK(sat("1.2 - 1.4", "1.4.9") && !sat("1.2 - 1.4", "1.5.0") && sat("1.2 - 1.4", "1.2.0"));
	CHECK(sat("1.2.3 - 2.3.4", "2.3.4") && !sat("1.2.3 - 2.3.4", "2.3.5"));
	CHECK(sat("^1.0.0 || ^3.0.0", "3.1.0") && sat("^1.0.0 || ^3.0.0", "1.1.0") &&
	      !sat("^1.0.0 || ^3.0.0", "2.0.0"));
	CHECK(sat("<1 || >=2", "0.5.0") && !sat("<1 || >=2", "1.5.0"));
	/* a pre-release only when the range names one of the same MAJOR.MINOR.PATCH */
	CHECK(sat(">=2.0.0-rc.0", "2.0.0-rc.1") && sat("^2.0.0-rc", "2.0.0-rc.1"));
	CHECK(sat("^2.0.0-rc", "2.1.0") && !sat("^2.0.0-rc", "2.1.0-rc.1"));
	CHECK(sat("~>1.2", "1.2.3"));
	CHECK(!sat(">*", "1.0.0") && !sat("<*", "1.0.0") && sat("<=*", "1.0.0"));

	struct semver_selector s;
	static const char *const bad[] = {"", " ", "latest2", "LATEST", "1.2.3.4", "^", "~",
					  ">=", "a.b.c", "1.x.3", "1.2.3-", "01.2", "||", "^1 ||",
					  "1.2.3 - ", "- 1.2.3", "nightly-2024-01-01", "1..2",
					  "^1.2 foo", ">=>=1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = semver_selector_parse(bad[i], &s);
		CHECK(ret == -EINVAL);
		if (ret != -EINVAL)
			fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
	}
	CHECK(semver_selector_parse("latest", &s) == 0 && s.latest);
	/* bounded: too many alternatives are refused, not overflowed */
	char many[400] = "";
	for (int i = 0; i < 20; i++)
		strcat(many, i ? " || 1" : "1");
	CHECK(semver_selector_parse(many, &s) == -EINVAL);
	char wide[400] = "";
	for (int i = 0; i < 70; i++)
		strcat(wide, ">1 ");
	CHECK(semver_selector_parse(wide, &s) == -EINVAL);
}

/* The issue's table: these versions, created in this order, and what each selector picks. */
static const struct semver_candidate table[] = {
	{"1.2.0", 1000, 1},	 {"1.10.0", 2000, 2},		 {"2.0.0-rc.1", 3000, 3},
	{"1.2.0+build", 4000, 4}, {"nightly-2024-01-01", 5000, 5},
};
#define NTABLE (sizeof(table) / sizeof(table[0]))

static const char *choose(const char *selector, const struct semver_candidate *c, size_t n)
{
	struct semver_selector s;
	if (semver_selector_parse(selector, &s) != 0)
		return "(invalid)";
	long i = semver_select(&s, c, n);
	return i < 0 ? "(none)" : c[i].version;
}

static void issue_table(void)
{
	static const struct {
		const char *selector, *choice;
	} rows[] = {
		{"latest", "1.10.0"},
		{"^1.2", "1.10.0"},
		{"~1.2.0", "1.2.0+build"}, /* equal precedence: the newer upload */
		{"~1.10", "1.10.0"},
		{"1.x", "1.10.0"},
		{"1.2.x", "1.2.0+build"},
		{"1.2.0", "1.2.0+build"},
		{">=2.0.0 <3", "(none)"}, /* 2.0.0-rc.1 is below 2.0.0 */
		{">=2.0.0-rc.0 <3", "2.0.0-rc.1"},
		{"^2.0.0-rc", "2.0.0-rc.1"},
		{"<1.10", "1.2.0+build"},
		{"*", "1.10.0"},
		{">=1.3.0 <1.10.0", "(none)"},
		{"^3", "(none)"},
		{"1.2 - 1.4", "1.2.0+build"},
		{"^0.1 || ^1.9", "1.10.0"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *got = choose(rows[i].selector, table, NTABLE);
		CHECK(strcmp(got, rows[i].choice) == 0);
		if (strcmp(got, rows[i].choice) != 0)
			fprintf(stderr, "  @%s chose %s, expected %s\n", rows[i].selector, got,
				rows[i].choice);
	}
	/* latest without releases: the highest pre-release; without semantic versions: the
	 * newest other version; nothing at all: none */
	static const struct semver_candidate pre[] = {
		{"nightly-2024-01-01", 9000, 9}, {"2.0.0-rc.1", 1000, 1}, {"2.0.0-beta.3", 2000, 2}};
	CHECK(strcmp(choose("latest", pre, 3), "2.0.0-rc.1") == 0);
	CHECK(strcmp(choose("^2.0.0-beta", pre, 3), "2.0.0-rc.1") == 0);
	CHECK(strcmp(choose("^2", pre, 3), "(none)") == 0);
	static const struct semver_candidate odd[] = {
		{"nightly-2024-01-02", 2000, 1}, {"nightly-2024-01-01", 1000, 2}, {"stable", 2000, 3}};
	CHECK(strcmp(choose("latest", odd, 3), "stable") == 0); /* same time: the higher id */
	CHECK(strcmp(choose("latest", odd, 2), "nightly-2024-01-02") == 0);
	CHECK(strcmp(choose("*", odd, 3), "(none)") == 0);
	CHECK(strcmp(choose("latest", odd, 0), "(none)") == 0);
}

int main(void)
{
	parsing();
	precedence();
	ranges();
	issue_table();
	return check_done("semver");
}
