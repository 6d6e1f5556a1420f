/* Unit tests for user regexes (uregex.c) and the duplicate decision (policy.c). */
#include <string.h>
#include <time.h>

#include "check.h"
#include "policy.h"
#include "uregex.h"

static void regexes(void)
{
	char err[160];
	CHECK(uregex_matches("pkg-.*", "pkg-a"));
	CHECK(!uregex_matches("pkg", "pkg-a"));		/* anchored at the end */
	CHECK(!uregex_matches("a", "ba"));		/* and at the start */
	CHECK(uregex_matches("a|b", "b"));		/* alternation stays inside the anchors */
	CHECK(!uregex_matches("a|b", "ab"));
	CHECK(!uregex_matches("", "x"));
	CHECK(uregex_compile("(", err, sizeof(err)) == NULL && strstr(err, "is invalid"));
	char longpat[300];
	memset(longpat, 'a', sizeof(longpat));
	longpat[256] = '\0';
	CHECK(uregex_compile(longpat, err, sizeof(err)) == NULL && strstr(err, "too long"));
	/* catastrophic backtracking is cut off by the match limit, quickly */
	char subject[256];
	memset(subject, 'a', 200);
	subject[200] = '!';
	subject[201] = '\0';
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	CHECK(!uregex_matches("(a+)+$", subject));
	CHECK(!uregex_matches("(a|aa)*b", subject));
	clock_gettime(CLOCK_MONOTONIC, &b);
	CHECK((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 500);
}

static void duplicates(void)
{
	struct meta_dup_settings s = {.allowed = true};
	CHECK(policy_decide_duplicates(&s, "pkg", "1.0"));
	strcpy(s.exception_regex, "pkg");
	CHECK(!policy_decide_duplicates(&s, "pkg", "1.0"));	/* allowed, name excepted */
	strcpy(s.exception_regex, "1\\.0");
	CHECK(!policy_decide_duplicates(&s, "pkg", "1.0"));	/* allowed, version excepted */
	strcpy(s.exception_regex, "other");
	CHECK(policy_decide_duplicates(&s, "pkg", "1.0"));
	s.allowed = false;
	CHECK(!policy_decide_duplicates(&s, "pkg", "1.0"));
	strcpy(s.exception_regex, ".*-SNAPSHOT");
	CHECK(policy_decide_duplicates(&s, "pkg", "2.0-SNAPSHOT"));
	s.exception_regex[0] = '\0';
	CHECK(!policy_decide_duplicates(&s, "pkg", "1.0"));
}

int main(void)
{
	regexes();
	duplicates();
	return check_done("test_policy");
}
