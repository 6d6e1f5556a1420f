/* Fuzz target: the duplicate exception regex setting — any pattern (compiled or refused)
 * against any name, within the match limits. Input: pattern, NUL, subject. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "uregex.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *buf = malloc(size + 2);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = '\0';
	const char *pattern = buf, *subject = buf + strlen(buf) + 1;
	if (subject > buf + size)
		subject = "";
	char err[160];
	struct uregex *re = uregex_compile(pattern, err, sizeof(err));
	if (re) {
		uregex_match(re, subject);
		uregex_free(re);
	}
	free(buf);
	return 0;
}
