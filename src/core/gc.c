/* Garbage collection (see gc.h). Every removal of a blob happens under the metadata
 * store's write lock, which uploads also hold while they make a blob visible and record
 * it, so a blob is never removed between an upload's link and its row. */
#include "gc.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct gc_ctx {
	struct meta *m;
	struct blob_store *bs;
	const char *key;
	int64_t staging_age_s;
	int64_t orphans;
	int failed; /* the first blob that could not be removed: said at the end */
};

/* A blob that cannot be removed is said and skipped; it must not hold back the rest. */
static int said(struct gc_ctx *g, const char *what, int ret)
{
	if (ret != 0) {
		log_line("depot: gc cannot remove blob %s: %s", what, strerror(-ret));
		g->failed = g->failed ? g->failed : ret;
	}
	return ret;
}

/* The sweep's: the content of deleted files (with its mapping to a key, if any). */
static int remove_content(void *ctx, const char *sha256)
{
	struct gc_ctx *g = ctx;
	return said(g, sha256, blob_remove_content(g->m, g->bs, sha256));
}

static int remove_if_orphan(struct meta *m, void *ctx)
{
	struct gc_ctx *g = ctx;
	bool referenced = true;
	int ret = blob_key_needed(m, g->bs, g->key, &referenced);
	if (ret != 0 || referenced)
		return ret;
	ret = g->bs->ops->remove(g->bs, g->key);
	if (said(g, g->key, ret == -ENOENT ? 0 : ret) == 0)
		g->orphans++;
	return 0; /* a failure was said; the walk goes on */
}

/* Most blobs are referenced: a plain read settles those, and only candidates are checked
 * again under the write lock, where an upload cannot slip in between check and removal. */
static int check_orphan(void *ctx, const char *key, int64_t written_s)
{
	struct gc_ctx *g = ctx;
	bool referenced = false;
	/* With per-upload keys an unmapped object may be an upload about to commit. */
	if (written_s && (int64_t)time(NULL) - written_s < g->staging_age_s)
		return 0;
	int ret = blob_key_needed(g->m, g->bs, key, &referenced);
	if (ret != 0 || referenced)
		return ret;
	g->key = key;
	return g->m->ops->locked(g->m, remove_if_orphan, g);
}

int gc_run(struct meta *m, struct blob_store *bs, int64_t staging_age_s, struct gc_stats *out)
{
	struct gc_ctx g = {.m = m, .bs = bs, .staging_age_s = staging_age_s};
	*out = (struct gc_stats){0};
	/* Each step runs whatever the one before met: the first error is returned. */
	int ret = m->ops->sweep_pending(m, remove_content, &g, &out->swept);
	int next = bs->ops->list(bs, check_orphan, &g);
	ret = ret ? ret : next;
	out->orphans = g.orphans;
	next = bs->ops->clean_staging(bs, staging_age_s, false, &out->staged);
	ret = ret ? ret : next;
	ret = ret ? ret : g.failed;
	if (out->swept || out->orphans || out->staged)
		log_line("depot: gc removed %lld blob(s) of deleted files, %lld orphan blob(s), "
			 "%lld staged upload(s)",
			 (long long)out->swept, (long long)out->orphans, (long long)out->staged);
	return ret;
}
