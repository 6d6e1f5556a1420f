/* Fuzz target: the route matcher, percent-decoding and project references on any path. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "route.h"

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
	char out[64];
	pct_decode(path, size < 200 ? size : 200, out, sizeof(out), true);
	free(path);
	return 0;
}
