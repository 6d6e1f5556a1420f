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

#endif
