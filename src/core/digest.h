/* MD5, SHA-1 and SHA-256 of one stream, computed together (OpenSSL EVP). */
#ifndef DEPOT_DIGEST_H
#define DEPOT_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MD5_HEX_LEN 32
#define SHA1_HEX_LEN 40
#define SHA256_HEX_LEN 64
#define SHA512_HEX_LEN 128

struct digest_hex {
	char md5[MD5_HEX_LEN + 1];
	char sha1[SHA1_HEX_LEN + 1];
	char sha256[SHA256_HEX_LEN + 1];
	char sha512[SHA512_HEX_LEN + 1]; /* empty unless asked for */
};

struct digest3;

/* Returns NULL when out of memory. digest3_free accepts NULL. With_sha512 adds SHA-512,
 * for clients that send a sha-512 Content-Digest to be checked. */
struct digest3 *digest3_new(bool with_sha512);
void digest3_update(struct digest3 *d, const void *data, size_t len);
/* Large streams: the pieces are hashed on two helper threads, started on first use, MD5
 * (the slowest) on one and SHA-1, SHA-256 (and SHA-512) on the other, so the caller's thread
 * is free to receive and write meanwhile. Queues data and returns its piece number; waits
 * only when DIGEST3_QUEUE pieces are queued already. data must stay unchanged until
 * digest3_wait_for that number (or digest3_final, digest3_free) has returned. Not to be
 * mixed with digest3_update on the same context. */
#define DIGEST3_QUEUE 8
uint64_t digest3_update_async(struct digest3 *d, const void *data, size_t len);
/* Waits until both helpers are done with piece seq and every piece before it (0: none). */
void digest3_wait_for(struct digest3 *d, uint64_t seq);
/* Writes the three lowercase hex digests; the context may not be updated afterwards. */
int digest3_final(struct digest3 *d, struct digest_hex *out);
void digest3_free(struct digest3 *d);

/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void hex_encode(const unsigned char *in, size_t len, char *out);
/* SHA-256 of a buffer, raw 32 bytes. */
void sha256_raw(const void *data, size_t len, unsigned char out[32]);

#endif
