/* Fuzz target: Authorization header parsing (Basic base64, Bearer). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "auth.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *s = fuzz_cstring(data, size);
	if (!s)
		return 0;
	struct credentials c;
	memset(&c, 0, sizeof(c));
	if (credentials_parse_authorization(s, &c) == 0 && c.has_basic) {
		/* what came out must be two strings within bounds */
		if (strlen(c.basic_user) > BASIC_USER_MAX || strlen(c.basic_pass) > TOKEN_PRESENTED_MAX)
			abort();
	}
	credentials_release(&c);
	free(s);
	return 0;
}
