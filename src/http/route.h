/* Splitting request paths: percent-decoding, matching a raw URL path against a route
 * pattern or a whole table of them, and telling a numeric project id from a full path. */
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

/* A route table, indexed: finds the first pattern (in the order added) that route_match
 * would match, without trying the patterns one by one. The patterns' segments form a tree
 * (literals, a parameter, a final wildcard), and a lookup walks only the branches that the
 * path's segments match, skipping those whose patterns all come after one already found. */
struct route_index;

/* An empty index (caller frees with route_index_free); NULL when out of memory. */
struct route_index *route_index_new(void);
void route_index_free(struct route_index *ix);

/* Adds pattern (kept by reference: it must outlive the index) as the next entry. kinds is
 * a set of bits the caller defines (http_server.c: the methods a route answers). Returns
 * the entry's number (0 for the first added, then 1, ...); -EINVAL for a pattern that
 * route_match can never match (not starting with '/', or more than ROUTE_MAX_CAPTURES
 * captures); -ENOMEM. */
int route_index_add(struct route_index *ix, const char *pattern, unsigned kinds);

/* The lowest-numbered entry whose kinds share a bit with kinds and whose pattern
 * route_match matches against path, with the captures route_match would give it in
 * caps[0..*ncaps) (caps holds ROUTE_MAX_CAPTURES); -1 when there is none. */
int route_index_find(const struct route_index *ix, const char *path, unsigned kinds,
		     struct route_capture *caps, int *ncaps);

enum project_ref_kind { PROJECT_REF_NONE, PROJECT_REF_ID, PROJECT_REF_PATH };

/* GitLab's rule for :id (already decoded): all digits (an optional leading '-') is an id,
 * anything containing '/' a full path, anything else refers to no project. */
enum project_ref_kind project_ref_parse(const char *decoded, int64_t *id_out);

#endif
