/* A bounded in-memory cache of small blobs, so hot small downloads are served from memory
 * instead of open + sendfile. Blobs are content-addressed and never change, so entries
 * need no invalidation. Thread-safe. */
#ifndef DEPOT_BLOBCACHE_H
#define DEPOT_BLOBCACHE_H

#include <stddef.h>

#define BLOBCACHE_MAX_ENTRY (16u << 10)

struct blob_cache;

/* Up to slots entries of at most BLOBCACHE_MAX_ENTRY bytes. NULL when out of memory. */
struct blob_cache *blob_cache_new(size_t slots);
void blob_cache_free(struct blob_cache *c);
/* A malloc'd copy of the blob (caller frees) and its length, or NULL on a miss. */
char *blob_cache_get(struct blob_cache *c, const char *key, size_t *len);
void blob_cache_put(struct blob_cache *c, const char *key, const char *data, size_t len);

#endif
