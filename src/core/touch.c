/* Batched download times (see touch.h): a small open-addressing table under a mutex. */
#include "touch.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TOUCH_SLOTS 4096 /* distinct packages between flushes; more are written at once */

struct touch_entry {
	int64_t package_id; /* 0: empty */
	int64_t when_ms;
};

struct touch_log {
	pthread_mutex_t lock;
	struct touch_entry slots[TOUCH_SLOTS];
	size_t used;
};

struct touch_log *touch_log_new(void)
{
	struct touch_log *t = calloc(1, sizeof(*t));
	if (t)
		pthread_mutex_init(&t->lock, NULL);
	return t;
}

void touch_log_free(struct touch_log *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void touch_log_record(struct touch_log *t, int64_t package_id, int64_t when_ms)
{
	/* A hot file is downloaded many times a second: each thread records a package at
	 * most every 100 ms, so the shared lock is not taken per request. */
	static _Thread_local int64_t last_package, last_ms;
	if (package_id == last_package && when_ms >= last_ms && when_ms - last_ms < 100)
		return;
	last_package = package_id;
	last_ms = when_ms;
	pthread_mutex_lock(&t->lock);
	size_t i = (size_t)((uint64_t)package_id * 11400714819323198485ull >> 52) % TOUCH_SLOTS;
	for (size_t n = 0; n < TOUCH_SLOTS; n++, i = (i + 1) % TOUCH_SLOTS) {
		struct touch_entry *e = &t->slots[i];
		if (e->package_id == package_id) {
			if (when_ms > e->when_ms)
				e->when_ms = when_ms;
			break;
		}
		if (e->package_id == 0 && t->used < TOUCH_SLOTS - 1) {
			e->package_id = package_id;
			e->when_ms = when_ms;
			t->used++;
			break;
		}
	}
	/* A full table drops the record: the next flush empties it, and a later download of
	 * the package records again. */
	pthread_mutex_unlock(&t->lock);
}

struct flush_ctx {
	struct touch_entry *entries;
	size_t n;
};

static int write_all(struct meta *m, void *ctx)
{
	struct flush_ctx *f = ctx;
	for (size_t i = 0; i < f->n; i++) {
		int ret = m->ops->package_touch_download(m, f->entries[i].package_id,
							 f->entries[i].when_ms);
		if (ret != 0)
			return ret;
	}
	return 0;
}

int touch_log_flush(struct touch_log *t, struct meta *m)
{
	struct flush_ctx f = {0};
	pthread_mutex_lock(&t->lock);
	if (t->used) {
		f.entries = malloc(t->used * sizeof(*f.entries));
		if (!f.entries) {
			pthread_mutex_unlock(&t->lock);
			return -ENOMEM;
		}
		for (size_t i = 0; i < TOUCH_SLOTS; i++)
			if (t->slots[i].package_id)
				f.entries[f.n++] = t->slots[i];
		memset(t->slots, 0, sizeof(t->slots));
		t->used = 0;
	}
	pthread_mutex_unlock(&t->lock);
	int ret = f.n ? m->ops->locked(m, write_all, &f) : 0;
	if (ret != 0) /* keep them for the next flush */
		for (size_t i = 0; i < f.n; i++)
			touch_log_record(t, f.entries[i].package_id, f.entries[i].when_ms);
	free(f.entries);
	return ret;
}
