/* Audit queue (see audit.h). */
#include "audit.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Two buffers: requests fill one while a flush writes the other, so a flush neither copies
 * nor holds the lock during the database write. */
struct audit_queue {
	pthread_mutex_t lock;	   /* guards fill and n */
	pthread_mutex_t flushing; /* one flush at a time */
	struct audit_event *buf[2];
	int fill;
	size_t n;
	void (*wake)(void *ctx); /* NULL: none */
	void *wake_ctx;
};

struct audit_queue *audit_queue_new(void)
{
	struct audit_queue *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->buf[0] = malloc(AUDIT_QUEUE_MAX * sizeof(struct audit_event));
	q->buf[1] = malloc(AUDIT_QUEUE_MAX * sizeof(struct audit_event));
	if (!q->buf[0] || !q->buf[1]) {
		free(q->buf[0]);
		free(q->buf[1]);
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_mutex_init(&q->flushing, NULL);
	return q;
}

void audit_queue_free(struct audit_queue *q)
{
	if (!q)
		return;
	pthread_mutex_destroy(&q->lock);
	pthread_mutex_destroy(&q->flushing);
	free(q->buf[0]);
	free(q->buf[1]);
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

int audit_flush(struct audit_queue *q, struct meta *m)
{
	pthread_mutex_lock(&q->flushing);
	pthread_mutex_lock(&q->lock);
	struct batch b = {q->buf[q->fill], q->n};
	q->fill ^= 1;
	q->n = 0;
	pthread_mutex_unlock(&q->lock);
	int ret = b.n ? m->ops->locked(m, append_all, &b) : 0;
	if (ret != 0) { /* keep what still fits for the next flush */
		pthread_mutex_lock(&q->lock);
		for (size_t i = 0; i < b.n && q->n < AUDIT_QUEUE_MAX; i++)
			q->buf[q->fill][q->n++] = b.ev[i];
		pthread_mutex_unlock(&q->lock);
	}
	pthread_mutex_unlock(&q->flushing);
	return ret;
}

void audit_queue_set_wake(struct audit_queue *q, void (*wake)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&q->lock); /* requests may be recording already */
	q->wake = wake;
	q->wake_ctx = ctx;
	pthread_mutex_unlock(&q->lock);
}

void audit_record(struct audit_queue *q, struct meta *m, const struct audit_event *ev)
{
	for (;;) {
		pthread_mutex_lock(&q->lock);
		if (q->n < AUDIT_QUEUE_MAX) {
			q->buf[q->fill][q->n++] = *ev;
			void (*wake)(void *) = q->n == AUDIT_QUEUE_MAX / 2 ? q->wake : NULL;
			void *wake_ctx = q->wake_ctx;
			pthread_mutex_unlock(&q->lock);
			if (wake)
				wake(wake_ctx);
			return;
		}
		pthread_mutex_unlock(&q->lock);
		if (audit_flush(q, m) != 0)
			return; /* the store refuses writes; the failure is logged by the flusher */
	}
}
