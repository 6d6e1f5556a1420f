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

/* The last credentials one connection presented, and their key: a keep-alive client
 * presents the same on each request, which then costs a comparison instead of a digest.
 * The copy is a secret: wiped when replaced and by auth_key_memo_release, never logged;
 * parts longer than AUTH_KEY_MEMO_MAX bytes in all are not kept. One user at a time (the
 * connection's requests come one after another). Zeroed: empty. */
#define AUTH_KEY_MEMO_MAX 256
#define AUTH_KEY_MEMO_PARTS 6
#define AUTH_KEY_MEMO_ABSENT UINT16_MAX
struct auth_key_memo {
	bool valid;
	size_t n;			   /* parts */
	uint16_t len[AUTH_KEY_MEMO_PARTS]; /* AUTH_KEY_MEMO_ABSENT: a NULL part */
	unsigned char key[AUTH_CACHE_KEY_LEN];
	char bytes[AUTH_KEY_MEMO_MAX]; /* the parts one after another */
};

/* auth_cache_key, reusing memo's key when parts are byte for byte those it holds (absent
 * and empty differ), and keeping parts and key in memo otherwise. memo may be NULL. */
void auth_cache_key_memo(struct auth_cache *ac, struct auth_key_memo *memo,
			 const char *const *parts, size_t n, unsigned char key[AUTH_CACHE_KEY_LEN]);
/* Wipes memo (it holds secrets): call it before freeing one. */
void auth_key_memo_release(struct auth_key_memo *memo);

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
