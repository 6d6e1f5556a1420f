/* The identity and access level cache (see auth_cache.h): two open-addressing tables
 * under one mutex, emptied whenever the stamp moves or a table fills up. */
#include "auth_cache.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Powers of two. Past three quarters full a table is emptied: simpler than eviction, and
 * a server with more active tokens than this only pays the queries it pays without. */
#define IDENTITY_SLOTS 256
#define LEVEL_SLOTS 1024

struct identity_entry {
	bool used;
	unsigned char key[AUTH_CACHE_KEY_LEN];
	struct identity id;
};

struct level_entry {
	bool used;
	int64_t user_id, project_id;
	enum access_level level;
	int64_t until_ms; /* 0: no membership counted expires */
};

struct auth_cache {
	pthread_mutex_t mu;
	EVP_MD *sha256; /* fetched once: an implicit fetch per digest costs as much as it */
	pthread_key_t ctx_key; /* each thread's EVP_MD_CTX, reused: a new one costs 3x a key */
	struct auth_stamp current; /* every entry was read under it */
	size_t n_identities, n_levels;
	struct identity_entry *identities; /* IDENTITY_SLOTS */
	struct level_entry *levels;	   /* LEVEL_SLOTS */
};

static void free_ctx(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

struct auth_cache *auth_cache_new(void)
{
	struct auth_cache *ac = calloc(1, sizeof(*ac));
	if (!ac)
		return NULL;
	ac->identities = calloc(IDENTITY_SLOTS, sizeof(*ac->identities));
	ac->levels = calloc(LEVEL_SLOTS, sizeof(*ac->levels));
	ac->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	ac->current.epoch = -1;
	if (!ac->identities || !ac->levels || !ac->sha256 ||
	    pthread_key_create(&ac->ctx_key, free_ctx) != 0) {
		EVP_MD_free(ac->sha256);
		free(ac->identities);
		free(ac->levels);
		free(ac);
		return NULL;
	}
	if (pthread_mutex_init(&ac->mu, NULL) != 0) {
		pthread_key_delete(ac->ctx_key);
		EVP_MD_free(ac->sha256);
		free(ac->identities);
		free(ac->levels);
		free(ac);
		return NULL;
	}
	return ac;
}

void auth_cache_free(struct auth_cache *ac)
{
	if (!ac)
		return;
	pthread_mutex_destroy(&ac->mu);
	free_ctx(pthread_getspecific(ac->ctx_key)); /* other threads' went as they ended */
	pthread_key_delete(ac->ctx_key);
	EVP_MD_free(ac->sha256);
	OPENSSL_cleanse(ac->identities, IDENTITY_SLOTS * sizeof(*ac->identities));
	free(ac->identities);
	free(ac->levels);
	free(ac);
}

/* This thread's digest context, made on first use; NULL when out of memory. */
static EVP_MD_CTX *thread_ctx(struct auth_cache *ac)
{
	EVP_MD_CTX *ctx = pthread_getspecific(ac->ctx_key);
	if (!ctx && (ctx = EVP_MD_CTX_new()) && pthread_setspecific(ac->ctx_key, ctx) != 0) {
		EVP_MD_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* Each part with its length (all ones: absent), so no two lists share a key; gathered
 * on the stack when short, as credentials are, for one update. */
void auth_cache_key(struct auth_cache *ac, const char *const *parts, size_t n,
		    unsigned char key[AUTH_CACHE_KEY_LEN])
{
	EVP_MD_CTX *ctx = thread_ctx(ac);
	bool ok = ctx && EVP_DigestInit_ex(ctx, ac->sha256, NULL) == 1;
	unsigned char buf[512];
	size_t len = 0;
	for (size_t i = 0; ok && i < n; i++) {
		uint64_t plen = parts[i] ? strlen(parts[i]) : UINT64_MAX;
		size_t body = parts[i] ? (size_t)plen : 0;
		if (sizeof(plen) + body > sizeof(buf) - len) { /* flush, then feed it directly */
			ok = EVP_DigestUpdate(ctx, buf, len) == 1 &&
			     EVP_DigestUpdate(ctx, &plen, sizeof(plen)) == 1 &&
			     EVP_DigestUpdate(ctx, parts[i], body) == 1;
			len = 0;
			continue;
		}
		memcpy(buf + len, &plen, sizeof(plen));
		memcpy(buf + len + sizeof(plen), parts[i] ? parts[i] : "", body);
		len += sizeof(plen) + body;
	}
	unsigned int out = 0;
	if (!ok || EVP_DigestUpdate(ctx, buf, len) != 1 ||
	    EVP_DigestFinal_ex(ctx, key, &out) != 1 || out != AUTH_CACHE_KEY_LEN)
		memset(key, 0, AUTH_CACHE_KEY_LEN); /* no entry is ever put under all zeros */
}

static bool key_unusable(const unsigned char key[AUTH_CACHE_KEY_LEN])
{
	static const unsigned char zero[AUTH_CACHE_KEY_LEN];
	return memcmp(key, zero, AUTH_CACHE_KEY_LEN) == 0;
}

void auth_key_memo_release(struct auth_key_memo *memo)
{
	OPENSSL_cleanse(memo, sizeof(*memo));
}

/* Are parts (their lengths in len) those memo holds? Lengths are compared plainly, bytes
 * in constant time: a connection may carry several clients' requests (a proxy in front). */
static bool memo_holds(const struct auth_key_memo *memo, const char *const *parts,
		       const uint16_t *len, size_t n)
{
	if (!memo->valid || memo->n != n || memcmp(memo->len, len, n * sizeof(len[0])) != 0)
		return false;
	int differ = 0;
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		if (len[i] == AUTH_KEY_MEMO_ABSENT)
			continue;
		differ |= CRYPTO_memcmp(memo->bytes + at, parts[i], len[i]);
		at += len[i];
	}
	return differ == 0;
}

void auth_cache_key_memo(struct auth_cache *ac, struct auth_key_memo *memo,
			 const char *const *parts, size_t n, unsigned char key[AUTH_CACHE_KEY_LEN])
{
	_Static_assert(AUTH_KEY_MEMO_MAX < AUTH_KEY_MEMO_ABSENT, "a kept length is never ABSENT");
	uint16_t len[AUTH_KEY_MEMO_PARTS] = {0};
	size_t total = 0;
	for (size_t i = 0; memo && i < n && i < AUTH_KEY_MEMO_PARTS && total <= AUTH_KEY_MEMO_MAX;
	     i++) {
		size_t one = parts[i] ? strnlen(parts[i], AUTH_KEY_MEMO_MAX + 1) : 0;
		len[i] = parts[i] ? (uint16_t)one : AUTH_KEY_MEMO_ABSENT;
		total += one;
	}
	bool fits = memo && n <= AUTH_KEY_MEMO_PARTS && total <= AUTH_KEY_MEMO_MAX;
	if (fits && memo_holds(memo, parts, len, n)) {
		memcpy(key, memo->key, AUTH_CACHE_KEY_LEN);
		return;
	}
	auth_cache_key(ac, parts, n, key);
	if (!memo)
		return;
	auth_key_memo_release(memo); /* the last credentials go, whatever comes instead */
	if (!fits || key_unusable(key))
		return;
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		memo->len[i] = len[i];
		if (len[i] != AUTH_KEY_MEMO_ABSENT) {
			memcpy(memo->bytes + at, parts[i], len[i]);
			at += len[i];
		}
	}
	memo->n = n;
	memcpy(memo->key, key, AUTH_CACHE_KEY_LEN);
	memo->valid = true;
}

static void empty_locked(struct auth_cache *ac)
{
	if (ac->n_identities)
		memset(ac->identities, 0, IDENTITY_SLOTS * sizeof(*ac->identities));
	if (ac->n_levels)
		memset(ac->levels, 0, LEVEL_SLOTS * sizeof(*ac->levels));
	ac->n_identities = ac->n_levels = 0;
}

int auth_cache_stamp(struct auth_cache *ac, struct meta *m, int64_t known_epoch,
		     struct auth_stamp *st)
{
	/* the local counter first: a change committed after this read moves it again */
	uint64_t local = m->ops->auth_local_changes(m);
	int64_t epoch = known_epoch;
	st->valid = false;
	if (epoch < 0) {
		int ret = m->ops->auth_epoch(m, &epoch);
		if (ret != 0)
			return ret;
	}
	pthread_mutex_lock(&ac->mu);
	if (ac->current.epoch != epoch || ac->current.local != local) {
		empty_locked(ac);
		ac->current.epoch = epoch;
		ac->current.local = local;
	}
	pthread_mutex_unlock(&ac->mu);
	*st = (struct auth_stamp){.epoch = epoch, .local = local, .valid = true};
	return 0;
}

/* Is st the stamp the entries were read under? Under the mutex. */
static bool stamp_current(const struct auth_cache *ac, const struct auth_stamp *st)
{
	return st->valid && st->epoch == ac->current.epoch && st->local == ac->current.local;
}

static size_t identity_slot(const unsigned char key[AUTH_CACHE_KEY_LEN])
{
	size_t h;
	memcpy(&h, key, sizeof(h)); /* a digest: its bytes are as good as any hash */
	return h & (IDENTITY_SLOTS - 1);
}

/* The entry of key, or the free slot where it would go; under the mutex. */
static struct identity_entry *identity_find(struct auth_cache *ac,
					    const unsigned char key[AUTH_CACHE_KEY_LEN])
{
	for (size_t i = identity_slot(key);; i = (i + 1) & (IDENTITY_SLOTS - 1)) {
		struct identity_entry *e = &ac->identities[i];
		if (!e->used || CRYPTO_memcmp(e->key, key, AUTH_CACHE_KEY_LEN) == 0)
			return e;
	}
}

bool auth_cache_identity_get(struct auth_cache *ac, const struct auth_stamp *st,
			     const unsigned char key[AUTH_CACHE_KEY_LEN], int64_t now_ms,
			     struct identity *out)
{
	if (key_unusable(key))
		return false;
	bool hit = false;
	pthread_mutex_lock(&ac->mu);
	if (stamp_current(ac, st)) {
		const struct identity_entry *e = identity_find(ac, key);
		int64_t expires = e->id.token.expires_at_ms;
		if (e->used && (expires == 0 || expires > now_ms)) {
			*out = e->id;
			out->stamp = *st;
			hit = true;
		}
	}
	pthread_mutex_unlock(&ac->mu);
	return hit;
}

void auth_cache_identity_put(struct auth_cache *ac, const struct auth_stamp *st,
			     const unsigned char key[AUTH_CACHE_KEY_LEN], const struct identity *id)
{
	if (key_unusable(key))
		return;
	pthread_mutex_lock(&ac->mu);
	if (stamp_current(ac, st)) { /* read under an older stamp: it may be stale */
		if (ac->n_identities >= IDENTITY_SLOTS * 3 / 4)
			empty_locked(ac);
		struct identity_entry *e = identity_find(ac, key);
		if (!e->used)
			ac->n_identities++;
		e->used = true;
		memcpy(e->key, key, AUTH_CACHE_KEY_LEN);
		e->id = *id;
	}
	pthread_mutex_unlock(&ac->mu);
}

void auth_cache_identity_used(struct auth_cache *ac, const unsigned char key[AUTH_CACHE_KEY_LEN],
			      int64_t now_ms)
{
	if (key_unusable(key))
		return;
	pthread_mutex_lock(&ac->mu);
	struct identity_entry *e = identity_find(ac, key);
	if (e->used)
		e->id.token.last_used_at_ms = now_ms;
	pthread_mutex_unlock(&ac->mu);
}

static struct level_entry *level_find(struct auth_cache *ac, int64_t user_id, int64_t project_id)
{
	uint64_t h = ((uint64_t)user_id * 0x9e3779b97f4a7c15u) ^ (uint64_t)project_id;
	h ^= h >> 29;
	for (size_t i = (size_t)(h * 0xbf58476d1ce4e5b9u >> 40);; i++) {
		struct level_entry *e = &ac->levels[i & (LEVEL_SLOTS - 1)];
		if (!e->used || (e->user_id == user_id && e->project_id == project_id))
			return e;
	}
}

bool auth_cache_level_get(struct auth_cache *ac, const struct auth_stamp *st, int64_t user_id,
			  int64_t project_id, int64_t now_ms, enum access_level *out)
{
	bool hit = false;
	pthread_mutex_lock(&ac->mu);
	if (stamp_current(ac, st)) {
		const struct level_entry *e = level_find(ac, user_id, project_id);
		if (e->used && (e->until_ms == 0 || e->until_ms > now_ms)) {
			*out = e->level;
			hit = true;
		}
	}
	pthread_mutex_unlock(&ac->mu);
	return hit;
}

void auth_cache_level_put(struct auth_cache *ac, const struct auth_stamp *st, int64_t user_id,
			  int64_t project_id, enum access_level level, int64_t until_ms)
{
	pthread_mutex_lock(&ac->mu);
	if (stamp_current(ac, st)) {
		if (ac->n_levels >= LEVEL_SLOTS * 3 / 4)
			empty_locked(ac);
		struct level_entry *e = level_find(ac, user_id, project_id);
		if (!e->used)
			ac->n_levels++;
		*e = (struct level_entry){true, user_id, project_id, level, until_ms};
	}
	pthread_mutex_unlock(&ac->mu);
}
