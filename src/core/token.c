/* Token secrets (see token.h). */
#include "token.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "digest.h"

static const char *const kind_names[] = {"personal", "project", "deploy", "job"};
static const char *const kind_prefix[] = {"glpat-", "glpat-", "gldt-", "glcbt-"};

const char *token_kind_name(enum token_kind kind)
{
	return kind_names[kind];
}

int token_kind_parse(const char *name, enum token_kind *out)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, kind_names[i]) == 0) {
			*out = (enum token_kind)i;
			return 0;
		}
	return -1;
}

int token_generate(enum token_kind kind, char out[TOKEN_SECRET_MAX + 1])
{
	unsigned char raw[30];
	unsigned char b64[41];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	EVP_EncodeBlock(b64, raw, sizeof(raw)); /* 30 bytes -> 40 chars, no padding */
	for (int i = 0; i < 40; i++) {
		if (b64[i] == '+')
			b64[i] = '-';
		else if (b64[i] == '/')
			b64[i] = '_';
	}
	b64[40] = '\0';
	snprintf(out, TOKEN_SECRET_MAX + 1, "%s%s", kind_prefix[kind], (const char *)b64);
	return 0;
}

static const struct {
	const char *name;
	unsigned bit;
} scope_names[] = {
	/* the order of answers: GitLab's deploy token order holds among its scopes */
	{"api", SCOPE_API},
	{"read_api", SCOPE_READ_API},
	{"read_user", SCOPE_READ_USER},
	{"create_runner", SCOPE_CREATE_RUNNER},
	{"manage_runner", SCOPE_MANAGE_RUNNER},
	{"k8s_proxy", SCOPE_K8S_PROXY},
	{"self_rotate", SCOPE_SELF_ROTATE},
	{"read_repository", SCOPE_READ_REPOSITORY},
	{"write_repository", SCOPE_WRITE_REPOSITORY},
	{"read_registry", SCOPE_READ_REGISTRY},
	{"write_registry", SCOPE_WRITE_REGISTRY},
	{"read_package_registry", SCOPE_READ_PACKAGE_REGISTRY},
	{"write_package_registry", SCOPE_WRITE_PACKAGE_REGISTRY},
	{"read_virtual_registry", SCOPE_READ_VIRTUAL_REGISTRY},
	{"write_virtual_registry", SCOPE_WRITE_VIRTUAL_REGISTRY},
	{"ai_features", SCOPE_AI_FEATURES},
	{"read_observability", SCOPE_READ_OBSERVABILITY},
	{"write_observability", SCOPE_WRITE_OBSERVABILITY},
};
#define N_SCOPES (sizeof(scope_names) / sizeof(scope_names[0]))
_Static_assert(N_SCOPES == SCOPES_MAX, "SCOPES_MAX counts them");

unsigned scope_bit(const char *name, size_t n)
{
	for (size_t i = 0; i < N_SCOPES; i++)
		if (strlen(scope_names[i].name) == n && strncmp(name, scope_names[i].name, n) == 0)
			return scope_names[i].bit;
	return 0;
}

size_t scopes_names(unsigned mask, const char **names, size_t cap)
{
	size_t k = 0;
	for (size_t i = 0; i < N_SCOPES && k < cap; i++)
		if (mask & scope_names[i].bit)
			names[k++] = scope_names[i].name;
	return k;
}

int scopes_parse(const char *list, unsigned *out)
{
	unsigned mask = 0;
	const char *p = list;
	while (*p) {
		size_t n = strcspn(p, ", ");
		unsigned bit = scope_bit(p, n);
		if (!bit && n > 0)
			return -1;
		mask |= bit;
		p += n;
		p += strspn(p, ", ");
	}
	if (mask == 0)
		return -1;
	*out = mask;
	return 0;
}

void scopes_format(unsigned mask, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < N_SCOPES; i++)
		if (mask & scope_names[i].bit) {
			int n = snprintf(out + o, cap - o, "%s%s", o ? "," : "", scope_names[i].name);
			if (n < 0 || (size_t)n >= cap - o)
				return;
			o += (size_t)n;
		}
}

void token_hash_hex(const char *secret, size_t len, char out[TOKEN_HASH_HEX_LEN + 1])
{
	unsigned char h[32];
	sha256_raw(secret, len, h);
	hex_encode(h, sizeof(h), out);
}
