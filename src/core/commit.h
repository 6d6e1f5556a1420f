/* Group commit for small uploads: requests hand their publish to one committer thread and
 * wait (their connection suspended, so a server thread is not held); the committer records
 * everything that queued up meanwhile in one transaction — one sync for all — and then
 * wakes each request with its own result. No request hears 201 before its data is durable. */
#ifndef DEPOT_COMMIT_H
#define DEPOT_COMMIT_H

#include <stdbool.h>

#include "meta.h"
#include "metrics.h"

struct commit_job {
	struct meta_publish_item item; /* in: item.p; out: item.out, item.result */
	void (*wake)(void *ctx);       /* called on the committer thread when done */
	void *ctx;
	bool done;
	struct commit_job *next;
};

struct committer;

/* NULL when the thread cannot start. Each batch's size goes to mx (may be NULL). */
struct committer *committer_start(struct meta *m, struct metrics *mx);
/* Queues a job; -1 when the committer is stopping (publish synchronously instead). */
int committer_submit(struct committer *c, struct commit_job *job);
/* Commits what is queued, wakes its requests, and stops the thread; later submits are
 * refused, so no request is left suspended. c stays valid (threads that still hold it
 * may submit) until committer_free. Accepts NULL; a second call does nothing. */
void committer_stop(struct committer *c);
/* Stops (if not yet) and frees: only once no thread can call committer_submit, i.e.
 * after the server's threads are gone. Accepts NULL. */
void committer_free(struct committer *c);

#endif
