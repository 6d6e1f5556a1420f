/* The pipeline of a large upload: gathering, hashing on two helper threads and writing on
 * the request's thread overlap, so a stream is received at the speed of its slowest digest
 * (MD5) rather than of all three digests plus the write one after another. */
#include "upload_pipe.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct upload_pipe {
	struct digest3 *digest;
	upload_pipe_write_fn *write;
	void *ctx;
	char *buf[UPLOAD_PIPE_BUFS];
	uint64_t piece[UPLOAD_PIPE_BUFS]; /* the hashing piece that last read buf[i] (0: none) */
	unsigned cur;			  /* the buffer being gathered */
	size_t fill;
	int error; /* a write failed: nothing more is written */
};

struct upload_pipe *upload_pipe_new(struct digest3 *d, upload_pipe_write_fn *write, void *ctx)
{
	struct upload_pipe *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	*p = (struct upload_pipe){.digest = d, .write = write, .ctx = ctx};
	for (int i = 0; i < UPLOAD_PIPE_BUFS; i++) {
		/* page-aligned: the local-disk store writes them with O_DIRECT */
		if (!(p->buf[i] = aligned_alloc(4096, UPLOAD_PIPE_BUF))) {
			upload_pipe_free(p);
			return NULL;
		}
	}
	return p;
}

/* Queues the gathered buffer for hashing, writes it meanwhile, and moves to the next. */
static int pass_on(struct upload_pipe *p)
{
	if (p->fill == 0)
		return 0;
	p->piece[p->cur] = digest3_update_async(p->digest, p->buf[p->cur], p->fill);
	p->error = p->write(p->ctx, p->buf[p->cur], p->fill);
	p->cur = (p->cur + 1) % UPLOAD_PIPE_BUFS;
	p->fill = 0;
	return p->error;
}

int upload_pipe_add(struct upload_pipe *p, const void *data, size_t len)
{
	const char *in = data;
	if (p->error)
		return p->error;
	while (len > 0) {
		if (p->fill == 0) /* the helpers may still be reading this buffer */
			digest3_wait_for(p->digest, p->piece[p->cur]);
		size_t n = len < UPLOAD_PIPE_BUF - p->fill ? len : UPLOAD_PIPE_BUF - p->fill;
		memcpy(p->buf[p->cur] + p->fill, in, n);
		p->fill += n;
		in += n;
		len -= n;
		if (p->fill == UPLOAD_PIPE_BUF && pass_on(p) != 0)
			return p->error;
	}
	return 0;
}

int upload_pipe_flush(struct upload_pipe *p)
{
	return p->error ? p->error : pass_on(p);
}

void upload_pipe_free(struct upload_pipe *p)
{
	if (!p)
		return;
	uint64_t last = 0;
	for (int i = 0; i < UPLOAD_PIPE_BUFS; i++)
		last = p->piece[i] > last ? p->piece[i] : last;
	digest3_wait_for(p->digest, last);
	for (int i = 0; i < UPLOAD_PIPE_BUFS; i++)
		free(p->buf[i]);
	free(p);
}
