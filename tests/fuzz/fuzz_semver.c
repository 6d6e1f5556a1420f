/* Fuzz target: version selectors and semantic versions from URLs (semver.c), and the choice
 * a selector makes among versions taken from the same input. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "semver.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *s = fuzz_cstring(data, size);
	if (!s)
		return 0;
	struct semver v;
	struct semver_selector sel;
	semver_parse(s, &v);
	if (semver_selector_parse(s, &sel) == 0) {
		/* candidates: the input's space-separated words */
		struct semver_candidate c[16];
		size_t n = 0;
		char *copy = strdup(s), *save = NULL;
		for (char *w = copy ? strtok_r(copy, " ", &save) : NULL; w && n < 16;
		     w = strtok_r(NULL, " ", &save))
			c[n] = (struct semver_candidate){w, (int64_t)n, (int64_t)n}, n++;
		semver_select(&sel, c, n);
		free(copy);
	}
	free(s);
	return 0;
}
