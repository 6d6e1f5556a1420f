/* Name, version, file-name and path validation (see validate.h). */
#include "validate.h"

#include <string.h>

#include "route.h"

static bool is_alnum(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_dot_or_dotdot(const char *s)
{
	return strcmp(s, ".") == 0 || strcmp(s, "..") == 0;
}

static const char invalid[] = "is invalid";
static const char bad_path[] = "should be a valid file path";

const char *check_package_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > PACKAGE_NAME_MAX)
		return invalid;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!is_alnum(c) && !strchr("._-+", c))
			return invalid;
	}
	return is_dot_or_dotdot(s) ? bad_path : NULL;
}

const char *check_package_version(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > PACKAGE_VERSION_MAX || strstr(s, ".."))
		return invalid;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!is_alnum(c) && !strchr("_+.-", c))
			return invalid;
	}
	return NULL;
}

const char *check_file_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > FILE_NAME_MAX)
		return invalid;
	if (s[0] == '~' || s[0] == '@' || s[n - 1] == '~' || s[n - 1] == '@')
		return invalid;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!is_alnum(c) && !strchr("._-+~@", c))
			return invalid;
	}
	return is_dot_or_dotdot(s) ? bad_path : NULL;
}

bool valid_utf8(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		size_t need;
		unsigned int cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			need = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (i + need >= len)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

/* GitLab's traversal regex: \A\.{1,2}\z | \A\.\.[/\\] | [/\\]\.\.\z | [/\\]\.\.[/\\], or \n.
 * depot checks each segment instead, which rejects a superset (also "." and ""). */
static bool segments_ok(const char *s)
{
	const char *p = s;
	for (;;) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!end)
			return true;
		p = end + 1;
	}
}

/* The checks both the value and its once-more-decoded form must pass. */
static bool plain_path_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > STORED_NAME_MAX || s[0] == '/' || !valid_utf8(s, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '\\')
			return false;
	}
	return segments_ok(s);
}

const char *check_dir_path(const char *s)
{
	size_t n = strlen(s);
	if (!plain_path_ok(s))
		return bad_path;
	/* GitLab decodes the (already route-decoded) value once more and refuses a value that
	 * a further decoding would change: double encoding. */
	char once[STORED_NAME_MAX + 1], twice[STORED_NAME_MAX + 1];
	if (pct_decode(s, n, once, sizeof(once), true) < 0 ||
	    pct_decode(once, strlen(once), twice, sizeof(twice), true) < 0)
		return bad_path;
	return strcmp(once, twice) == 0 && plain_path_ok(once) ? NULL : bad_path;
}
