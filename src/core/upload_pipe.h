/* A large upload's body on its way to the blob store: gathered into a few buffers in turn;
 * each full one is queued for hashing on digest.c's two helper threads and written by the
 * caller while they hash it, and the next is gathered into a buffer they are done with. So
 * receiving, hashing and writing overlap, with at most UPLOAD_PIPE_BUFS buffers in flight. */
#ifndef DEPOT_UPLOAD_PIPE_H
#define DEPOT_UPLOAD_PIPE_H

#include <stddef.h>

#include "digest.h"

/* 4 MiB in flight per large upload. 1 GiB PUTs alternated on this 2-core machine: 256 KiB
 * buffers 463-503 MB/s, 1 MiB 541-551, 2 MiB 565-593 against 1 MiB's 542-581 (fewer
 * hand-offs between the threads and larger O_DIRECT writes; past 1 MiB little more). */
#define UPLOAD_PIPE_BUFS 4
#define UPLOAD_PIPE_BUF (1024u << 10)

/* Writes len bytes of the body, in order, on the thread that calls upload_pipe_add or
 * upload_pipe_flush; 0 or a negative errno. */
typedef int upload_pipe_write_fn(void *ctx, const void *data, size_t len);

struct upload_pipe;

/* Hashes into d (borrowed: it must outlive the pipe, and gets no digest3_update while the
 * pipe is used) and writes with write(ctx, ...). NULL when out of memory. */
struct upload_pipe *upload_pipe_new(struct digest3 *d, upload_pipe_write_fn *write, void *ctx);
/* Takes len more bytes of the body. Returns 0, or the first error of a write: then the
 * upload is to be abandoned (nothing more is written). */
int upload_pipe_add(struct upload_pipe *p, const void *data, size_t len);
/* Hands over the last, partly filled buffer; after it, digest3_final gives the digests. */
int upload_pipe_flush(struct upload_pipe *p);
/* Waits until the helpers no longer read its buffers, and frees it; accepts NULL. */
void upload_pipe_free(struct upload_pipe *p);

#endif
