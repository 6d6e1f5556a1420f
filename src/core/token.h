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

/* GitLab's scope names as bits (stored as a mask). Only api, read_api and the package
 * registry scopes grant anything in depot; the others are kept so that GitLab clients can
 * ask for them (a token with read_repository alone can do nothing here, as on a GitLab
 * whose repositories it cannot reach). GitLab's admin scopes (sudo, admin_mode,
 * read_service_ping) are unknown: depot has no sudo. */
enum token_scope {
	SCOPE_API = 1,
	SCOPE_READ_API = 2,
	SCOPE_READ_PACKAGE_REGISTRY = 4,
	SCOPE_WRITE_PACKAGE_REGISTRY = 8,
	SCOPE_READ_USER = 1u << 4,
	SCOPE_CREATE_RUNNER = 1u << 5,
	SCOPE_MANAGE_RUNNER = 1u << 6,
	SCOPE_K8S_PROXY = 1u << 7,
	SCOPE_SELF_ROTATE = 1u << 8,
	SCOPE_READ_REPOSITORY = 1u << 9,
	SCOPE_WRITE_REPOSITORY = 1u << 10,
	SCOPE_READ_REGISTRY = 1u << 11,
	SCOPE_WRITE_REGISTRY = 1u << 12,
	SCOPE_READ_VIRTUAL_REGISTRY = 1u << 13,
	SCOPE_WRITE_VIRTUAL_REGISTRY = 1u << 14,
	SCOPE_AI_FEATURES = 1u << 15,
	SCOPE_READ_OBSERVABILITY = 1u << 16,
	SCOPE_WRITE_OBSERVABILITY = 1u << 17,
};

/* The scopes each kind of token may be given (GitLab's lists). */
#define SCOPES_DEPLOY                                                                      \
	(SCOPE_READ_REPOSITORY | SCOPE_READ_REGISTRY | SCOPE_WRITE_REGISTRY |               \
	 SCOPE_READ_PACKAGE_REGISTRY | SCOPE_WRITE_PACKAGE_REGISTRY |                        \
	 SCOPE_READ_VIRTUAL_REGISTRY | SCOPE_WRITE_VIRTUAL_REGISTRY)
#define SCOPES_PERSONAL                                                                    \
	(SCOPE_API | SCOPE_READ_API | SCOPE_READ_USER | SCOPE_CREATE_RUNNER |               \
	 SCOPE_MANAGE_RUNNER | SCOPE_K8S_PROXY | SCOPE_SELF_ROTATE | SCOPE_READ_REPOSITORY | \
	 SCOPE_WRITE_REPOSITORY | SCOPE_READ_REGISTRY | SCOPE_WRITE_REGISTRY |               \
	 SCOPE_READ_VIRTUAL_REGISTRY | SCOPE_WRITE_VIRTUAL_REGISTRY | SCOPE_AI_FEATURES |     \
	 SCOPE_READ_OBSERVABILITY | SCOPE_WRITE_OBSERVABILITY)
/* project access tokens' bots: a personal token's scopes but read_user */
#define SCOPES_PROJECT (SCOPES_PERSONAL & ~SCOPE_READ_USER)

/* The bit of one scope name (n bytes of name); 0 for an unknown one. */
unsigned scope_bit(const char *name, size_t n);
/* The names of mask's bits in GitLab's fixed order (a deploy token's read_repository,
 * read_registry, write_registry, read_package_registry, ... among them) into names (cap
 * entries); returns how many. */
size_t scopes_names(unsigned mask, const char **names, size_t cap);
#define SCOPES_MAX 18

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
