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

/* One byte is kept for the newline. */
static size_t text_room(const struct log_text *t)
{
	return sizeof(t->s) - 1 - t->n;
}

void log_text_start(struct log_text *t)
{
	iso8601_ms(now_ms(), t->s);
	t->n = strlen(t->s);
	t->s[t->n++] = ' ';
}

void log_text_str(struct log_text *t, const char *s)
{
	size_t len = strlen(s), room = text_room(t);
	if (len > room)
		len = room;
	memcpy(t->s + t->n, s, len);
	t->n += len;
}

void log_text_escaped(struct log_text *t, const char *client_text)
{
	size_t cap = text_room(t) + 1 < LOG_TEXT_MAX ? text_room(t) + 1 : LOG_TEXT_MAX;
	log_escape(client_text, t->s + t->n, cap);
	t->n += strlen(t->s + t->n);
}

void log_text_uint(struct log_text *t, unsigned long long v)
{
	char digits[24];
	size_t i = sizeof(digits);
	do
		digits[--i] = (char)('0' + v % 10);
	while ((v /= 10) && i);
	size_t len = sizeof(digits) - i, room = text_room(t);
	if (len > room)
		len = room;
	memcpy(t->s + t->n, digits + i, len);
	t->n += len;
}

void log_text_end(struct log_text *t)
{
	t->s[t->n++] = '\n';
	ssize_t w = write(STDERR_FILENO, t->s, t->n);
	(void)w; /* nowhere left to report a failed log write */
}
