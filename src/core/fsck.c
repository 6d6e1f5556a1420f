/* fsck (see fsck.h). Orphans are removed under the metadata store's write lock, as the
 * gc does, so a concurrent upload of the same content is never robbed of its blob. */
#include "fsck.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest.h"

struct fsck {
	struct meta *m;
	struct blob_store *bs;
	bool repair;
	int64_t min_age_s;
	void (*report)(void *ctx, const char *line);
	void *ctx;
	struct fsck_result *out;
	const char *key;
	bool removed;
};

/* One reported problem: "<what> <key>", with the file id when there is one. */
static void problem(struct fsck *f, bool fixed, const char *what, const char *key, long long id)
{
	char line[512];
	if (id)
		snprintf(line, sizeof(line), "%s %s of package_file %lld", what, key, id);
	else
		snprintf(line, sizeof(line), "%s %s", what, key);
	if (fixed)
		strncat(line, " (removed)", sizeof(line) - strlen(line) - 1);
	f->out->problems++;
	f->out->fixed += fixed;
	f->report(f->ctx, line);
}

/* SHA-256 of the blob's bytes; -1 on a short read. */
static int hash_blob(struct blob_reader *br, char hex[SHA256_HEX_LEN + 1])
{
	uint64_t size = br->size;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *buf = malloc(1 << 20);
	int ret = ctx && buf && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ? 0 : -1;
	for (uint64_t off = 0; ret == 0 && off < size;) {
		ssize_t n = blob_reader_read(br, off, buf, 1 << 20);
		if (n <= 0)
			ret = -1;
		else {
			EVP_DigestUpdate(ctx, buf, (size_t)n);
			off += (uint64_t)n;
		}
	}
	unsigned char md[32];
	unsigned int mdlen;
	if (ret == 0 && EVP_DigestFinal_ex(ctx, md, &mdlen))
		hex_encode(md, 32, hex);
	EVP_MD_CTX_free(ctx);
	free(buf);
	return ret;
}

static int check_live(void *ctx, const char *sha, int64_t size, int64_t file_id)
{
	struct fsck *f = ctx;
	char hex[SHA256_HEX_LEN + 1] = "";
	char *data;
	size_t len;
	f->out->checked++;
	if (f->m->ops->inline_blob_get(f->m, sha, &data, &len) == 0) {
		unsigned char md[32];
		sha256_raw(data, len, md);
		hex_encode(md, 32, hex);
		free(data);
		if ((int64_t)len != size || strcmp(hex, sha) != 0)
			problem(f, false, "corrupt content", sha, file_id);
		return 0;
	}
	struct blob_reader br;
	char key[BLOB_KEY_MAX + 1];
	if (blob_key_of(f->m, f->bs, sha, key) != 0 || f->bs->ops->open(f->bs, key, &br) != 0) {
		problem(f, false, "missing content", sha, file_id);
		return 0;
	}
	if ((int64_t)br.size != size || hash_blob(&br, hex) != 0 || strcmp(hex, sha) != 0)
		problem(f, false, "corrupt content", sha, file_id);
	blob_reader_close(&br);
	return 0;
}

static int remove_if_orphan(struct meta *m, void *ctx)
{
	struct fsck *f = ctx;
	bool referenced = true;
	int ret = blob_key_needed(m, f->bs, f->key, &referenced);
	f->removed = false;
	if (ret == 0 && !referenced) {
		f->removed = !f->repair || f->bs->ops->remove(f->bs, f->key) == 0;
		if (f->removed)
			problem(f, f->repair, "orphan blob", f->key, 0);
	}
	return ret;
}

static int check_blob(void *ctx, const char *key, int64_t written_s)
{
	struct fsck *f = ctx;
	bool referenced = false;
	if (written_s && (int64_t)time(NULL) - written_s < f->min_age_s)
		return 0; /* as gc.c: perhaps an upload about to commit */
	int ret =
	    blob_key_needed(f->m, f->bs, key, &referenced); /* as gc.c: lock only candidates */
	if (ret != 0 || referenced)
		return ret;
	f->key = key;
	return f->m->ops->locked(f->m, remove_if_orphan, f);
}

static int inline_orphan(void *ctx, const char *sha)
{
	problem(ctx, ((struct fsck *)ctx)->repair, "orphan inline content", sha, 0);
	return 0;
}

int fsck_run(struct meta *m, struct blob_store *bs, bool repair, int64_t min_age_s,
	     void (*report)(void *ctx, const char *line), void *ctx, struct fsck_result *out)
{
	struct fsck f = {m, bs, repair, min_age_s, report, ctx, out, NULL, false};
	*out = (struct fsck_result){0};
	int ret = m->ops->live_contents(m, check_live, &f);
	if (ret == 0)
		ret = bs->ops->list(bs, check_blob, &f);
	if (ret == 0)
		ret = m->ops->inline_orphans(m, repair, inline_orphan, &f);
	int64_t staged = 0;
	if (ret == 0)
		ret = bs->ops->clean_staging(bs, min_age_s, !repair, &staged);
	if (ret == 0 && staged) {
		char line[96];
		snprintf(line, sizeof(line), "%lld staged upload(s) left over%s", (long long)staged,
			 repair ? " (removed)" : "");
		out->problems += staged;
		out->fixed += repair ? staged : 0;
		report(ctx, line);
	}
	return ret;
}
