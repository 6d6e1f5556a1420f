/* The state every handler shares: the two stores and the server's limits. */
#ifndef DEPOT_APP_H
#define DEPOT_APP_H

#include <stdint.h>

#include "audit.h"
#include "auth_cache.h"
#include "blob.h"
#include "blobcache.h"
#include "commit.h"
#include "ratelimit.h"
#include "meta.h"
#include "metrics.h"
#include "touch.h"

struct reply_cache;

struct app {
	struct meta *meta;
	struct blob_store *blobs;
	struct touch_log *touches; /* download times waiting to be written */
	struct blob_cache *hot;	   /* small blobs served from memory */
	struct reply_cache *replies; /* hot small files' whole 200s, by file id; NULL: none */
	struct committer *commits; /* group commit of small uploads; NULL: commit each alone */
	struct ratelimit *auth_failures;
	struct audit_queue *audit;
	struct metrics *metrics; /* GET /-/metrics; NULL: none counted */
	struct auth_cache *auth_cache; /* identities and levels between requests; NULL: none */
	uint64_t max_file_size; /* 0: unlimited */
	int64_t blobs_redirect_s; /* > 0: downloads from object storage redirect there */
	/* The web sessions' key (WEB_SESSION_KEY_LEN bytes); NULL: no signing in. */
	const unsigned char *session_key;
};

#endif
