/* Token secrets: generation with a GitLab-style kind prefix (so secret scanners know
 * them), and the SHA-256 under which they are stored. The secret itself is never stored. */
#ifndef DEPOT_TOKEN_H
#define DEPOT_TOKEN_H

#include <stddef.h>

enum token_kind { TOKEN_PERSONAL, TOKEN_PROJECT, TOKEN_DEPLOY, TOKEN_JOB };

#define TOKEN_SECRET_MAX 64
#define TOKEN_HASH_HEX_LEN 64
/* Longer presented tokens are refused before hashing (GitLab: 8192 for job tokens). */
#define TOKEN_PRESENTED_MAX 8192

enum token_scope {
	SCOPE_API = 1,
	SCOPE_READ_API = 2,
	SCOPE_READ_PACKAGE_REGISTRY = 4,
	SCOPE_WRITE_PACKAGE_REGISTRY = 8,
};

/* "api,read_api" -> bit mask; returns -1 for an unknown scope or an empty list. */
int scopes_parse(const char *list, unsigned *out);
/* Comma-separated names of the bits in mask. */
void scopes_format(unsigned mask, char *out, size_t cap);

const char *token_kind_name(enum token_kind kind);
int token_kind_parse(const char *name, enum token_kind *out);

/* Writes a new random secret "<prefix><40 url-safe chars>" into out. Returns 0 or -1. */
int token_generate(enum token_kind kind, char out[TOKEN_SECRET_MAX + 1]);
/* Hex SHA-256 of a presented secret. */
void token_hash_hex(const char *secret, size_t len, char out[TOKEN_HASH_HEX_LEN + 1]);

#endif
