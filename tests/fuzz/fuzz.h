/* Shared by the fuzz targets: libFuzzer's entry point, and its input as a C string. */
#ifndef DEPOT_FUZZ_H
#define DEPOT_FUZZ_H

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* A NUL-terminated copy of the input (an embedded NUL ends it early, as it would in a
 * header or URL); caller frees; NULL when out of memory. */
static inline char *fuzz_cstring(const unsigned char *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

#endif
