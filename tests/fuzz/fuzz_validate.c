/* Fuzz target: package name, version, file name and directory path validation. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *s = fuzz_cstring(data, size);
	if (!s)
		return 0;
	check_package_name(s);
	check_package_version(s);
	check_file_name(s);
	check_dir_path(s);
	valid_utf8(s, size);
	free(s);
	return 0;
}
