/* Unit test for log_escape (log.c): client text in the log can neither end a line nor
 * reach the terminal, and a cut never splits an escape. */
#include <string.h>

#include "check.h"
#include "log.h"

static const char *esc(const char *s, size_t cap)
{
	static char out[64];
	return log_escape(s, out, cap);
}

int main(void)
{
	CHECK(strcmp(esc("/api/v4/user", 64), "/api/v4/user") == 0);
	CHECK(strcmp(esc("a\rb\nc", 64), "a\\x0db\\x0ac") == 0);
	CHECK(strcmp(esc("\x1b[2J\x7f", 64), "\\x1b[2J\\x7f") == 0);
	CHECK(strcmp(esc("\x9b\xff", 64), "\\x9b\\xff") == 0);
	CHECK(strcmp(esc("a\\x41", 64), "a\\x5cx41") == 0); /* a logged "\x41" is not an escape */
	CHECK(strcmp(esc("", 64), "") == 0);
	/* cuts: whole escapes only, marked with "..." */
	CHECK(strcmp(esc("abcdefgh", 9), "abcdefgh") == 0);
	CHECK(strcmp(esc("abcdefghi", 9), "abcde...") == 0);
	CHECK(strcmp(esc("ab\r", 9), "ab\\x0d") == 0);
	CHECK(strcmp(esc("abcd\rxyz", 9), "abcd...") == 0);
	CHECK(strlen(esc("\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r", 64)) <= 63);
	CHECK(strcmp(esc("abc", 3), "") == 0);
	return check_done("test_log");
}
