/* The blob store interface: content-addressed file bodies, keyed by lowercase hex SHA-256.
 * A backend (blob_fs.c; S3 later) fills a struct blob_ops. Writes go to a private staging
 * object and become visible under their key only at commit, after they are durable, so an
 * aborted or crashed upload leaves no blob behind.
 *
 * Functions return 0 or a negative errno (-ENOSPC, -EIO, -ENOENT, ...). */
#ifndef DEPOT_BLOB_H
#define DEPOT_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blob_store;
struct blob_writer;

/* An open blob for reading: served with sendfile when fd >= 0. Released by blob_reader_close. */
struct blob_reader {
	int fd;
	uint64_t size;
};

struct blob_ops {
	void (*close)(struct blob_store *bs);
	/* Can the store take and serve content now? For readiness probes. */
	int (*ping)(struct blob_store *bs);
	/* Starts a staged write; *out is owned by the caller until commit or abort. */
	int (*writer_new)(struct blob_store *bs, struct blob_writer **out);
	int (*write)(struct blob_writer *w, const void *data, size_t len);
	/* Makes the staged bytes durable (the slow part: call it outside any lock). */
	int (*sync)(struct blob_writer *w);
	/* Makes the synced bytes visible under key and frees w, whatever the outcome.
	 * Content already stored under key is kept (same key, same bytes). */
	int (*commit)(struct blob_writer *w, const char *key);
	/* Discards the staged bytes and frees w; accepts NULL. */
	void (*abort)(struct blob_writer *w);
	int (*open)(struct blob_store *bs, const char *key, struct blob_reader *out);
	int (*remove)(struct blob_store *bs, const char *key);
	/* Calls cb for every stored key; a non-zero return stops the walk and is returned. */
	int (*list)(struct blob_store *bs, int (*cb)(void *ctx, const char *key), void *ctx);
	/* Counts (and unless dry_run removes) staged uploads left by a crash that are at
	 * least max_age_s seconds old. */
	int (*clean_staging)(struct blob_store *bs, int64_t max_age_s, bool dry_run,
			     int64_t *count);
};

struct blob_store {
	const struct blob_ops *ops;
};

void blob_reader_close(struct blob_reader *r);

/* A store under dir/blobs with staging in dir/tmp. Returns NULL and sets *err. */
struct blob_store *blob_fs_open(const char *dir, const char **err);

#endif
