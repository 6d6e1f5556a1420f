/* Streaming triple digest over OpenSSL's EVP interface. */
#include "digest.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

/* The helper threads of digest3_update_async: lane 0 hashes MD5, lane 1 the others. MD5
 * costs about as much as SHA-1 and SHA-256 together (with SHA-NI), so the two are even. */
enum { LANE_MD5, LANE_SHA, LANES };

struct lane {
	struct digest3 *d;
	int i;
};

struct digest3 {
	EVP_MD_CTX *md5, *sha1, *sha256, *sha512;
	/* the helpers, when started */
	bool helpers;
	pthread_t thread[LANES];
	struct lane lane[LANES];
	pthread_mutex_t lock;
	pthread_cond_t more;  /* a piece was queued, or quit was set: helpers wait on it */
	pthread_cond_t freed; /* a helper finished a piece: the caller waits on it */
	struct {
		const void *data;
		size_t len;
	} queue[DIGEST3_QUEUE];	/* piece n is queue[(n - 1) % DIGEST3_QUEUE] */
	uint64_t queued;	/* pieces handed over */
	uint64_t done[LANES];	/* pieces each lane has hashed */
	bool quit;
};

static void lane_update(struct digest3 *d, int lane, const void *data, size_t len)
{
	if (lane == LANE_MD5) {
		EVP_DigestUpdate(d->md5, data, len);
		return;
	}
	EVP_DigestUpdate(d->sha1, data, len);
	EVP_DigestUpdate(d->sha256, data, len);
	if (d->sha512)
		EVP_DigestUpdate(d->sha512, data, len);
}

static void *lane_main(void *arg)
{
	const struct lane *l = arg;
	struct digest3 *d = l->d;
	pthread_setname_np(pthread_self(), l->i == LANE_MD5 ? "hash-md5" : "hash-sha"); /* for top */
	pthread_mutex_lock(&d->lock);
	for (;;) {
		while (d->done[l->i] == d->queued && !d->quit)
			pthread_cond_wait(&d->more, &d->lock);
		if (d->done[l->i] == d->queued)
			break; /* quit, and nothing left */
		const void *data = d->queue[d->done[l->i] % DIGEST3_QUEUE].data;
		size_t len = d->queue[d->done[l->i] % DIGEST3_QUEUE].len;
		pthread_mutex_unlock(&d->lock);
		lane_update(d, l->i, data, len);
		pthread_mutex_lock(&d->lock);
		d->done[l->i]++;
		pthread_cond_broadcast(&d->freed);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* Pieces both lanes have finished; under the lock. */
static uint64_t done_both(const struct digest3 *d)
{
	return d->done[0] < d->done[1] ? d->done[0] : d->done[1];
}

/* Stops and joins the helpers once they have hashed everything queued. */
static void helpers_stop(struct digest3 *d, int started)
{
	pthread_mutex_lock(&d->lock);
	d->quit = true;
	pthread_cond_broadcast(&d->more);
	pthread_mutex_unlock(&d->lock);
	for (int i = 0; i < started; i++)
		pthread_join(d->thread[i], NULL);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->more);
	pthread_cond_destroy(&d->freed);
	d->helpers = false;
}

static bool helpers_start(struct digest3 *d)
{
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->more, NULL);
	pthread_cond_init(&d->freed, NULL);
	d->helpers = true;
	for (int i = 0; i < LANES; i++) {
		d->lane[i] = (struct lane){d, i};
		if (pthread_create(&d->thread[i], NULL, lane_main, &d->lane[i]) != 0) {
			helpers_stop(d, i);
			return false;
		}
	}
	return true;
}

void digest3_wait_for(struct digest3 *d, uint64_t seq)
{
	if (!d->helpers)
		return;
	pthread_mutex_lock(&d->lock);
	while (done_both(d) < seq)
		pthread_cond_wait(&d->freed, &d->lock);
	pthread_mutex_unlock(&d->lock);
}

uint64_t digest3_update_async(struct digest3 *d, const void *data, size_t len)
{
	if (!d->helpers && (d->quit || !helpers_start(d))) {
		d->quit = true; /* no threads: everything here, in order */
		digest3_update(d, data, len);
		return 0;
	}
	pthread_mutex_lock(&d->lock);
	while (d->queued - done_both(d) >= DIGEST3_QUEUE)
		pthread_cond_wait(&d->freed, &d->lock);
	d->queue[d->queued % DIGEST3_QUEUE].data = data;
	d->queue[d->queued % DIGEST3_QUEUE].len = len;
	uint64_t seq = ++d->queued;
	pthread_cond_broadcast(&d->more);
	pthread_mutex_unlock(&d->lock);
	return seq;
}

void hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * len] = '\0';
}

void digest3_free(struct digest3 *d)
{
	if (!d)
		return;
	if (d->helpers)
		helpers_stop(d, LANES);
	EVP_MD_CTX_free(d->md5);
	EVP_MD_CTX_free(d->sha1);
	EVP_MD_CTX_free(d->sha256);
	EVP_MD_CTX_free(d->sha512);
	free(d);
}

struct digest3 *digest3_new(bool with_sha512)
{
	struct digest3 *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->md5 = EVP_MD_CTX_new();
	d->sha1 = EVP_MD_CTX_new();
	d->sha256 = EVP_MD_CTX_new();
	if (!d->md5 || !d->sha1 || !d->sha256 || !EVP_DigestInit_ex(d->md5, EVP_md5(), NULL) ||
	    !EVP_DigestInit_ex(d->sha1, EVP_sha1(), NULL) ||
	    !EVP_DigestInit_ex(d->sha256, EVP_sha256(), NULL)) {
		digest3_free(d);
		return NULL;
	}
	if (with_sha512 && (!(d->sha512 = EVP_MD_CTX_new()) ||
			    !EVP_DigestInit_ex(d->sha512, EVP_sha512(), NULL))) {
		digest3_free(d);
		return NULL;
	}
	return d;
}

void digest3_update(struct digest3 *d, const void *data, size_t len)
{
	EVP_DigestUpdate(d->md5, data, len);
	EVP_DigestUpdate(d->sha1, data, len);
	EVP_DigestUpdate(d->sha256, data, len);
	if (d->sha512)
		EVP_DigestUpdate(d->sha512, data, len);
}

int digest3_final(struct digest3 *d, struct digest_hex *out)
{
	unsigned char buf[EVP_MAX_MD_SIZE];
	unsigned int n;
	if (d->helpers)
		digest3_wait_for(d, d->queued);
	if (!EVP_DigestFinal_ex(d->md5, buf, &n))
		return -1;
	hex_encode(buf, n, out->md5);
	if (!EVP_DigestFinal_ex(d->sha1, buf, &n))
		return -1;
	hex_encode(buf, n, out->sha1);
	if (!EVP_DigestFinal_ex(d->sha256, buf, &n))
		return -1;
	hex_encode(buf, n, out->sha256);
	out->sha512[0] = '\0';
	if (d->sha512) {
		if (!EVP_DigestFinal_ex(d->sha512, buf, &n))
			return -1;
		hex_encode(buf, n, out->sha512);
	}
	return 0;
}

void sha256_raw(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 32;
	EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}
