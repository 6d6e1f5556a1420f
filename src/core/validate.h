/* Validation of client-supplied package names, versions, file names and directory paths,
 * with GitLab's rules (docs: gitlab-behaviour.md section 3) plus depot's stricter checks
 * where names become local paths. Pure functions: no I/O, no allocation. */
#ifndef DEPOT_VALIDATE_H
#define DEPOT_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#define PACKAGE_NAME_MAX 255
#define PACKAGE_VERSION_MAX 255
#define FILE_NAME_MAX 255
/* The stored name is "<path>/<file_name>"; bounded so rows and headers stay bounded. */
#define STORED_NAME_MAX 1024

/* Each check returns NULL for a valid value, or the Grape-style message fragment that
 * follows the parameter name in {"error":"<param> <fragment>"}. */

/* \A[A-Za-z0-9\.\_\-\+]+\z, and not "." or ".." (GitLab's file_path validator). */
const char *check_package_name(const char *s);
/* \A(?!.*\.\.)[\w+.-]+\z */
const char *check_package_version(const char *s);
/* \A(?!~)(?!@)[A-Za-z0-9\.\_\-\+~@]+(?<!~)(?<!@)\z, and not "." or "..". */
const char *check_file_name(const char *s);
/* GitLab's file_path validator (no double encoding, no traversal, not absolute), plus:
 * valid UTF-8, no control bytes, no backslash, no empty, "." or ".." segment. */
const char *check_dir_path(const char *s);
/* Strictly valid UTF-8 (no overlongs, no surrogates). */
bool valid_utf8(const char *s, size_t len);

#endif
