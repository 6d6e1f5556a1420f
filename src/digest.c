/* Streaming triple digest over OpenSSL's EVP interface. */
#include "digest.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct digest3 {
	EVP_MD_CTX *md5, *sha1, *sha256, *sha512;
	/* the MD5 helper, when started */
	bool helper;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	const void *job;
	size_t job_len;
	bool busy, quit;
};

static void *md5_helper(void *arg)
{
	struct digest3 *d = arg;
	pthread_mutex_lock(&d->lock);
	for (;;) {
		while (!d->busy && !d->quit)
			pthread_cond_wait(&d->cond, &d->lock);
		if (!d->busy)
			break;
		const void *job = d->job;
		size_t len = d->job_len;
		pthread_mutex_unlock(&d->lock);
		EVP_DigestUpdate(d->md5, job, len);
		pthread_mutex_lock(&d->lock);
		d->busy = false;
		pthread_cond_broadcast(&d->cond);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

void digest3_wait(struct digest3 *d)
{
	if (!d->helper)
		return;
	pthread_mutex_lock(&d->lock);
	while (d->busy)
		pthread_cond_wait(&d->cond, &d->lock);
	pthread_mutex_unlock(&d->lock);
}

void digest3_update_async(struct digest3 *d, const void *data, size_t len)
{
	if (!d->helper) {
		pthread_mutex_init(&d->lock, NULL);
		pthread_cond_init(&d->cond, NULL);
		d->helper = pthread_create(&d->thread, NULL, md5_helper, d) == 0;
		if (!d->helper) { /* no thread: do it all here */
			pthread_mutex_destroy(&d->lock);
			pthread_cond_destroy(&d->cond);
			digest3_update(d, data, len);
			return;
		}
	}
	pthread_mutex_lock(&d->lock);
	while (d->busy)
		pthread_cond_wait(&d->cond, &d->lock);
	d->job = data;
	d->job_len = len;
	d->busy = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	EVP_DigestUpdate(d->sha1, data, len);
	EVP_DigestUpdate(d->sha256, data, len);
	if (d->sha512)
		EVP_DigestUpdate(d->sha512, data, len);
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
	if (d->helper) {
		pthread_mutex_lock(&d->lock);
		while (d->busy)
			pthread_cond_wait(&d->cond, &d->lock);
		d->quit = true;
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->thread, NULL);
		pthread_mutex_destroy(&d->lock);
		pthread_cond_destroy(&d->cond);
	}
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
	digest3_wait(d);
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
