/* Unit test for log_escape (log.c): client text in the log can neither end a line nor
 * reach the terminal, and a cut never splits an escape. */
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "log.h"

static const char *esc(const char *s, size_t cap)
{
	static char out[64];
	return log_escape(s, out, cap);
}

/* log_escape as first written, byte by byte: the table-driven one must match it exactly. */
static void reference(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	if (cap < 4) {
		if (cap)
			out[0] = '\0';
		return;
	}
	size_t whole = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		whole += *p >= 0x20 && *p < 0x7f && *p != '\\' ? 1 : 4;
	size_t room = whole < cap ? cap - 1 : cap - 4, n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		bool plain = *p >= 0x20 && *p < 0x7f && *p != '\\';
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
}

/* Does log_escape (and log_text_escaped) write what the reference does, at every cap up to
 * a little past the whole text? */
static bool same_as_reference(const char *s)
{
	char want[LOG_TEXT_MAX], got[LOG_TEXT_MAX];
	for (size_t cap = 0; cap < sizeof(want); cap++) {
		memset(got, 'Z', sizeof(got));
		reference(s, want, cap);
		log_escape(s, got, cap);
		if (cap && strcmp(want, got) != 0)
			return false;
		if (cap && strlen(want) + 8 < cap)
			break;
	}
	static struct log_text t;
	t.n = 0;
	log_text_str(&t, "<");
	log_text_escaped(&t, s);
	reference(s, want, LOG_TEXT_MAX);
	return t.n == 1 + strlen(want) && memcmp(t.s + 1, want, t.n - 1) == 0;
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
	/* every byte value, alone, between plain bytes and next to escapes, at every cut */
	int differ = 0;
	for (int b = 1; b < 256; b++) {
		char one[] = {(char)b, 0}, mid[] = {'a', 'b', (char)b, 'c', 0},
		     esc_near[] = {'\r', (char)b, '\\', (char)b, 'x', (char)b, '\n', 0};
		char run[200];
		memset(run, b, sizeof(run) - 1);
		run[sizeof(run) - 1] = '\0';
		differ += !same_as_reference(one) + !same_as_reference(mid) +
			  !same_as_reference(esc_near) + !same_as_reference(run);
	}
	CHECK(differ == 0);
	/* mixed text longer than a log piece, cut at LOG_TEXT_MAX */
	static char mixed[3000];
	for (size_t i = 0; i < sizeof(mixed) - 1; i++)
		mixed[i] = (char)(i % 7 == 3 ? '\x1b' : i % 11 == 5 ? '\\' : 'a' + (char)(i % 26));
	CHECK(same_as_reference(mixed));
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
