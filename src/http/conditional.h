/* HTTP download semantics as pure functions: Range (single ranges), entity tags for
 * If-None-Match and If-Range, and HTTP dates; and the upload digest headers (Content-MD5,
 * Content-Digest/Repr-Digest, X-Checksum-*). No I/O: the handlers feed header values in. */
#ifndef DEPOT_CONDITIONAL_H
#define DEPOT_CONDITIONAL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

enum range_result {
	RANGE_NONE,	     /* no usable Range: send the whole file (also for multiple ranges) */
	RANGE_OK,	     /* one satisfiable range in *start, *len */
	RANGE_UNSATISFIABLE, /* 416 */
};

/* Parses a Range header value against a representation of size bytes. Malformed values
 * count as absent (RFC 9110 lets a server ignore them). */
enum range_result range_parse(const char *value, uint64_t size, uint64_t *start, uint64_t *len);

/* Does an If-None-Match value ("*" or a list of tags, weak or strong) match etag (given with
 * its quotes)? Weak comparison, as RFC 9110 asks for If-None-Match. */
bool etag_list_matches(const char *value, const char *etag);

/* IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"); out holds 30 bytes. */
void http_date_format(time_t t, char out[30]);
/* Parses IMF-fixdate; -1 when it is not one. */
int http_date_parse(const char *s, time_t *out);

/* What an upload says its content must hash to; empty strings for what it does not say.
 * Hex, lowercase. */
struct expected_digests {
	char md5[33];
	char sha1[41];
	char sha256[65];
	char sha512[129];
	const char *md5_from, *sha1_from, *sha256_from, *sha512_from; /* header names */
};

/* Adds what one header says. Returns 0, or -1 for a malformed value. Algorithms depot does
 * not compute are ignored. A header that disagrees with an earlier one about the same
 * algorithm is malformed too. */
int expected_add(struct expected_digests *e, const char *header, const char *value);

#endif
