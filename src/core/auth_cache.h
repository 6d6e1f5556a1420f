/* Identities and access levels kept between requests, so that an authenticated request
 * needs neither the token's, the user's nor the membership's queries. Every entry carries
 * the stamp it was read under: the store's auth epoch (meta_ops.auth_epoch, raised by each
 * write to tokens, users, members, projects and groups, in the writing transaction) and
 * this process's own change counter. A request uses an entry only under the same stamp,
 * read by the request itself (a download's lookup returns the epoch; other requests read
 * it: meta_ops.auth_epoch), so a revocation by any process or node is refused by the
 * next request (over SQLite, one written by SQL outside depot within a tenth of a
 * second). Keys are SHA-256 digests of what
 * requests present: no secret is kept. */
#ifndef DEPOT_AUTH_CACHE_H
#define DEPOT_AUTH_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "meta.h"

#define AUTH_CACHE_KEY_LEN 32

struct auth_cache;

/* NULL when out of memory. */
struct auth_cache *auth_cache_new(void);
void auth_cache_free(struct auth_cache *ac);

/* The key of parts[0..n) (NULL parts allowed: absent and empty differ). */
void auth_cache_key(struct auth_cache *ac, const char *const *parts, size_t n,
		    unsigned char key[AUTH_CACHE_KEY_LEN]);

/* The stamp a request reads and fills the cache under: known_epoch when the request read
 * the epoch itself (>= 0), else the store's (meta_ops.auth_epoch). Entries of any other
 * stamp are dropped. 0, or the store's error (the request then uses no entry: st->valid
 * is false). */
int auth_cache_stamp(struct auth_cache *ac, struct meta *m, int64_t known_epoch,
		     struct auth_stamp *st);

/* The identity presented as key under st, unless its token has expired by now_ms. */
bool auth_cache_identity_get(struct auth_cache *ac, const struct auth_stamp *st,
			     const unsigned char key[AUTH_CACHE_KEY_LEN], int64_t now_ms,
			     struct identity *out);
/* Keeps id (read from the store after st was taken) under st. */
void auth_cache_identity_put(struct auth_cache *ac, const struct auth_stamp *st,
			     const unsigned char key[AUTH_CACHE_KEY_LEN], const struct identity *id);
/* The token's last use as recorded now (no refill needed: the epoch ignores it). */
void auth_cache_identity_used(struct auth_cache *ac, const unsigned char key[AUTH_CACHE_KEY_LEN],
			      int64_t now_ms);

/* The user's level on the project under st, unless a membership it counted has expired. */
bool auth_cache_level_get(struct auth_cache *ac, const struct auth_stamp *st, int64_t user_id,
			  int64_t project_id, int64_t now_ms, enum access_level *out);
void auth_cache_level_put(struct auth_cache *ac, const struct auth_stamp *st, int64_t user_id,
			  int64_t project_id, enum access_level level, int64_t until_ms);

#endif
