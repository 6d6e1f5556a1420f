/* Unit tests for percent-decoding, route matching and project references (route.c). */
#include <string.h>

#include "check.h"
#include "route.h"

static void decode(void)
{
	char out[16];
	CHECK(pct_decode("a%2Fb", 5, out, sizeof(out), false) == 3 && strcmp(out, "a/b") == 0);
	CHECK(pct_decode("a+b", 3, out, sizeof(out), false) == 3 && strcmp(out, "a+b") == 0);
	CHECK(pct_decode("a+b", 3, out, sizeof(out), true) == 3 && strcmp(out, "a b") == 0);
	CHECK(pct_decode("%e2%82%ac", 9, out, sizeof(out), false) == 3);
	CHECK(pct_decode("%", 1, out, sizeof(out), false) == -1);
	CHECK(pct_decode("%4", 2, out, sizeof(out), false) == -1);
	CHECK(pct_decode("%zz", 3, out, sizeof(out), false) == -1);
	CHECK(pct_decode("%00", 3, out, sizeof(out), false) == -1);
	CHECK(pct_decode("0123456789abcdef", 16, out, sizeof(out), false) == -1); /* no room */
	CHECK(pct_decode("", 0, out, sizeof(out), false) == 0 && out[0] == '\0');
}

static void match(void)
{
	struct route_capture c[ROUTE_MAX_CAPTURES];
	const char *pat = "/api/v4/projects/:id/packages/generic/:name/:version/*file";
	CHECK(route_match(pat, "/api/v4/projects/5/packages/generic/p/1.0/f.txt", c, 8) == 4);
	CHECK(c[0].len == 1 && c[0].start[0] == '5');
	CHECK(c[3].len == 5 && strncmp(c[3].start, "f.txt", 5) == 0);
	CHECK(route_match(pat, "/api/v4/projects/g%2Fp/packages/generic/p/1.0/a/b/c", c, 8) == 4);
	CHECK(c[0].len == 5 && strncmp(c[0].start, "g%2Fp", 5) == 0);
	CHECK(c[3].len == 5 && strncmp(c[3].start, "a/b/c", 5) == 0);
	CHECK(route_match(pat, "/api/v4/projects/5/packages/generic/p/1.0", c, 8) == -1);
	CHECK(route_match(pat, "/api/v4/projects/5/packages/generic/p/1.0/", c, 8) == -1);
	CHECK(route_match(pat, "/api/v4/projects//packages/generic/p/1.0/f", c, 8) == -1);
	CHECK(route_match(pat, "/api/v4/projects/5/packages/maven/p/1.0/f", c, 8) == -1);
	CHECK(route_match("/api/v4/user", "/api/v4/user", c, 8) == 0);
	CHECK(route_match("/api/v4/user", "/api/v4/user/", c, 8) == -1);
	CHECK(route_match("/api/v4/user", "/api/v4/users", c, 8) == -1);
	CHECK(route_match("/a/:x", "/a/b/c", c, 8) == -1);
	CHECK(route_match("/a/:x", "/a/b", c, 0) == -1); /* no room for the capture */
}

static void project_refs(void)
{
	int64_t id = 0;
	CHECK(project_ref_parse("24", &id) == PROJECT_REF_ID && id == 24);
	CHECK(project_ref_parse("-1", &id) == PROJECT_REF_ID && id == -1);
	CHECK(project_ref_parse("group/project", &id) == PROJECT_REF_PATH);
	CHECK(project_ref_parse("abc", &id) == PROJECT_REF_NONE);
	CHECK(project_ref_parse("12abc", &id) == PROJECT_REF_NONE);
	CHECK(project_ref_parse("-", &id) == PROJECT_REF_NONE);
	CHECK(project_ref_parse("", &id) == PROJECT_REF_NONE);
	CHECK(project_ref_parse("99999999999999999999999", &id) == PROJECT_REF_NONE);
}

int main(void)
{
	decode();
	match();
	project_refs();
	return check_done("test_route");
}
