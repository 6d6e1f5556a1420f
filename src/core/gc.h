/* Garbage collection of stored content: blobs that only deleted (pending destruction) rows
 * still name, blobs no row names at all (left by a crash between linking and committing),
 * and staged uploads a crash left behind. Run by `depot gc` and periodically by the server. */
#ifndef DEPOT_GC_H
#define DEPOT_GC_H

#include <stdint.h>

#include "blob.h"
#include "meta.h"

struct gc_stats {
	int64_t swept;	 /* blobs of deleted files */
	int64_t orphans; /* blobs no row names */
	int64_t staged;	 /* stale staged uploads */
};

/* staging_age_s: staged uploads at least this old are removed (never one still being
 * written); with per-upload keys (S3), also the age an unmapped object must have to be
 * an orphan rather than an upload about to commit. A blob that cannot be removed is logged and skipped, its rows kept for the
 * next run; everything else is done, and the first error returned. */
int gc_run(struct meta *m, struct blob_store *bs, int64_t staging_age_s, struct gc_stats *out);

#endif
