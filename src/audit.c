/* Audit queue (see audit.h). */
#include "audit.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_QUEUE_MAX 4096

struct audit_queue {
	pthread_mutex_t lock;
	struct audit_event *ev;
	size_t n;
};

struct audit_queue *audit_queue_new(void)
{
	struct audit_queue *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	if (!(q->ev = malloc(AUDIT_QUEUE_MAX * sizeof(*q->ev)))) {
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	return q;
}

void audit_queue_free(struct audit_queue *q)
{
	if (!q)
		return;
	pthread_mutex_destroy(&q->lock);
	free(q->ev);
	free(q);
}

struct batch {
	const struct audit_event *ev;
	size_t n;
};

static int append_all(struct meta *m, void *ctx)
{
	struct batch *b = ctx;
	return m->ops->audit_append(m, b->ev, b->n);
}

/* Takes the queued events out under the lock and writes them outside it. */
int audit_flush(struct audit_queue *q, struct meta *m)
{
	pthread_mutex_lock(&q->lock);
	size_t n = q->n;
	struct audit_event *copy = n ? malloc(n * sizeof(*copy)) : NULL;
	if (copy) {
		memcpy(copy, q->ev, n * sizeof(*copy));
		q->n = 0;
	}
	pthread_mutex_unlock(&q->lock);
	if (n && !copy)
		return -ENOMEM;
	struct batch b = {copy, n};
	int ret = n ? m->ops->locked(m, append_all, &b) : 0;
	if (ret != 0) /* put them back for the next flush, as far as they fit */
		for (size_t i = 0; i < n; i++) {
			pthread_mutex_lock(&q->lock);
			if (q->n < AUDIT_QUEUE_MAX)
				q->ev[q->n++] = copy[i];
			pthread_mutex_unlock(&q->lock);
		}
	free(copy);
	return ret;
}

void audit_record(struct audit_queue *q, struct meta *m, const struct audit_event *ev)
{
	pthread_mutex_lock(&q->lock);
	bool full = q->n == AUDIT_QUEUE_MAX;
	if (!full)
		q->ev[q->n++] = *ev;
	pthread_mutex_unlock(&q->lock);
	if (full) {
		audit_flush(q, m);
		audit_record(q, m, ev);
	}
}
