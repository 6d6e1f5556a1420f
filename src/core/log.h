/* Logging: one line per event on stderr, prefixed with the UTC time. */
#ifndef DEPOT_LOG_H
#define DEPOT_LOG_H

#include <stddef.h>

__attribute__((format(printf, 1, 2))) void log_line(const char *fmt, ...);

/* Room for one escaped piece of client text; a log line holds two. */
#define LOG_TEXT_MAX 1024

/* Client text (a URL, a header value) made safe to log: every byte outside printable ASCII,
 * and the backslash, becomes \xHH, so a client can neither end the line nor drive the
 * terminal of whoever reads the log. Writes into out (cap bytes with the NUL), cut at a
 * whole escape and ended with "..." when it does not fit; returns out. Every log line that
 * carries client text goes through this. */
const char *log_escape(const char *s, char *out, size_t cap);

/* A line built piece by piece, for the line written per request: printf's parsing and
 * padding cost more than the rest of a small download. Starts with the time, like
 * log_line's; pieces that do not fit are cut; log_text_end adds the newline and writes. */
struct log_text {
	char s[2 * LOG_TEXT_MAX + 256];
	size_t n;
};
void log_text_start(struct log_text *t);
void log_text_str(struct log_text *t, const char *s);
void log_text_escaped(struct log_text *t, const char *client_text); /* log_escape's rules */
void log_text_uint(struct log_text *t, unsigned long long v);
void log_text_end(struct log_text *t);

#endif
