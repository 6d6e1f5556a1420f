/* Log lines go to stderr in one write each, so lines from threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "timeutil.h"

void log_line(const char *fmt, ...)
{
	char line[2048];
	char ts[ISO8601_LEN + 1];
	iso8601_ms(now_ms(), ts);
	int n = snprintf(line, sizeof(line), "%s ", ts);
	va_list ap;
	va_start(ap, fmt);
	/* clang-analyzer 14 misreads the va_start right above as missing */
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap); /* NOLINT */
	va_end(ap);
	if (m < 0)
		return;
	size_t len = (size_t)n + ((size_t)m < sizeof(line) - (size_t)n - 1 ? (size_t)m : sizeof(line) - (size_t)n - 2);
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w; /* nowhere left to report a failed log write */
}

static bool log_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '\\';
}

const char *log_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	if (cap < 4) { /* no room for even "..." */
		if (cap)
			out[0] = '\0';
		return out;
	}
	size_t whole = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		whole += log_plain(*p) ? 1 : 4;
	/* cut short: leave room for "..." */
	size_t room = whole < cap ? cap - 1 : cap - 4, n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		bool plain = log_plain(*p);
		if (n + (plain ? 1 : 4) > room)
			break;
		if (plain) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '\\';
			out[n++] = 'x';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	if (whole >= cap) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}
