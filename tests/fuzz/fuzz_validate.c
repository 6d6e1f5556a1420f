/* Fuzz target: package name, version, file name and directory path validation. */
#include <stdlib.h>
#include <string.h>

#include "validate.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_package_name(s);
	check_package_version(s);
	check_file_name(s);
	check_dir_path(s);
	valid_utf8(s, size);
	free(s);
	return 0;
}
