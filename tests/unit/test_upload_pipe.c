/* Unit test for upload_pipe.c and digest.c's helper threads: a body handed over in pieces
 * of every size is written whole and in order, and hashed to the same digests as
 * digest3_update on one thread; a failed write stops the writes and is returned after. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "upload_pipe.h"

struct sink {
	unsigned char *out;
	size_t len, cap;
	size_t fail_after; /* 0: never */
	int writes;
};

static int sink_write(void *ctx, const void *data, size_t len)
{
	struct sink *s = ctx;
	s->writes++;
	if (s->fail_after && s->len + len > s->fail_after)
		return -ENOSPC;
	if (s->len + len > s->cap)
		return -EIO;
	memcpy(s->out + s->len, data, len);
	s->len += len;
	return 0;
}

static void hash_once(const unsigned char *in, size_t len, bool sha512, struct digest_hex *out)
{
	struct digest3 *d = digest3_new(sha512);
	digest3_update(d, in, len);
	digest3_final(d, out);
	digest3_free(d);
}

/* Passes len bytes of in through a pipe in pieces of up to step bytes. */
static int through_pipe(const unsigned char *in, size_t len, size_t step, bool sha512,
			struct sink *s, struct digest_hex *out)
{
	struct digest3 *d = digest3_new(sha512);
	struct upload_pipe *p = upload_pipe_new(d, sink_write, s);
	int ret = 0;
	for (size_t off = 0; off < len && ret == 0; off += step)
		ret = upload_pipe_add(p, in + off, len - off < step ? len - off : step);
	if (ret == 0)
		ret = upload_pipe_flush(p);
	if (ret == 0)
		ret = digest3_final(d, out);
	upload_pipe_free(p);
	digest3_free(d);
	return ret;
}

int main(void)
{
	size_t len = 5 * UPLOAD_PIPE_BUF * UPLOAD_PIPE_BUFS / 2 + 12345; /* wraps the ring twice */
	unsigned char *in = malloc(len);
	struct sink s = {.out = malloc(len), .cap = len};
	srand(12);
	for (size_t i = 0; i < len; i++)
		in[i] = (unsigned char)rand();
	size_t steps[] = {1000, 16384, 32768 + 7, UPLOAD_PIPE_BUF, 3 * UPLOAD_PIPE_BUF + 1, len};
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		for (int sha512 = 0; sha512 <= 1; sha512++) {
			struct digest_hex want, got;
			hash_once(in, len, sha512, &want);
			s.len = 0;
			CHECK(through_pipe(in, len, steps[k], sha512, &s, &got) == 0);
			CHECK(s.len == len && memcmp(s.out, in, len) == 0);
			CHECK(strcmp(got.md5, want.md5) == 0);
			CHECK(strcmp(got.sha1, want.sha1) == 0);
			CHECK(strcmp(got.sha256, want.sha256) == 0);
			CHECK(strcmp(got.sha512, want.sha512) == 0);
			CHECK(sha512 || got.sha512[0] == '\0');
		}
	}
	/* a body of less than one buffer is written by the flush */
	struct digest_hex want, got;
	hash_once(in, 100, false, &want);
	s.len = 0;
	CHECK(through_pipe(in, 100, 7, false, &s, &got) == 0);
	CHECK(s.len == 100 && strcmp(got.sha256, want.sha256) == 0);
	/* an empty one writes nothing */
	hash_once(in, 0, false, &want);
	s = (struct sink){.out = s.out, .cap = len};
	CHECK(through_pipe(in, 0, 7, false, &s, &got) == 0);
	CHECK(s.writes == 0 && strcmp(got.md5, want.md5) == 0);
	/* a failed write: returned, and nothing is written after it */
	s = (struct sink){.out = s.out, .cap = len, .fail_after = 2 * UPLOAD_PIPE_BUF + 1};
	CHECK(through_pipe(in, len, 16384, false, &s, &got) == -ENOSPC);
	CHECK(s.writes == 3 && s.len == 2 * UPLOAD_PIPE_BUF);
	free(s.out);
	free(in);
	return check_done("test_upload_pipe");
}
