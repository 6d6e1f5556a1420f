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
	/* the request line's builder: the same escapes, numbers without printf, cut at the end */
	static struct log_text t;
	log_text_start(&t);
	CHECK(t.n == 25 && t.s[4] == '-' && t.s[10] == 'T' && t.s[23] == 'Z' && t.s[24] == ' ');
	t.n = 0;
	log_text_str(&t, "GET ");
	log_text_escaped(&t, "/a\rb");
	log_text_str(&t, " ");
	log_text_uint(&t, 0);
	log_text_str(&t, " ");
	log_text_uint(&t, 200);
	log_text_str(&t, " ");
	log_text_uint(&t, 18446744073709551615ull);
	CHECK(t.n == strlen("GET /a\\x0db 0 200 18446744073709551615") &&
	      memcmp(t.s, "GET /a\\x0db 0 200 18446744073709551615", t.n) == 0);
	t.n = 0;
	for (int i = 0; i < 3000; i++)
		log_text_str(&t, "x");
	CHECK(t.n == sizeof(t.s) - 1); /* room kept for the newline */
	log_text_uint(&t, 7);
	log_text_escaped(&t, "more");
	CHECK(t.n == sizeof(t.s) - 1);
	return check_done("test_log");
}
