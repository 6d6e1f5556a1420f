/* depot migrate-store: copies a single-machine registry (its SQLite metadata store and its
 * local blob store) into a PostgreSQL metadata store and an object-storage blob store,
 * keeping every id, token hash, policy and timestamp. Resumable and idempotent: what the
 * target holds already is checked to equal the source and skipped. */
#ifndef DEPOT_MIGRATE_STORE_H
#define DEPOT_MIGRATE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "blob.h"
#include "meta.h"

struct migrate_stats {
	int64_t rows_copied, rows_present;   /* metadata rows, over every table */
	int64_t files_copied, files_present; /* contents in the blob store */
	int64_t files_missing;		     /* of files pending destruction only, already gone */
	uint64_t bytes_copied;
};

/* Copies src (an SQL store, SQLite) and src_blobs into dst (an SQL store, PostgreSQL, at
 * the same schema version) and dst_blobs: first checks that every row dst holds equals
 * the source's row with the same key, and that an empty dst comes with an empty
 * dst_blobs (anything else is refused before anything is written), then copies the
 * missing rows table by table, then every content no row holds inline, verifying its
 * SHA-256 on the way, then advances dst's id sequences past every id src handed out.
 * Progress lines go to progress. Returns 0 or a negative errno with msg (cap bytes) saying
 * what stopped it. */
int migrate_store_run(struct meta *src, struct blob_store *src_blobs, const char *src_dir,
		      struct meta *dst, struct blob_store *dst_blobs, FILE *progress,
		      struct migrate_stats *st, char *msg, size_t cap);

#endif
