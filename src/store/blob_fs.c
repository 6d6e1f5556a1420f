/* The local-disk blob store: blobs/<k[0:2]>/<k[2:4]>/<k>. Uploads stage in an O_TMPFILE
 * (an unnamed file that vanishes on crash) under tmp/, are fsync'ed, then linked into place
 * and the directory fsync'ed. Filesystems without O_TMPFILE fall back to a named temp file.
 * A staged file is flock'ed by its writer for its whole life, so the sweep of leftovers
 * (clean_staging) never takes one from an upload under way, in this process or another. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"

#define FS_PATH_MAX 4096

struct blob_fs {
	struct blob_store base;
	char *blob_dir;
	char *tmp_dir;
	/* Test-only switches (DEPOT_BLOB_FAULT): ENOSPC:BYTES or EIO:BYTES make writes fail
	 * with that errno once a staged upload passes BYTES; NOTMPFILE stages every upload
	 * as on a filesystem without O_TMPFILE. */
	int fault_errno;
	uint64_t fault_after;
	bool no_tmpfile;
	/* The blob directories known durable in this process (bit i: blobs/<i in hex>, and
	 * blobs/<i / 256>/<i % 256> in mid): set once a sync of the parent has followed
	 * the directory's creation, whoever created it. */
	uint64_t durable_top[256 / 64];
	uint64_t durable_mid[65536 / 64];
};

/* Writeback is started every WRITEBACK_CHUNK bytes, so the final fsync has little left. */
#define WRITEBACK_CHUNK (8u << 20)

/* Writes of whole aligned blocks (the upload pipe's buffers) bypass the page cache: on
 * this kind of VM, taking fresh page-cache pages for a new 1 GiB file costs more CPU than
 * the three digests. Anything else, and any filesystem that refuses, is written buffered;
 * fsync in sync() makes either durable. */
#define DIRECT_ALIGN 4096u

struct blob_writer {
	struct blob_fs *fs;
	int fd;
	uint64_t written, kicked; /* bytes written; bytes handed to writeback */
	bool direct;		  /* fd has O_DIRECT now */
	bool no_direct;		  /* the filesystem refused it: buffered from then on */
	char tmp_name[FS_PATH_MAX]; /* empty for an O_TMPFILE */
};

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int ret = fsync(fd) == 0 ? 0 : -errno;
	close(fd);
	return ret;
}

static bool bit_get(const uint64_t *bits, unsigned i)
{
	return (__atomic_load_n(&bits[i / 64], __ATOMIC_ACQUIRE) >> (i % 64)) & 1;
}

static void bit_set(uint64_t *bits, unsigned i)
{
	__atomic_fetch_or(&bits[i / 64], (uint64_t)1 << (i % 64), __ATOMIC_RELEASE);
}

/* mkdir that is durable. The parent is synced also when the directory exists already:
 * another thread may have made it and not yet reached its sync, or a run that crashed
 * may have; a blob linked into it would be lost with its entry. known (NULL: always
 * sync) remembers, bit i, the directories settled in this process. */
static int mkdir_durable(const char *path, const char *parent, uint64_t *known, unsigned i)
{
	if (known && bit_get(known, i))
		return 0;
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -errno;
	int ret = fsync_path(parent);
	if (ret == 0 && known)
		bit_set(known, i);
	return ret;
}

/* Takes the staged file's lock; the sweep of leftovers skips locked files. */
static int stage_lock(int fd)
{
	return flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : -errno;
}

/* A named staging file, locked. The sweep may have removed the name between its creation
 * and the lock (it locks before it unlinks): then the file is unlinked, and another is made. */
static int stage_named(struct blob_writer *w)
{
	for (int tries = 0; tries < 16; tries++) {
		struct stat st;
		snprintf(w->tmp_name, sizeof(w->tmp_name), "%s/upload-XXXXXX", w->fs->tmp_dir);
		if ((w->fd = mkostemp(w->tmp_name, O_CLOEXEC)) < 0)
			return -errno;
		if (stage_lock(w->fd) != 0)
			unlink(w->tmp_name); /* a sweep is looking at it: left to neither */
		else if (fstat(w->fd, &st) == 0 && st.st_nlink > 0)
			return 0;
		close(w->fd);
		w->fd = -1;
	}
	return -EAGAIN;
}

static int fs_writer_new(struct blob_store *bs, struct blob_writer **out)
{
	struct blob_fs *fs = (struct blob_fs *)bs;
	struct blob_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fs = fs;
	int ret = 0;
	w->fd = fs->no_tmpfile ? -1 : open(fs->tmp_dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (w->fd >= 0)
		ret = stage_lock(w->fd); /* its bytes get a name in tmp/ if a blob is replaced */
	else if (fs->no_tmpfile || errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)
		ret = stage_named(w);
	else
		ret = -errno;
	if (ret != 0) {
		if (w->fd >= 0)
			close(w->fd);
		free(w);
		return ret;
	}
	*out = w;
	return 0;
}

static const char *fs_writer_key(struct blob_writer *w)
{
	(void)w;
	return NULL; /* named by its content, at commit */
}

/* Turns O_DIRECT on or off on w's descriptor; false when it cannot be on. */
static bool set_direct(struct blob_writer *w, bool on)
{
	if (w->direct == on)
		return true;
	int fl = fcntl(w->fd, F_GETFL);
	if (fl < 0 || fcntl(w->fd, F_SETFL, on ? fl | O_DIRECT : fl & ~O_DIRECT) != 0) {
		w->no_direct = true;
		return false;
	}
	w->direct = on;
	return true;
}

static int fs_write(struct blob_writer *w, const void *data, size_t len)
{
	const char *p = data;
	if (w->fs->fault_errno && w->written + len > w->fs->fault_after)
		return -w->fs->fault_errno;
	bool aligned = (uintptr_t)data % DIRECT_ALIGN == 0 && len % DIRECT_ALIGN == 0 &&
		       w->written % DIRECT_ALIGN == 0;
	if (!set_direct(w, aligned && !w->no_direct))
		set_direct(w, false);
	while (len > 0) {
		ssize_t n = write(w->fd, p, len);
		if (n < 0 && errno == EINVAL && w->direct) { /* refused after all */
			w->no_direct = true;
			if (set_direct(w, false))
				continue;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		w->written += (uint64_t)n;
	}
	if (w->written - w->kicked >= WRITEBACK_CHUNK) {
		/* Only starts the I/O; durability still comes from the fsync in sync(). */
		sync_file_range(w->fd, (off_t)w->kicked, (off_t)(w->written - w->kicked),
				SYNC_FILE_RANGE_WRITE);
		w->kicked = w->written;
	}
	return 0;
}

static void fs_abort(struct blob_writer *w)
{
	if (!w)
		return;
	if (w->tmp_name[0]) /* before the close: the name is still ours while locked */
		unlink(w->tmp_name);
	close(w->fd);
	free(w);
}

static void key_dirs(const struct blob_fs *fs, const char *key, char *d1, char *d2, size_t cap)
{
	snprintf(d1, cap, "%s/%.2s", fs->blob_dir, key);
	snprintf(d2, cap, "%s/%.2s/%.2s", fs->blob_dir, key, key + 2);
}

static int key_ok(const char *key)
{
	return strlen(key) == 64 && strspn(key, "0123456789abcdef") == 64;
}

static int fs_sync(struct blob_writer *w)
{
	return fsync(w->fd) == 0 ? 0 : -errno;
}

/* Gives the staged bytes the name path; -EEXIST when it is taken. */
static int link_staged(struct blob_writer *w, const char *path)
{
	if (w->tmp_name[0])
		return link(w->tmp_name, path) == 0 ? 0 : -errno;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", w->fd);
	return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 ? 0 : -errno;
}

/* The content is stored already: the staged copy replaces it. Its bytes were hashed on
 * the way in and are durable, while the stored copy may be damaged (bit rot, a torn
 * write), so uploading the content again repairs it, at the cost of a rename instead of
 * a read of the stored copy. Readers of the old copy keep their open file. The side name
 * is in tmp/, where a crash's leftover is swept; commits run under the write lock, one at
 * a time, so one name per key is enough. */
static int replace_stored(struct blob_writer *w, const char *key, const char *final)
{
	char side[FS_PATH_MAX + 80];
	snprintf(side, sizeof(side), "%s/replace-%s", w->fs->tmp_dir, key);
	unlink(side);
	int ret = link_staged(w, side);
	if (ret == 0 && rename(side, final) != 0) {
		ret = -errno;
		unlink(side);
	}
	return ret;
}

static unsigned hex_val(char c)
{
	return (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
}

static int fs_commit(struct blob_writer *w, const char *key)
{
	struct blob_fs *fs = w->fs;
	char d1[FS_PATH_MAX], d2[FS_PATH_MAX], final[FS_PATH_MAX + 80];
	int ret;
	if (!key_ok(key)) {
		ret = -EINVAL;
		goto out;
	}
	key_dirs(fs, key, d1, d2, sizeof(d1));
	snprintf(final, sizeof(final), "%s/%s", d2, key);
	unsigned top = hex_val(key[0]) * 16 + hex_val(key[1]);
	unsigned mid = top * 256 + hex_val(key[2]) * 16 + hex_val(key[3]);
	if ((ret = mkdir_durable(d1, fs->blob_dir, fs->durable_top, top)) != 0 ||
	    (ret = mkdir_durable(d2, d1, fs->durable_mid, mid)) != 0)
		goto out;
	ret = link_staged(w, final);
	if (ret == -EEXIST)
		ret = replace_stored(w, key, final);
	if (ret == 0)
		ret = fsync_path(d2);
out:
	fs_abort(w); /* the staged name (if any) goes; the linked blob stays */
	return ret;
}

static int fs_open(struct blob_store *bs, const char *key, struct blob_reader *out)
{
	struct blob_fs *fs = (struct blob_fs *)bs;
	char path[FS_PATH_MAX];
	if (!key_ok(key))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%.2s/%.2s/%s", fs->blob_dir, key, key + 2, key);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	*out = (struct blob_reader){.fd = fd, .size = (uint64_t)st.st_size};
	return 0;
}

static int fs_remove(struct blob_store *bs, const char *key)
{
	struct blob_fs *fs = (struct blob_fs *)bs;
	char path[FS_PATH_MAX];
	if (!key_ok(key))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%.2s/%.2s/%s", fs->blob_dir, key, key + 2, key);
	return unlink(path) == 0 ? 0 : -errno;
}

/* Walks blobs/<2>/<2>/<key>; anything else in the tree is not a blob and is skipped. */
static int fs_list(struct blob_store *bs, int (*cb)(void *ctx, const char *key, int64_t written_s),
		   void *ctx)
{
	struct blob_fs *fs = (struct blob_fs *)bs;
	char path[FS_PATH_MAX + 16];
	int ret = 0;
	DIR *top = opendir(fs->blob_dir);
	if (!top)
		return -errno;
	struct dirent *a, *b, *c;
	while (ret == 0 && (a = readdir(top))) {
		if (strlen(a->d_name) != 2 || a->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", fs->blob_dir, a->d_name);
		DIR *mid = opendir(path);
		if (!mid)
			continue;
		while (ret == 0 && (b = readdir(mid))) {
			if (strlen(b->d_name) != 2 || b->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s/%s", fs->blob_dir, a->d_name, b->d_name);
			DIR *leaf = opendir(path);
			if (!leaf)
				continue;
			while (ret == 0 && (c = readdir(leaf)))
				if (key_ok(c->d_name) && strncmp(c->d_name, a->d_name, 2) == 0 &&
				    strncmp(c->d_name + 2, b->d_name, 2) == 0)
					ret = cb(ctx, c->d_name, 0);
			closedir(leaf);
		}
		closedir(mid);
	}
	closedir(top);
	return ret;
}

static int fs_clean_staging(struct blob_store *bs, int64_t max_age_s, bool dry_run,
			    int64_t *removed)
{
	struct blob_fs *fs = (struct blob_fs *)bs;
	DIR *d = opendir(fs->tmp_dir);
	if (!d)
		return -errno;
	struct dirent *e;
	char path[FS_PATH_MAX + 300];
	struct stat st;
	time_t now = time(NULL);
	*removed = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", fs->tmp_dir, e->d_name);
		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || now - st.st_mtime < max_age_s)
			continue;
		/* A writer holds its file's lock: only a leftover can be locked here. The name
		 * goes while the lock is held, so a writer that locks it afterwards sees it
		 * unlinked (stage_named). */
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			continue;
		if (stage_lock(fd) == 0 && (dry_run || unlink(path) == 0))
			(*removed)++;
		close(fd);
	}
	closedir(d);
	return 0;
}

/* Both folders still there and writable (the data directory's disk may be gone). */
static int fs_ping(struct blob_store *bs)
{
	struct blob_fs *fs = (struct blob_fs *)bs;
	if (access(fs->blob_dir, W_OK | X_OK) != 0 || access(fs->tmp_dir, W_OK | X_OK) != 0)
		return -errno;
	return 0;
}

static void fs_close(struct blob_store *bs)
{
	struct blob_fs *fs = (struct blob_fs *)bs;
	if (!fs)
		return;
	free(fs->blob_dir);
	free(fs->tmp_dir);
	free(fs);
}

static const struct blob_ops fs_ops = {
	.close = fs_close,
	.ping = fs_ping,
	.writer_new = fs_writer_new,
	.writer_key = fs_writer_key,
	.write = fs_write,
	.sync = fs_sync,
	.commit = fs_commit,
	.abort = fs_abort,
	.open = fs_open,
	.remove = fs_remove,
	.list = fs_list,
	.clean_staging = fs_clean_staging,
};

struct blob_store *blob_fs_open(const char *dir, const char **err)
{
	struct blob_fs *fs = calloc(1, sizeof(*fs));
	if (!fs) {
		*err = "out of memory";
		return NULL;
	}
	fs->base.ops = &fs_ops;
	if (asprintf(&fs->blob_dir, "%s/blobs", dir) < 0)
		fs->blob_dir = NULL;
	if (asprintf(&fs->tmp_dir, "%s/tmp", dir) < 0)
		fs->tmp_dir = NULL;
	if (!fs->blob_dir || !fs->tmp_dir) {
		fs_close(&fs->base);
		*err = "out of memory";
		return NULL;
	}
	const char *fault = getenv("DEPOT_BLOB_FAULT");
	if (fault && strcmp(fault, "NOTMPFILE") == 0) {
		fs->no_tmpfile = true;
	} else if (fault) {
		fs->fault_errno = strncmp(fault, "ENOSPC", 6) == 0 ? ENOSPC : EIO;
		const char *colon = strchr(fault, ':');
		fs->fault_after = colon ? strtoull(colon + 1, NULL, 10) : 0;
	}
	if (mkdir_durable(fs->blob_dir, dir, NULL, 0) != 0 ||
	    mkdir_durable(fs->tmp_dir, dir, NULL, 0) != 0) {
		fs_close(&fs->base);
		*err = "cannot create the blob directories";
		return NULL;
	}
	return &fs->base;
}
