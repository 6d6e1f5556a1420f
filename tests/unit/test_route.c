/* Unit tests for percent-decoding, route matching, the route index and project references
 * (route.c). */
#include <errno.h>
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

enum { GET = 1, POST = 2, ANY = 3 };

/* An index of patterns[0..n) (kinds[i], or GET when kinds is NULL); NULL if one failed. */
static struct route_index *index_of(const char *const *patterns, size_t n, const unsigned *kinds)
{
	struct route_index *ix = route_index_new();
	for (size_t i = 0; ix && i < n; i++)
		if (route_index_add(ix, patterns[i], kinds ? kinds[i] : GET) != (int)i) {
			route_index_free(ix);
			return NULL;
		}
	return ix;
}

static int find(const struct route_index *ix, const char *path, unsigned kinds)
{
	struct route_capture c[ROUTE_MAX_CAPTURES];
	int n;
	return route_index_find(ix, path, kinds, c, &n);
}

static void index_precedence(void)
{
	/* a path several patterns match gets the first added, whatever its shape */
	static const char *const pats[] = {"/p/:id/files", "/p/:id/*f", "/p/7/files", "/*all", "/"};
	struct route_index *ix = index_of(pats, 5, NULL);
	CHECK(ix != NULL);
	CHECK(find(ix, "/p/7/files", GET) == 0);
	CHECK(find(ix, "/p/7/other", GET) == 1);
	CHECK(find(ix, "/p/7/files/x", GET) == 1);
	struct route_capture c[ROUTE_MAX_CAPTURES];
	int n = -1;
	CHECK(route_index_find(ix, "/p/7/a/b", GET, c, &n) == 1 && n == 2);
	CHECK(c[0].len == 1 && c[0].start[0] == '7' && c[1].len == 3 &&
	      memcmp(c[1].start, "a/b", 3) == 0);
	CHECK(find(ix, "/p/7", GET) == 3);
	CHECK(find(ix, "/q", GET) == 3);
	CHECK(find(ix, "/", GET) == 4); /* "*all" takes one byte or more */
	CHECK(find(ix, "/p/7/files", POST) == -1);
	route_index_free(ix);

	/* reversed, the literal comes first */
	static const char *const rev[] = {"/a/b", "/a/:x", "/a/:x/c", "/a/b/:y"};
	ix = index_of(rev, 4, NULL);
	CHECK(find(ix, "/a/b", GET) == 0);
	CHECK(find(ix, "/a/c", GET) == 1);
	CHECK(find(ix, "/a/b/c", GET) == 2);
	CHECK(find(ix, "/a/b/d", GET) == 3);
	CHECK(find(ix, "/a/c/d", GET) == -1);
	route_index_free(ix);
}

static void index_kinds(void)
{
	/* the first pattern with a shared kind, not the first pattern */
	static const char *const pats[] = {"/u/:id", "/u/:id", "/u/:id/*f", "/u/*all"};
	static const unsigned kinds[] = {GET, POST, ANY, POST};
	struct route_index *ix = index_of(pats, 4, kinds);
	CHECK(find(ix, "/u/1", GET) == 0);
	CHECK(find(ix, "/u/1", POST) == 1);
	CHECK(find(ix, "/u/1", ANY) == 0);
	CHECK(find(ix, "/u/1", 4) == -1);
	CHECK(find(ix, "/u/1/f", POST) == 2);
	CHECK(find(ix, "/u/1/f", GET) == 2);
	CHECK(find(ix, "/u//", POST) == 3);
	CHECK(find(ix, "/u//", GET) == -1);
	route_index_free(ix);
}

static void index_segments(void)
{
	static const char *const pats[] = {"/a/:x", "/a/*rest", "/", "/b/", "/c//d", "/s/:a/*f/g"};
	struct route_index *ix = index_of(pats, 6, NULL);
	CHECK(find(ix, "/a/x", GET) == 0);
	CHECK(find(ix, "/a/x/y", GET) == 1);
	CHECK(find(ix, "/a/", GET) == -1); /* neither is empty... */
	CHECK(find(ix, "/a//", GET) == 1); /* ...but a rest may be "/" */
	CHECK(find(ix, "/a", GET) == -1);
	CHECK(find(ix, "/", GET) == 2);
	CHECK(find(ix, "//", GET) == -1);
	CHECK(find(ix, "/b/", GET) == 3);
	CHECK(find(ix, "/b", GET) == -1);
	CHECK(find(ix, "/c//d", GET) == 4);
	CHECK(find(ix, "/c/d", GET) == -1);
	CHECK(find(ix, "/s/1/x", GET) == 5); /* as route_match: "*f" ends the pattern */
	CHECK(find(ix, "", GET) == -1);
	CHECK(find(ix, "a/x", GET) == -1);
	CHECK(find(ix, "*", GET) == -1);
	route_index_free(ix);

	ix = route_index_new();
	CHECK(route_index_add(ix, "", GET) == -EINVAL);
	CHECK(route_index_add(ix, "a/b", GET) == -EINVAL);
	CHECK(route_index_add(ix, "/:1/:2/:3/:4/:5/:6/:7/:8/*9", GET) == -EINVAL);
	CHECK(route_index_add(ix, "/:1/:2/:3/:4/:5/:6/:7/:8/x", GET) == 0);
	CHECK(route_index_add(ix, "/:1/:2/:3/:4/:5/:6/:7/*8", GET) == 1);
	route_index_free(ix);
}

/* The index and trying each pattern in order with route_match agree on every path. */
static void index_agrees(void)
{
	static const char *const pats[] = {
		"/-/health", "/api/v4/user", "/", "/-/assets/:hash/*file", "/api/v4/users",
		"/api/v4/users/:user_id", "/api/v4/projects/:id", "/api/v4/projects/:id/members",
		"/api/v4/projects/:id/members/all/:user_id",
		"/api/v4/projects/:id/members/:user_id",
		"/api/v4/projects/:id/packages/generic/:name/:version/@archive.zip",
		"/api/v4/projects/:id/packages/generic/:name/:version/files",
		"/api/v4/projects/:id/packages/generic/:name/:version/*file",
		"/api/v4/projects/:id/packages/generic/:name/:version",
		"/api/v4/projects/:id/packages/:package_id", "/api/v4/projects/:id/packages",
		"/*path"};
	static const unsigned kinds[] = {GET, GET, GET, GET, POST, ANY, GET, POST, GET,
					 ANY, GET, GET, GET, POST, POST, GET, GET};
	static const char *const paths[] = {
		"/", "//", "", "x", "/-/health", "/-/health/", "/-/assets/abc/x/y.js",
		"/-/assets/abc", "/-/assets//x", "/api/v4/user", "/api/v4/users", "/api/v4/users/3",
		"/api/v4/users/", "/api/v4/projects/1", "/api/v4/projects/a%2Fb/members",
		"/api/v4/projects/1/members/all", "/api/v4/projects/1/members/all/2",
		"/api/v4/projects/1/members/all/2/3",
		"/api/v4/projects/5/packages/generic/p/1.0/@archive.zip",
		"/api/v4/projects/5/packages/generic/p/1.0/files",
		"/api/v4/projects/5/packages/generic/p/1.0/files/x",
		"/api/v4/projects/5/packages/generic/p/1.0/f.txt",
		"/api/v4/projects/5/packages/generic/p/1.0/",
		"/api/v4/projects/5/packages/generic/p/1.0", "/api/v4/projects/5/packages/generic",
		"/api/v4/projects/5/packages/9", "/api/v4/projects/5/packages",
		"/api/v4/projects//packages", "/acme/app/-/packages/1", "/api/v4", "/api/v4/"};
	size_t npats = sizeof(pats) / sizeof(pats[0]);
	struct route_index *ix = index_of(pats, npats, kinds);
	CHECK(ix != NULL);
	for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++)
		for (unsigned k = 1; k <= 4; k++) {
			struct route_capture want_c[ROUTE_MAX_CAPTURES], c[ROUTE_MAX_CAPTURES];
			int want = -1, want_n = 0, n = -1;
			for (size_t i = 0; want < 0 && i < npats; i++)
				if ((kinds[i] & k) &&
				    (want_n = route_match(pats[i], paths[p], want_c, 8)) >= 0)
					want = (int)i;
			CHECK(route_index_find(ix, paths[p], k, c, &n) == want);
			if (want >= 0)
				CHECK(n == want_n &&
				      memcmp(c, want_c, (size_t)n * sizeof(c[0])) == 0);
		}
	route_index_free(ix);
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
	index_precedence();
	index_kinds();
	index_segments();
	index_agrees();
	project_refs();
	return check_done("test_route");
}
