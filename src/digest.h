/* MD5, SHA-1 and SHA-256 of one stream, computed together (OpenSSL EVP). */
#ifndef DEPOT_DIGEST_H
#define DEPOT_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

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
/* The same, with MD5 (the slowest of the three) computed on a helper thread, started on
 * first use, while this thread does SHA-1 and SHA-256. data must stay unchanged until the
 * next digest3_update_async, digest3_wait or digest3_final. */
void digest3_update_async(struct digest3 *d, const void *data, size_t len);
/* Waits until the helper is done with the last data handed to it. */
void digest3_wait(struct digest3 *d);
/* Writes the three lowercase hex digests; the context may not be updated afterwards. */
int digest3_final(struct digest3 *d, struct digest_hex *out);
void digest3_free(struct digest3 *d);

/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void hex_encode(const unsigned char *in, size_t len, char *out);
/* SHA-256 of a buffer, raw 32 bytes. */
void sha256_raw(const void *data, size_t len, unsigned char out[32]);

#endif
