/* Audit queue (see audit.h). */
#include "audit.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Events written to the store at a time, unpacked (each struct is ~1.8 KB). */
#define UNPACKED_MAX 64

/* Two buffers: requests fill one while a flush writes the other, so a flush neither copies
 * nor holds the lock during the database write. Events are packed in them: the numbers,
 * then each text with its NUL, so a buffer holds many more than whole structs would. */
struct audit_queue {
	pthread_mutex_t lock;	   /* guards fill and used */
	pthread_mutex_t flushing; /* one flush at a time; guards unpacked */
	unsigned char *buf[2];	   /* AUDIT_QUEUE_BYTES each */
	int fill;
	size_t used;
	struct audit_event *unpacked; /* UNPACKED_MAX */
	void (*wake)(void *ctx);      /* NULL: none */
	void *wake_ctx;
};

/* The texts of an event, in packing order. */
#define TEXT(f) {offsetof(struct audit_event, f), sizeof(((struct audit_event *)0)->f)}
static const struct {
	size_t off, cap;
} texts[] = {TEXT(action),   TEXT(username),  TEXT(token_kind), TEXT(package), TEXT(version),
	     TEXT(file_name), TEXT(sha256), TEXT(client),	  TEXT(detail)};
#define NTEXTS (sizeof(texts) / sizeof(texts[0]))

struct numbers {
	int64_t at_ms, token_id, project_id, size;
};

/* Packs ev at dst; its size, or 0 when it needs more than room. */
static size_t pack(const struct audit_event *ev, unsigned char *dst, size_t room)
{
	struct numbers n = {ev->at_ms, ev->token_id, ev->project_id, ev->size};
	size_t len[NTEXTS], need = sizeof(n);
	for (size_t i = 0; i < NTEXTS; i++) {
		len[i] = strnlen((const char *)ev + texts[i].off, texts[i].cap - 1);
		need += len[i] + 1;
	}
	if (need > room)
		return 0;
	memcpy(dst, &n, sizeof(n));
	size_t at = sizeof(n);
	for (size_t i = 0; i < NTEXTS; i++) {
		memcpy(dst + at, (const char *)ev + texts[i].off, len[i]);
		dst[at + len[i]] = '\0';
		at += len[i] + 1;
	}
	return at;
}

/* Unpacks the event at src into *ev; the bytes it took. */
static size_t unpack(const unsigned char *src, struct audit_event *ev)
{
	struct numbers n;
	memcpy(&n, src, sizeof(n));
	ev->at_ms = n.at_ms;
	ev->token_id = n.token_id;
	ev->project_id = n.project_id;
	ev->size = n.size;
	size_t at = sizeof(n);
	for (size_t i = 0; i < NTEXTS; i++) {
		size_t len = strlen((const char *)src + at); /* packed from a field: it fits */
		memcpy((char *)ev + texts[i].off, src + at, len + 1);
		at += len + 1;
	}
	return at;
}

struct audit_queue *audit_queue_new(void)
{
	struct audit_queue *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->buf[0] = malloc(AUDIT_QUEUE_BYTES);
	q->buf[1] = malloc(AUDIT_QUEUE_BYTES);
	q->unpacked = malloc(UNPACKED_MAX * sizeof(*q->unpacked));
	if (!q->buf[0] || !q->buf[1] || !q->unpacked) {
		free(q->buf[0]);
		free(q->buf[1]);
		free(q->unpacked);
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
	free(q->unpacked);
	free(q);
}

struct batch {
	struct audit_queue *q;
	const unsigned char *bytes;
	size_t len;
};

/* Every event of the batch, UNPACKED_MAX at a time, in the caller's one transaction. */
static int append_all(struct meta *m, void *ctx)
{
	struct batch *b = ctx;
	for (size_t at = 0; at < b->len;) {
		size_t n = 0;
		while (n < UNPACKED_MAX && at < b->len)
			at += unpack(b->bytes + at, &b->q->unpacked[n++]);
		int ret = m->ops->audit_append(m, b->q->unpacked, n);
		if (ret != 0)
			return ret;
	}
	return 0;
}

int audit_flush(struct audit_queue *q, struct meta *m)
{
	pthread_mutex_lock(&q->flushing);
	pthread_mutex_lock(&q->lock);
	struct batch b = {q, q->buf[q->fill], q->used};
	q->fill ^= 1;
	q->used = 0;
	pthread_mutex_unlock(&q->lock);
	int ret = b.len ? m->ops->locked(m, append_all, &b) : 0;
	if (ret != 0) { /* keep what still fits for the next flush (events are whole) */
		pthread_mutex_lock(&q->lock);
		for (size_t at = 0, n; at < b.len; at += n) {
			n = unpack(b.bytes + at, &q->unpacked[0]);
			if (n > AUDIT_QUEUE_BYTES - q->used)
				break;
			memcpy(q->buf[q->fill] + q->used, b.bytes + at, n);
			q->used += n;
		}
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
		size_t n = pack(ev, q->buf[q->fill] + q->used, AUDIT_QUEUE_BYTES - q->used);
		if (n) {
			bool passed = q->used < AUDIT_QUEUE_BYTES / 4 &&
				      q->used + n >= AUDIT_QUEUE_BYTES / 4;
			q->used += n;
			void (*wake)(void *) = passed ? q->wake : NULL;
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
