/* Garbage collection (see gc.h). Every removal of a blob happens under the metadata
 * store's write lock, which uploads also hold while they make a blob visible and record
 * it, so a blob is never removed between an upload's link and its row. */
#include "gc.h"

#include <errno.h>
#include <string.h>

#include "log.h"

struct gc_ctx {
	struct meta *m;
	struct blob_store *bs;
	const char *key;
	int64_t orphans;
	int failed; /* the first blob that could not be removed: said at the end */
};

/* A blob that cannot be removed is said and skipped; it must not hold back the rest. */
static int remove_blob(void *ctx, const char *sha256)
{
	struct gc_ctx *g = ctx;
	int ret = g->bs->ops->remove(g->bs, sha256);
	if (ret == -ENOENT)
		return 0;
	if (ret != 0) {
		log_line("depot: gc cannot remove blob %s: %s", sha256, strerror(-ret));
		g->failed = g->failed ? g->failed : ret;
	}
	return ret;
}

static int remove_if_orphan(struct meta *m, void *ctx)
{
	struct gc_ctx *g = ctx;
	bool referenced = true;
	int ret = m->ops->blob_referenced(m, g->key, &referenced);
	if (ret != 0 || referenced)
		return ret;
	if (remove_blob(g, g->key) == 0)
		g->orphans++;
	return 0; /* a failure was said; the walk goes on */
}

/* Most blobs are referenced: a plain read settles those, and only candidates are checked
 * again under the write lock, where an upload cannot slip in between check and removal. */
static int check_orphan(void *ctx, const char *key)
{
	struct gc_ctx *g = ctx;
	bool referenced = false;
	int ret = g->m->ops->blob_referenced(g->m, key, &referenced);
	if (ret != 0 || referenced)
		return ret;
	g->key = key;
	return g->m->ops->locked(g->m, remove_if_orphan, g);
}

int gc_run(struct meta *m, struct blob_store *bs, int64_t staging_age_s, struct gc_stats *out)
{
	struct gc_ctx g = {.m = m, .bs = bs};
	*out = (struct gc_stats){0};
	/* Each step runs whatever the one before met: the first error is returned. */
	int ret = m->ops->sweep_pending(m, remove_blob, &g, &out->swept);
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
