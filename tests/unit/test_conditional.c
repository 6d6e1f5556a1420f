/* Unit tests for ranges, entity tags, HTTP dates and upload digest headers (conditional.c). */
#include <string.h>

#include "check.h"
#include "conditional.h"

static void ranges(void)
{
	uint64_t s = 0, l = 0;
	CHECK(range_parse("bytes=0-99", 1000, &s, &l) == RANGE_OK && s == 0 && l == 100);
	CHECK(range_parse("bytes=990-", 1000, &s, &l) == RANGE_OK && s == 990 && l == 10);
	CHECK(range_parse("bytes=-10", 1000, &s, &l) == RANGE_OK && s == 990 && l == 10);
	CHECK(range_parse("bytes=-5000", 1000, &s, &l) == RANGE_OK && s == 0 && l == 1000);
	CHECK(range_parse("bytes=900-5000", 1000, &s, &l) == RANGE_OK && s == 900 && l == 100);
	CHECK(range_parse("bytes=1000-", 1000, &s, &l) == RANGE_UNSATISFIABLE);
	CHECK(range_parse("bytes=-0", 1000, &s, &l) == RANGE_UNSATISFIABLE);
	CHECK(range_parse("bytes=0-0", 0, &s, &l) == RANGE_UNSATISFIABLE);
	CHECK(range_parse("bytes=0-1,3-4", 1000, &s, &l) == RANGE_NONE);
	CHECK(range_parse("bytes=5-1", 1000, &s, &l) == RANGE_NONE);
	CHECK(range_parse("bytes=abc", 1000, &s, &l) == RANGE_NONE);
	CHECK(range_parse("bytes=", 1000, &s, &l) == RANGE_NONE);
	CHECK(range_parse("lines=1-2", 1000, &s, &l) == RANGE_NONE);
	CHECK(range_parse("bytes=99999999999999999999999-", 1000, &s, &l) == RANGE_NONE);
	CHECK(range_parse("bytes=-1-2", 1000, &s, &l) == RANGE_NONE);
}

static void etags(void)
{
	const char *e = "\"abc\"";
	CHECK(etag_list_matches("\"abc\"", e));
	CHECK(etag_list_matches("W/\"abc\"", e));
	CHECK(etag_list_matches("\"x\", \"abc\"", e));
	CHECK(etag_list_matches("*", e));
	CHECK(!etag_list_matches("\"abcd\"", e));
	CHECK(!etag_list_matches("", e));
	CHECK(!etag_list_matches("abc", e));
}

static void dates(void)
{
	char buf[30];
	time_t t;
	http_date_format(784111777, buf);
	CHECK(strcmp(buf, "Sun, 06 Nov 1994 08:49:37 GMT") == 0);
	CHECK(http_date_parse(buf, &t) == 0 && t == 784111777);
	CHECK(http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t) == -1);
	CHECK(http_date_parse("", &t) == -1);
}

static void digests(void)
{
	struct expected_digests e;
	memset(&e, 0, sizeof(e));
	/* md5("") = d41d8cd98f00b204e9800998ecf8427e */
	CHECK(expected_add(&e, "Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==") == 0);
	CHECK(strcmp(e.md5, "d41d8cd98f00b204e9800998ecf8427e") == 0);
	CHECK(expected_add(&e, "X-Checksum-Md5", "D41D8CD98F00B204E9800998ECF8427E") == 0);
	CHECK(expected_add(&e, "X-Checksum-Md5", "00000000000000000000000000000000") == -1);
	CHECK(expected_add(&e, "Content-MD5", "abc") == -1);
	CHECK(expected_add(&e, "Content-Digest",
			   "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:") == 0);
	CHECK(strcmp(e.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
	CHECK(expected_add(&e, "Content-Digest", "unknown=:AAAA:") == 0);
	CHECK(expected_add(&e, "Content-Digest", "sha-256=47DEQ") == -1);
	CHECK(expected_add(&e, "Content-Digest", "sha-256=:AAAA:") == -1); /* wrong length */
	CHECK(expected_add(&e, "X-Checksum-Sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709") == 0);
	CHECK(expected_add(&e, "X-Checksum-Sha1", "da39") == -1);
	CHECK(expected_add(&e, "X-Unrelated", "whatever") == 0);
}

int main(void)
{
	ranges();
	etags();
	dates();
	digests();
	return check_done("test_conditional");
}
