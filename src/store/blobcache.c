/* Small-blob cache (see blobcache.h): direct-mapped by the key's first hex digits, one
 * lock per slot, entries allocated on first use. */
#include "blobcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	pthread_rwlock_t lock; /* hot files are read by every thread at once */
	char key[65];
	size_t len;
	char *data; /* BLOBCACHE_MAX_ENTRY bytes once used */
};

struct blob_cache {
	size_t nslots;
	struct slot slots[];
};

struct blob_cache *blob_cache_new(size_t nslots)
{
	struct blob_cache *c = calloc(1, sizeof(*c) + nslots * sizeof(struct slot));
	if (!c)
		return NULL;
	c->nslots = nslots;
	for (size_t i = 0; i < nslots; i++)
		pthread_rwlock_init(&c->slots[i].lock, NULL);
	return c;
}

void blob_cache_free(struct blob_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nslots; i++) {
		pthread_rwlock_destroy(&c->slots[i].lock);
		free(c->slots[i].data);
	}
	free(c);
}

/* Keys are hex SHA-256s: their first digits are already uniformly spread. */
static struct slot *slot_of(struct blob_cache *c, const char *key)
{
	size_t h = 0;
	for (int i = 0; i < 8 && key[i]; i++)
		h = h * 31 + (unsigned char)key[i];
	return &c->slots[h % c->nslots];
}

char *blob_cache_get(struct blob_cache *c, const char *key, size_t *len)
{
	struct slot *s = slot_of(c, key);
	char *copy = NULL;
	pthread_rwlock_rdlock(&s->lock);
	if (s->data && strcmp(s->key, key) == 0 && (copy = malloc(s->len ? s->len : 1))) {
		memcpy(copy, s->data, s->len);
		*len = s->len;
	}
	pthread_rwlock_unlock(&s->lock);
	return copy;
}

void blob_cache_put(struct blob_cache *c, const char *key, const char *data, size_t len)
{
	if (len > BLOBCACHE_MAX_ENTRY || strlen(key) != 64)
		return;
	struct slot *s = slot_of(c, key);
	pthread_rwlock_wrlock(&s->lock);
	if (!s->data)
		s->data = malloc(BLOBCACHE_MAX_ENTRY);
	if (s->data) {
		memcpy(s->data, data, len);
		memcpy(s->key, key, 65);
		s->len = len;
	}
	pthread_rwlock_unlock(&s->lock);
}
