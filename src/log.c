/* Log lines go to stderr in one write each, so lines from threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
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
