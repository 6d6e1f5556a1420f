/* The blob store interface: file bodies, each stored once per distinct content. A backend
 * (blob_fs.c, blob_s3.c) fills a struct blob_ops. Writes go to a private staging object
 * and become visible only at commit, after they are durable, so an aborted or crashed
 * upload leaves no blob behind.
 *
 * Keys: the local-disk store names a blob by its content's lowercase hex SHA-256, so an
 * upload's name is known only once its body has been hashed and the staged bytes are
 * linked under it. An object store cannot rename without copying every byte, so there a
 * key is chosen when the upload starts (writer_key) and the metadata store maps the
 * content's SHA-256 to the key of the one upload that stored it (blob.c decides which).
 *
 * Functions return 0 or a negative errno (-ENOSPC, -EIO, -ENOENT, ...); a store that
 * cannot be reached, or answers that it is unavailable, gives -EAGAIN. */
#ifndef DEPOT_BLOB_H
#define DEPOT_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "meta.h"

struct blob_store;
struct blob_writer;

/* An open blob for reading: a file served with sendfile when fd >= 0, else read through
 * blob_reader_read. Released by blob_reader_close. */
struct blob_reader {
	int fd;
	uint64_t size;
	struct blob_store *bs; /* fd < 0: the store that reads it, with its handle h */
	void *h;
};

struct blob_ops {
	void (*close)(struct blob_store *bs);
	/* Can the store take and serve content now? For readiness probes. */
	int (*ping)(struct blob_store *bs);
	/* Starts a staged write; *out is owned by the caller until commit or abort. */
	int (*writer_new)(struct blob_store *bs, struct blob_writer **out);
	/* The key w's bytes are stored under, chosen by writer_new and owned by w; NULL when
	 * the store names blobs by their content (the SHA-256 commit gets). */
	const char *(*writer_key)(struct blob_writer *w);
	int (*write)(struct blob_writer *w, const void *data, size_t len);
	/* Makes the staged bytes durable (the slow part: call it outside any lock). */
	int (*sync)(struct blob_writer *w);
	/* Makes the synced bytes visible and frees w, whatever the outcome: under the key
	 * sha256 (content already stored under it is kept: same key, same bytes), or, with
	 * per-upload keys, under writer_key (called under the metadata store's write lock,
	 * it checks that the object is still there). */
	int (*commit)(struct blob_writer *w, const char *sha256);
	/* Discards the staged (or synced, not yet committed) bytes and frees w; accepts NULL. */
	void (*abort)(struct blob_writer *w);
	int (*open)(struct blob_store *bs, const char *key, struct blob_reader *out);
	/* For a reader with fd < 0: up to len bytes from off; the count read, or a negative
	 * errno. */
	ssize_t (*read)(struct blob_reader *r, uint64_t off, void *buf, size_t len);
	void (*reader_close)(struct blob_reader *r);
	int (*remove)(struct blob_store *bs, const char *key);
	/* Calls cb for every stored key with the time it was written (seconds since the
	 * epoch; 0 when the store lists only committed blobs, as blob_fs does); a non-zero
	 * return stops the walk and is returned. */
	int (*list)(struct blob_store *bs, int (*cb)(void *ctx, const char *key, int64_t written_s),
		    void *ctx);
	/* Counts (and unless dry_run removes) staged uploads left by a crash that are at
	 * least max_age_s seconds old (blob_s3: open multipart uploads, which it aborts). */
	int (*clean_staging)(struct blob_store *bs, int64_t max_age_s, bool dry_run,
			     int64_t *count);
	/* A URL anyone holding it may GET key with for expires_s seconds, answered with these
	 * Content-Type and Content-Disposition (*url: caller frees). NULL when the store
	 * cannot hand out URLs (the local disk). */
	int (*presign)(struct blob_store *bs, const char *key, int64_t expires_s,
		       const char *content_type, const char *disposition, char **url);
};

struct blob_store {
	const struct blob_ops *ops;
	/* Keys are chosen per upload and mapped by the metadata store; a listed key no row
	 * maps may then be an upload between its last byte and its commit. */
	bool keyed_per_upload;
};

/* Reads through the store, or with pread when r->fd >= 0. */
ssize_t blob_reader_read(struct blob_reader *r, uint64_t off, void *buf, size_t len);
void blob_reader_close(struct blob_reader *r);

/* The key of the content with this SHA-256 (key: BLOB_KEY_MAX + 1 bytes): the SHA-256
 * itself, or what the metadata store maps it to (-ENOENT: not in the blob store). */
int blob_key_of(struct meta *m, struct blob_store *bs, const char *sha256, char *key);
/* Under the metadata store's write lock (the caller holds it): commits w as the stored
 * copy of sha256, and frees w. With per-upload keys the first upload of a content maps
 * it to its key; a later one finds the content stored and removes its own object. */
int blob_commit_content(struct meta *m, struct blob_store *bs, struct blob_writer *w,
			const char *sha256);
/* Under the write lock: removes the stored copy of sha256 and its mapping (gc's sweep);
 * 0 when nothing is stored. */
int blob_remove_content(struct meta *m, struct blob_store *bs, const char *sha256);
/* Does any row, live or pending destruction, need the blob stored under key? */
int blob_key_needed(struct meta *m, struct blob_store *bs, const char *key, bool *out);

/* A store under dir/blobs with staging in dir/tmp. Returns NULL and sets *err. */
struct blob_store *blob_fs_open(const char *dir, const char **err);

/* S3 settings: the parts of an s3:// URL, and the keys (from the environment or a file,
 * never a command line). */
struct s3_config {
	const char *url; /* s3://bucket/prefix?endpoint=...&region=...&path_style=1&ca=FILE */
	const char *access_key; /* not logged */
	const char *secret_key; /* not logged */
	uint64_t part_size;	/* multipart part size; bodies up to it go in one PUT */
};
#define S3_PART_MIN (5ull << 20) /* S3's and RGW's smallest part (all but the last) */
#define S3_PART_DEFAULT (16ull << 20)

/* An S3-compatible store (blob_s3.c). Returns NULL and sets *err. Nothing is sent yet:
 * the first request tells whether the store answers. */
struct blob_store *blob_s3_open(const struct s3_config *cfg, const char **err);

#endif
