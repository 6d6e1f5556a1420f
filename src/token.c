/* Token secrets (see token.h). */
#include "token.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "digest.h"

#include <stdbool.h>

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
	{"api", SCOPE_API},
	{"read_api", SCOPE_READ_API},
	{"read_package_registry", SCOPE_READ_PACKAGE_REGISTRY},
	{"write_package_registry", SCOPE_WRITE_PACKAGE_REGISTRY},
};

int scopes_parse(const char *list, unsigned *out)
{
	unsigned mask = 0;
	const char *p = list;
	while (*p) {
		size_t n = strcspn(p, ", ");
		bool found = false;
		for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++)
			if (strlen(scope_names[i].name) == n && strncmp(p, scope_names[i].name, n) == 0) {
				mask |= scope_names[i].bit;
				found = true;
			}
		if (!found && n > 0)
			return -1;
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
	for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++)
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
