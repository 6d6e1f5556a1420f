/* Splitting request paths: percent-decoding, matching a raw URL path against a route
 * pattern, and telling a numeric project id from a full path. Pure functions. */
#ifndef DEPOT_ROUTE_H
#define DEPOT_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes %XX escapes (and '+' as space when plus_space) from in[0..len) into out, which
 * holds outcap bytes including the NUL. Returns the decoded length, or -1 for a malformed
 * escape, an encoded NUL, or output that does not fit. */
long pct_decode(const char *in, size_t len, char *out, size_t outcap, bool plus_space);

#define ROUTE_MAX_CAPTURES 8

/* One captured part of a path: a range of the raw (still encoded) URL. */
struct route_capture {
	const char *start;
	size_t len;
};

/* Matches a raw path like "/api/v4/projects/5/packages" against a pattern of '/'-separated
 * segments: a literal matches itself, ":x" one non-empty segment, and a final "*x" the rest
 * (one or more segments, '/' included). Captures are filled in pattern order.
 * Returns the number of captures, or -1 when the path does not match. */
int route_match(const char *pattern, const char *path, struct route_capture *caps, int maxcaps);

enum project_ref_kind { PROJECT_REF_NONE, PROJECT_REF_ID, PROJECT_REF_PATH };

/* GitLab's rule for :id (already decoded): all digits (an optional leading '-') is an id,
 * anything containing '/' a full path, anything else refers to no project. */
enum project_ref_kind project_ref_parse(const char *decoded, int64_t *id_out);

#endif
