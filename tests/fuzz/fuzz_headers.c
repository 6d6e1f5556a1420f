/* Fuzz target: request header and parameter values: Range, If-None-Match, HTTP dates, the
 * upload digest headers and scope lists. The first byte picks the parser. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "conditional.h"
#include "token.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size < 1)
		return 0;
	char *s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	uint64_t a, b;
	time_t t;
	unsigned scopes;
	struct expected_digests e;
	memset(&e, 0, sizeof(e));
	static const char *const headers[] = {"Content-MD5", "Content-Digest", "Repr-Digest",
					      "X-Checksum-Md5", "X-Checksum-Sha1",
					      "X-Checksum-Sha256"};
	switch (data[0] % 5) {
	case 0:
		if (range_parse(s, 1000, &a, &b) == RANGE_OK && (a >= 1000 || a + b > 1000))
			abort(); /* a range must lie within the file */
		break;
	case 1:
		etag_list_matches(s, "\"abc\"");
		break;
	case 2:
		http_date_parse(s, &t);
		break;
	case 3:
		expected_add(&e, headers[(size_t)data[0] / 5 % 6], s);
		break;
	case 4:
		scopes_parse(s, &scopes);
		break;
	}
	free(s);
	return 0;
}
