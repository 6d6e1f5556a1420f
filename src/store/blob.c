/* What every blob store shares (see blob.h): reading an open blob, and the one place
 * that decides how a content's SHA-256 becomes a key, for uploads, downloads, gc and
 * fsck alike: the SHA-256 itself on the local disk, the metadata store's mapping to a
 * per-upload key on object storage. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "blob.h"

ssize_t blob_reader_read(struct blob_reader *r, uint64_t off, void *buf, size_t len)
{
	if (r->fd < 0)
		return r->bs->ops->read(r, off, buf, len);
	ssize_t n = pread(r->fd, buf, len, (off_t)off);
	return n >= 0 ? n : -errno;
}

void blob_reader_close(struct blob_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	else if (r->bs && r->h)
		r->bs->ops->reader_close(r);
	r->fd = -1;
	r->h = NULL;
}

int blob_key_of(struct meta *m, struct blob_store *bs, const char *sha256, char *key)
{
	if (!bs->keyed_per_upload) {
		snprintf(key, BLOB_KEY_MAX + 1, "%s", sha256);
		return 0;
	}
	return m->ops->blob_key_get(m, sha256, key);
}

int blob_commit_content(struct meta *m, struct blob_store *bs, struct blob_writer *w,
			const char *sha256)
{
	if (!bs->keyed_per_upload)
		return bs->ops->commit(w, sha256);
	char stored[BLOB_KEY_MAX + 1], key[BLOB_KEY_MAX + 1];
	int ret = m->ops->blob_key_get(m, sha256, stored);
	if (ret == 0) { /* stored once already: this upload's object is not needed */
		bs->ops->abort(w);
		return 0;
	}
	if (ret != -ENOENT) {
		bs->ops->abort(w);
		return ret;
	}
	snprintf(key, sizeof(key), "%s", bs->ops->writer_key(w));
	if ((ret = bs->ops->commit(w, sha256)) != 0)
		return ret;
	/* Unmapped, the object would wait for gc's orphan walk: removed at once instead. */
	if ((ret = m->ops->blob_key_put(m, sha256, key)) != 0)
		bs->ops->remove(bs, key);
	return ret;
}

int blob_remove_content(struct meta *m, struct blob_store *bs, const char *sha256)
{
	if (!bs->keyed_per_upload) {
		int ret = bs->ops->remove(bs, sha256);
		return ret == -ENOENT ? 0 : ret;
	}
	char key[BLOB_KEY_MAX + 1];
	int ret = m->ops->blob_key_get(m, sha256, key);
	if (ret == -ENOENT)
		return 0; /* inline content, or never stored */
	if (ret == 0 && (ret = bs->ops->remove(bs, key)) == -ENOENT)
		ret = 0;
	return ret ? ret : m->ops->blob_key_delete(m, sha256);
}

int blob_key_needed(struct meta *m, struct blob_store *bs, const char *key, bool *out)
{
	if (!bs->keyed_per_upload)
		return m->ops->blob_referenced(m, key, out);
	/* A mapping goes with the last row of its content (the sweep removes both). */
	return m->ops->blob_key_mapped(m, key, out);
}
