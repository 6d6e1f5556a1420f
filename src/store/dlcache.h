/* Download lookups kept between requests (meta_ops.download_lookup): what a download's
 * one statement found for a project reference, package, version and file name, valid
 * only under the two epochs it was read at — the auth epoch (projects, groups, members,
 * tokens, users) and the content epoch (packages' and files' rows), both raised by
 * triggers in every writing transaction, by any process or node — and under the count of
 * this process's own writes to those tables when it was read. A request uses an entry
 * only while all three still match (the epochs as read at most a tenth of a second
 * before, the count as of now), so a lookup served from here is the one the statement
 * would give, but for another process's change of the last tenth of a second. One entry
 * per slot; thread-safe. */
#ifndef DEPOT_DLCACHE_H
#define DEPOT_DLCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"

struct dl_cache;

struct dl_cache *dl_cache_new(size_t slots); /* NULL when out of memory */
void dl_cache_free(struct dl_cache *c);

/* The key's lookup, if it was read under these epochs (auth, content) and this count of
 * local writes, into *out. */
bool dl_cache_get(struct dl_cache *c, const char *key, size_t key_len, const int64_t epochs[2],
		  uint64_t local, struct meta_download *out);
/* Keeps d (its epochs read in its snapshot, local counted before) under key. */
void dl_cache_put(struct dl_cache *c, const char *key, size_t key_len,
		  const struct meta_download *d, uint64_t local);

#endif
