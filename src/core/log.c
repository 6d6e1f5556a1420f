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

/* The bytes logged as they are: printable ASCII but the backslash, which only ever starts
 * an escape (so a cut can find where one begins). */
static const bool log_plain[256] = {[0x20 ... 0x5b] = true, [0x5d ... 0x7e] = true};

/* log_escape, answering the length written (without the NUL). Runs of plain bytes are
 * copied whole; once something does not fit in cap - 1, the text is cut at the last
 * whole escape within cap - 4 and "..." follows. */
static size_t escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	if (cap < 4) { /* no room for even "..." */
		if (cap)
			out[0] = '\0';
		return 0;
	}
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0, room = cap - 1;
	while (*p) {
		const unsigned char *run = p;
		while (log_plain[*p])
			p++;
		size_t len = (size_t)(p - run);
		if (len > room - n) {
			memcpy(out + n, run, room - n);
			n = room;
			goto cut;
		}
		memcpy(out + n, run, len);
		n += len;
		if (!*p)
			break;
		if (room - n < 4)
			goto cut;
		out[n] = '\\';
		out[n + 1] = 'x';
		out[n + 2] = hex[*p >> 4];
		out[n + 3] = hex[*p & 15];
		n += 4;
		p++;
	}
	out[n] = '\0';
	return n;
cut:
	if (n > cap - 4)
		n = cap - 4;
	for (size_t back = 1; back <= 3 && back <= n; back++)
		if (out[n - back] == '\\') { /* an escape cut in the middle */
			n -= back;
			break;
		}
	memcpy(out + n, "...", 4);
	return n + 3;
}

const char *log_escape(const char *s, char *out, size_t cap)
{
	escape(s, out, cap);
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
	t->n += escape(client_text, t->s + t->n, cap);
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
