/* Consistency check of a data directory: every live file has its content with the recorded
 * size and SHA-256; no content is orphaned; no staged upload is left over. With repair,
 * what can be fixed without losing a committed file is fixed (orphans and leftovers
 * removed); a live file whose content is missing or corrupt is only reported. */
#ifndef DEPOT_FSCK_H
#define DEPOT_FSCK_H

#include <stdbool.h>
#include <stdint.h>

#include "blob.h"
#include "meta.h"

struct fsck_result {
	int64_t checked;  /* live files */
	int64_t problems; /* found */
	int64_t fixed;	  /* of which repaired */
};

/* report gets one line per problem. Returns 0 or a negative errno (a failed check).
 * min_age_s: staged uploads, and with per-upload keys unmapped objects, younger than this
 * are not problems (they may be uploads under way). */
int fsck_run(struct meta *m, struct blob_store *bs, bool repair, int64_t min_age_s,
	     void (*report)(void *ctx, const char *line), void *ctx, struct fsck_result *out);

#endif
