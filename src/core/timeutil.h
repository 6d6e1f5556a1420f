/* Wall-clock and monotonic time, and GitLab's timestamp format. */
#ifndef DEPOT_TIMEUTIL_H
#define DEPOT_TIMEUTIL_H

#include <stdint.h>

#define ISO8601_LEN 24 /* "2021-10-12T12:05:23.387Z" */

int64_t now_ms(void);
/* The monotonic clock (for intervals, never dates), in microseconds and milliseconds. */
int64_t mono_us(void);
int64_t mono_ms(void);
/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) into out (ISO8601_LEN + 1 bytes). */
void iso8601_ms(int64_t ms, char out[ISO8601_LEN + 1]);
/* Parses "YYYY-MM-DD" as midnight UTC; returns 0 and sets *ms, or -1. */
int date_parse_ms(const char *s, int64_t *ms);
/* Parses an ISO 8601 date or date-time as GitLab's API takes them: "YYYY-MM-DD" (midnight
 * UTC), or with "THH:MM[:SS[.fff]]" and "Z" or an offset "+HH:MM" (none: UTC). Returns 0
 * and sets *ms, or -1. */
int datetime_parse_ms(const char *s, int64_t *ms);

#endif
