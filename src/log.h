/* Logging: one line per event on stderr, prefixed with the UTC time. */
#ifndef DEPOT_LOG_H
#define DEPOT_LOG_H

__attribute__((format(printf, 1, 2))) void log_line(const char *fmt, ...);

#endif
