/* Download lookups kept between requests: see dlcache.h. */
#include "dlcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct dl_entry {
	struct meta_download d;
	uint64_t local; /* the store's count of this process's writes when d was read */
	size_t key_len;
	char key[]; /* not NUL-terminated: keys hold NULs between their parts */
};

struct dl_cache {
	pthread_mutex_t lock;
	size_t n;
	struct dl_entry *slot[]; /* owned */
};

struct dl_cache *dl_cache_new(size_t slots)
{
	struct dl_cache *c = calloc(1, sizeof(*c) + slots * sizeof(struct dl_entry *));
	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->n = slots;
	return c;
}

void dl_cache_free(struct dl_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->slot[i]);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Only a slot index (entries compare their whole key): eight bytes at a time, each
 * multiplied in and folded (a byte at a time cost ~700 instructions per download). */
static size_t slot_of(const struct dl_cache *c, const char *key, size_t len)
{
	const uint64_t mul = 0x9e3779b97f4a7c15u;
	uint64_t h = len, w;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, key + i, 8);
		h = (h ^ w) * mul;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, key + i, len - i);
	h = (h ^ w) * mul;
	h ^= h >> 32;
	return (size_t)(h % c->n);
}

bool dl_cache_get(struct dl_cache *c, const char *key, size_t key_len, const int64_t epochs[2],
		  uint64_t local, struct meta_download *out)
{
	if (!c)
		return false;
	size_t i = slot_of(c, key, key_len);
	pthread_mutex_lock(&c->lock);
	const struct dl_entry *e = c->slot[i];
	bool hit = e && e->key_len == key_len && memcmp(e->key, key, key_len) == 0 &&
		   e->d.epoch == epochs[0] && e->d.content_epoch == epochs[1] && e->local == local;
	if (hit)
		*out = e->d;
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void dl_cache_put(struct dl_cache *c, const char *key, size_t key_len,
		  const struct meta_download *d, uint64_t local)
{
	if (!c)
		return;
	struct dl_entry *e = malloc(sizeof(*e) + key_len);
	if (!e)
		return; /* the next lookup runs the statement again */
	e->d = *d;
	e->local = local;
	e->key_len = key_len;
	memcpy(e->key, key, key_len);
	size_t i = slot_of(c, key, key_len);
	pthread_mutex_lock(&c->lock);
	struct dl_entry *old = c->slot[i];
	c->slot[i] = e;
	pthread_mutex_unlock(&c->lock);
	free(old);
}
