/* Fuzz target: the route matcher, percent-decoding and project references on any path; and
 * the route index against trying depot's route table in order, for every method. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fuzz.h"
#include "route.h"

/* As http_server.c: a GET route answers HEAD too. */
static unsigned methods_of(const struct route *rt)
{
	return (1u << rt->method) | (rt->method == HTTP_GET ? 1u << HTTP_HEAD : 0);
}

static void index_agrees(const char *path)
{
	static struct route_index *ix;
	if (!ix) {
		ix = route_index_new();
		for (size_t i = 0; ix && i < api_routes_count; i++)
			if (route_index_add(ix, api_routes[i].pattern,
					    methods_of(&api_routes[i])) != (int)i)
				abort();
		if (!ix)
			abort();
	}
	struct route_capture want_caps[ROUTE_MAX_CAPTURES], caps[ROUTE_MAX_CAPTURES];
	for (int m = HTTP_GET; m <= HTTP_OTHER; m++) {
		int want = -1, want_n = 0, n = -1;
		for (size_t i = 0; want < 0 && i < api_routes_count; i++)
			if ((methods_of(&api_routes[i]) & (1u << m)) &&
			    (want_n = route_match(api_routes[i].pattern, path, want_caps,
						  ROUTE_MAX_CAPTURES)) >= 0)
				want = (int)i;
		if (route_index_find(ix, path, 1u << m, caps, &n) != want ||
		    (want >= 0 &&
		     (n != want_n || memcmp(caps, want_caps, (size_t)n * sizeof(caps[0])))))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *path = fuzz_cstring(data, size);
	if (!path)
		return 0;
	struct route_capture caps[ROUTE_MAX_CAPTURES];
	static const char *const patterns[] = {
		"/api/v4/projects/:id/packages/generic/:name/:version/*file",
		"/api/v4/projects/:id/packages/:package_id/package_files/:file_id/download",
		"/api/v4/user",
	};
	for (size_t p = 0; p < 3; p++) {
		int n = route_match(patterns[p], path, caps, ROUTE_MAX_CAPTURES);
		for (int i = 0; i < n; i++) {
			char out[1100];
			if (pct_decode(caps[i].start, caps[i].len, out, sizeof(out), false) >= 0) {
				int64_t id;
				project_ref_parse(out, &id);
			}
		}
	}
	index_agrees(path);
	char out[64];
	pct_decode(path, size < 200 ? size : 200, out, sizeof(out), true);
	free(path);
	return 0;
}
