/* depot migrate-store (see migrate_store.h): a row-for-row copy of one SQL metadata store
 * into another through the shared SQL driver (meta_sql.h), and of every content from one
 * blob store into another through the blob-store interface (blob.h, blob.c's mapping of
 * contents to per-upload keys). The list of tables below is the one place that knows the
 * schema's columns; a source whose tables or columns differ from it is refused, so a
 * schema change cannot be copied partly without anyone noticing.
 *
 * Resuming: rows are copied in chunks, each committed on its own; contents one by one,
 * each mapped (blob_keys) in the transaction that commits it. A second run finds every row
 * it copied equal to the source's and every content mapped, and writes nothing. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest.h"
#include "meta_sql.h"
#include "migrate_store.h"

/* Every table of the schema, parents before children (the foreign keys), with its columns
 * in the schema's order, the key (the first nkey columns; the order of both walks) and
 * their types: i integer, n integer or NULL, t text, b bytes. identity: an id column whose
 * sequence must pass every id the source handed out. blob_keys is the blob phase's; the
 * schema's own bookkeeping (sqlite_sequence, depot_schema, and the auth and content
 * epochs, which only tell caches when to drop what they hold) is not copied. */
struct table {
	const char *name;
	const char *key;
	const char *cols;
	const char *types;
	int nkey;
	bool identity;
};

static const struct table tables[] = {
	{"users", "id", "id, username, is_admin, created_at, name, email, bot, created_by",
	 "itiittii", 1, true},
	{"groups", "id",
	 "id, parent_id, path, visibility, created_at, name, description, owner_id,"
	 " project_creation_level, subgroup_creation_level, pending_delete",
	 "intiittiiii", 1, true},
	{"projects", "id",
	 "id, group_id, path, visibility, created_at, name, description, packages_enabled,"
	 " creator_id, updated_at, pending_delete",
	 "iitiittiiii", 1, true},
	{"members", "user_id, project_id, group_id",
	 "user_id, project_id, group_id, access_level, created_at, created_by, expires_at",
	 "iiiiiii", 3, false},
	{"tokens", "id",
	 "id, kind, token_sha256, name, username, user_id, project_id, group_id, scopes,"
	 " expires_at, revoked, created_at, description, last_used_at, previous_id,"
	 " sessions_after",
	 "iitttiiiiiiitiii", 1, true},
	{"packages", "id",
	 "id, project_id, name, version, package_type, status, creator_id, created_at,"
	 " updated_at, last_downloaded_at",
	 "iitttiniin", 1, true},
	{"package_files", "id",
	 "id, package_id, file_name, size, file_md5, file_sha1, file_sha256, status, created_at,"
	 " updated_at",
	 "iititttiii", 1, true},
	{"namespace_package_settings", "group_id",
	 "group_id, generic_duplicates_allowed, generic_duplicate_exception_regex", "iit", 1,
	 false},
	{"package_protection_rules", "id",
	 "id, project_id, package_type, package_name_pattern, minimum_access_level_for_push,"
	 " minimum_access_level_for_delete",
	 "iittii", 1, true},
	{"cleanup_policies", "project_id",
	 "project_id, keep_n_duplicated_package_files, keep_n_versions, older_than_days,"
	 " not_downloaded_days, keep_regex",
	 "iiiiit", 1, false},
	{"audit_log", "id",
	 "id, at, action, username, token_kind, token_id, project_id, package, version,"
	 " file_name, size, sha256, client, detail",
	 "iitttiitttittt", 1, true},
	{"inline_blobs", "sha256", "sha256, data", "tb", 1, false},
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))
#define MAX_COLS 16

/* Rows are compared and copied in chunks of this many (or this many bytes), each chunk
 * one transaction on the target. */
#define CHUNK_ROWS 1000
#define CHUNK_BYTES (8u << 20)
#define COPY_BUF (1u << 20)

struct val {
	bool null;
	int64_t i;
	char *p; /* text (NUL-terminated) or bytes */
	size_t len;
};

struct row {
	struct val v[MAX_COLS];
};

struct run {
	struct meta *src, *dst;
	const struct sql_driver *sd, *dd;
	struct blob_store *src_blobs, *dst_blobs;
	const char *src_dir;
	FILE *progress;
	struct migrate_stats *st;
	char *msg;
	size_t cap;
	int64_t to_copy;     /* check pass: rows missing from the target */
	int64_t dst_rows;    /* check pass: rows the target holds */
	time_t last_print;
	int last_pct;
};

/* Sets the message; returns ret, or -EIO for a failure without an errno. */
__attribute__((format(printf, 3, 4))) static int fail(struct run *r, int ret, const char *fmt,
						      ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->msg, r->cap, fmt, ap); /* NOLINT: see log.c */
	va_end(ap);
	return ret < 0 ? ret : -EIO;
}

/* Runs sql on the store's connection for this thread; *out as the driver's run. */
static int run_sql(struct meta *m, const char *sql, const struct sql_arg *a, int n,
		   struct sql_rows **out)
{
	const struct sql_driver *d = ((struct sql_store *)m)->d;
	struct sql_conn *c = d->conn(m);
	return c ? d->run(c, -1, sql, a, n, out) : -EIO;
}

/* The first column of the first row of a query as a number. */
static int query_int(struct meta *m, const char *sql, const struct sql_arg *a, int n,
		     int64_t *out)
{
	struct sql_rows *rows;
	int ret = run_sql(m, sql, a, n, &rows);
	if (ret != 0)
		return ret;
	ret = rows->d->next(rows);
	if (ret > 0) {
		*out = rows->d->col_int(rows, 0);
		ret = 0;
	} else if (ret == 0) {
		ret = -ENOENT;
	}
	rows->d->finish(rows);
	return ret;
}

/* Frees what row_read copied (every column: a row is zeroed before it is read). */
static void row_release(struct row *row)
{
	for (int k = 0; k < MAX_COLS; k++) {
		free(row->v[k].p);
		row->v[k].p = NULL;
	}
}

/* Reads the cursor's row into row (which then owns copies); the bytes it took. */
static int row_read(const struct table *t, struct sql_rows *rows, struct row *row, size_t *bytes)
{
	*bytes = 0;
	memset(row, 0, sizeof(*row));
	for (int k = 0; t->types[k]; k++) {
		struct val *v = &row->v[k];
		char type = t->types[k];
		if (type == 'i' || type == 'n') {
			v->null = rows->d->col_text(rows, k) == NULL;
			v->i = v->null ? 0 : rows->d->col_int(rows, k);
			continue;
		}
		const void *p;
		if (type == 'b') {
			p = rows->d->col_blob(rows, k, &v->len);
		} else {
			p = rows->d->col_text(rows, k);
			v->len = p ? strlen(p) : 0;
		}
		v->null = p == NULL && type == 't';
		if (!(v->p = malloc(v->len + 1)))
			return -ENOMEM;
		if (v->len && p)
			memcpy(v->p, p, v->len);
		v->p[v->len] = '\0';
		*bytes += v->len;
	}
	return 0;
}

static int val_cmp(char type, const struct val *a, const struct val *b)
{
	if (a->null != b->null)
		return a->null ? -1 : 1;
	if (type == 'i' || type == 'n')
		return a->i < b->i ? -1 : a->i > b->i;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(a->p, b->p, n) : 0;
	return c ? c : a->len < b->len ? -1 : a->len > b->len;
}

/* Key order, the order both stores walk a table in (text keys are hex: bytes compare as
 * both databases' binary collations do). */
static int key_cmp(const struct table *t, const struct row *a, const struct row *b)
{
	for (int k = 0; k < t->nkey; k++) {
		int c = val_cmp(t->types[k], &a->v[k], &b->v[k]);
		if (c)
			return c;
	}
	return 0;
}

static bool row_equal(const struct table *t, const struct row *a, const struct row *b)
{
	for (int k = 0; t->types[k]; k++)
		if (val_cmp(t->types[k], &a->v[k], &b->v[k]) != 0)
			return false;
	return true;
}

static struct sql_arg arg_of(char type, const struct val *v)
{
	struct sql_arg a = {.type = SQL_TEXT, .p = v->null ? NULL : v->p};
	if ((type == 'i' || type == 'n') && !v->null) {
		a.type = SQL_INT;
		a.i = v->i;
	} else if (type == 'b') {
		a.type = SQL_BLOB;
		a.len = v->len;
	}
	return a;
}

/* "(id) = (17)": the row's key, for messages. */
static void key_text(const struct table *t, const struct row *row, char *out, size_t cap)
{
	size_t n = (size_t)snprintf(out, cap, "(%s) = (", t->key);
	for (int k = 0; k < t->nkey && n < cap; k++) {
		const struct val *v = &row->v[k];
		if (t->types[k] == 't')
			n += (size_t)snprintf(out + n, cap - n, "%s'%.70s'", k ? ", " : "", v->p);
		else
			n += (size_t)snprintf(out + n, cap - n, "%s%lld", k ? ", " : "",
					      (long long)v->i);
	}
	if (n < cap)
		snprintf(out + n, cap - n, ")");
}

/* " WHERE (key) > (?from..) AND (key) <= (?to..)", either bound left out when NULL. */
static void range_sql(const struct table *t, const struct row *after, const struct row *upto,
		      char *out, size_t cap)
{
	size_t n = 0;
	int arg = 1;
	for (int b = 0; b < 2; b++) {
		if (!(b ? upto : after))
			continue;
		n += (size_t)snprintf(out + n, cap - n, "%s(%s) %s (", n ? " AND" : " WHERE", t->key,
				      b ? "<=" : ">");
		for (int k = 0; k < t->nkey; k++)
			n += (size_t)snprintf(out + n, cap - n, "%s?%d", k ? ", " : "", arg++);
		n += (size_t)snprintf(out + n, cap - n, ")");
	}
	if (n == 0)
		out[0] = '\0';
}

static int range_args(const struct table *t, const struct row *after, const struct row *upto,
		      struct sql_arg *a)
{
	int n = 0;
	for (int k = 0; after && k < t->nkey; k++)
		a[n++] = arg_of(t->types[k], &after->v[k]);
	for (int k = 0; upto && k < t->nkey; k++)
		a[n++] = arg_of(t->types[k], &upto->v[k]);
	return n;
}

/* Inserts the source's row as it is, ids and timestamps included. Nullable integers go
 * through CAST, so that a NULL, sent as text, lands in a BIGINT column. */
static int row_insert(struct run *r, const struct table *t, const struct row *row)
{
	char sql[1024];
	struct sql_arg a[MAX_COLS];
	size_t n = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO %s(%s) VALUES(", t->name, t->cols);
	int k;
	for (k = 0; t->types[k]; k++) {
		a[k] = arg_of(t->types[k], &row->v[k]);
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
				      t->types[k] == 'n' ? "%sCAST(?%d AS BIGINT)" : "%s?%d",
				      k ? ", " : "", k + 1);
	}
	snprintf(sql + n, sizeof(sql) - n, ")");
	struct sql_rows *rows;
	int ret = run_sql(r->dst, sql, a, k, &rows);
	if (ret != 0)
		return ret;
	ret = rows->d->next(rows);
	rows->d->finish(rows);
	return ret < 0 ? ret : 0;
}

/* Compares one chunk of source rows (the keys after `after`, up to its last row, or to
 * the end when last_chunk) with the target's rows in the same range; with copy, inserts
 * the missing ones in one transaction. */
static int chunk_merge(struct run *r, const struct table *t, struct row *chunk, size_t n,
		       const struct row *after, bool last_chunk, bool copy)
{
	char where[512], sql[1024], key[256];
	struct sql_arg a[2 * MAX_COLS];
	const struct row *upto = last_chunk ? NULL : &chunk[n - 1];
	range_sql(t, after, upto, where, sizeof(where));
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s%s ORDER BY %s", t->cols, t->name, where, t->key);
	int na = range_args(t, after, upto, a);
	bool *missing = calloc(n ? n : 1, sizeof(bool));
	if (!missing)
		return -ENOMEM;
	struct sql_conn *c = copy ? r->dd->conn(r->dst) : NULL;
	int ret = 0;
	if (copy && (!c || (ret = r->dd->begin(c)) != 0)) {
		free(missing);
		return c ? ret : -EIO;
	}
	struct sql_rows *rows;
	if ((ret = run_sql(r->dst, sql, a, na, &rows)) != 0)
		goto out;
	size_t i = 0;
	struct row d;
	int more;
	while ((more = rows->d->next(rows)) > 0) {
		size_t bytes;
		if ((ret = row_read(t, rows, &d, &bytes)) != 0) {
			row_release(&d);
			break;
		}
		while (i < n && key_cmp(t, &chunk[i], &d) < 0)
			missing[i++] = true;
		const char *why = NULL;
		if (i == n || key_cmp(t, &chunk[i], &d) != 0)
			why = "is not in";
		else if (!row_equal(t, &chunk[i], &d))
			why = "differs from the row in";
		key_text(t, &d, key, sizeof(key));
		row_release(&d);
		if (why) {
			char what[320];
			snprintf(what, sizeof(what), "%s row %s", t->name, key);
			ret = fail(r, -EEXIST,
				   "the target already holds data of another registry: its %s %s the"
				   " source; migrate-store copies into an empty database (or completes"
				   " its own earlier run): give it a new database",
				   what, why);
			break;
		}
		i++;
		r->dst_rows++;
		if (copy)
			r->st->rows_present++;
	}
	if (ret == 0 && more < 0)
		ret = more;
	rows->d->finish(rows);
	while (i < n)
		missing[i++] = true;
	for (i = 0; ret == 0 && i < n; i++) {
		if (!missing[i])
			continue;
		if (!copy) {
			r->to_copy++;
			continue;
		}
		if ((ret = row_insert(r, t, &chunk[i])) != 0) {
			key_text(t, &chunk[i], key, sizeof(key));
			fail(r, ret, "cannot copy %s row %s into the target", t->name, key);
		} else {
			r->st->rows_copied++;
		}
	}
out:
	if (copy) {
		int end = r->dd->end(c, ret == 0);
		if (ret == 0 && end != 0)
			ret = fail(r, end, "cannot commit rows of %s to the target", t->name);
	}
	free(missing);
	return ret;
}

/* Walks a table in key order, chunk by chunk, on both sides (see chunk_merge). */
static int table_walk(struct run *r, const struct table *t, bool copy)
{
	struct row *chunk = calloc(CHUNK_ROWS, sizeof(*chunk));
	struct row after;
	bool have_after = false;
	int ret = 0;
	if (!chunk)
		return -ENOMEM;
	memset(&after, 0, sizeof(after));
	for (;;) {
		char where[512], sql[1024];
		struct sql_arg a[MAX_COLS];
		range_sql(t, have_after ? &after : NULL, NULL, where, sizeof(where));
		snprintf(sql, sizeof(sql), "SELECT %s FROM %s%s ORDER BY %s LIMIT %d", t->cols,
			 t->name, where, t->key, CHUNK_ROWS);
		int na = range_args(t, have_after ? &after : NULL, NULL, a);
		struct sql_rows *rows;
		if ((ret = run_sql(r->src, sql, a, na, &rows)) != 0)
			break;
		size_t n = 0, bytes = 0;
		int more;
		while (bytes < CHUNK_BYTES && (more = rows->d->next(rows)) > 0) {
			size_t b;
			ret = row_read(t, rows, &chunk[n++], &b);
			bytes += b;
			if (ret != 0)
				break;
		}
		bool last = bytes < CHUNK_BYTES && n < CHUNK_ROWS;
		if (ret == 0 && bytes < CHUNK_BYTES && more < 0)
			ret = more;
		rows->d->finish(rows);
		if (ret == 0)
			ret = chunk_merge(r, t, chunk, n, have_after ? &after : NULL, last, copy);
		if (ret == 0 && n > 0) {
			row_release(&after);
			after = chunk[n - 1];
			memset(&chunk[n - 1], 0, sizeof(chunk[n - 1]));
			have_after = true;
		}
		for (size_t i = 0; i < n; i++)
			row_release(&chunk[i]);
		if (ret != 0 || last)
			break;
		if (copy && r->progress)
			fprintf(r->progress, "depot: copied %lld/%lld rows\n",
				(long long)r->st->rows_copied, (long long)r->to_copy);
	}
	row_release(&after);
	free(chunk);
	return ret;
}

/* The source's tables and columns are exactly the list's (blob_keys and the epochs
 * aside). */
static int check_schema(struct run *r)
{
	struct sql_rows *rows;
	int ret = run_sql(r->src, "SELECT name FROM sqlite_master WHERE type = 'table'"
			  " AND name NOT LIKE 'sqlite_%'"
			  " AND name NOT IN ('blob_keys', 'auth_epoch', 'content_epoch')"
			  " ORDER BY name",
			  NULL, 0, &rows);
	if (ret != 0)
		return fail(r, ret, "cannot read the source's tables");
	while (ret == 0 && rows->d->next(rows) > 0) {
		const char *name = rows->d->col_text(rows, 0);
		bool known = false;
		for (size_t i = 0; i < NTABLES; i++)
			known |= strcmp(name, tables[i].name) == 0;
		if (!known)
			ret = fail(r, -EPROTO, "the source has a table migrate-store does not know: %s",
				   name);
	}
	rows->d->finish(rows);
	for (size_t i = 0; ret == 0 && i < NTABLES; i++) {
		struct sql_arg a[] = {{.type = SQL_TEXT, .p = tables[i].name}};
		if ((ret = run_sql(r->src, "SELECT group_concat(name, ', ') FROM (SELECT name FROM"
				   " pragma_table_info(?1) ORDER BY cid)", a, 1, &rows)) != 0)
			break;
		const char *cols = rows->d->next(rows) > 0 ? rows->d->col_text(rows, 0) : NULL;
		if (!cols || strcmp(cols, tables[i].cols) != 0)
			ret = fail(r, -EPROTO,
				   "the source's table %s has columns migrate-store does not know: %s",
				   tables[i].name, cols ? cols : "(none)");
		rows->d->finish(rows);
	}
	int64_t keyed = 0;
	if (ret == 0 && (ret = query_int(r->src, "SELECT COUNT(*) FROM blob_keys", NULL, 0,
					 &keyed)) != 0)
		fail(r, ret, "cannot read the source's blob_keys");
	if (ret == 0 && keyed > 0)
		ret = fail(r, -EPROTO,
			   "the source's contents are in object storage already (its blob_keys"
			   " map them: it was served with --blobs); migrate-store copies from"
			   " %s/blobs", r->src_dir);
	return ret;
}

/* Every content the target maps must be one the source keeps in its blob store. */
static int check_blob_keys(struct run *r)
{
	struct sql_rows *rows;
	int ret = run_sql(r->dst, "SELECT sha256 FROM blob_keys ORDER BY sha256", NULL, 0, &rows);
	if (ret != 0)
		return fail(r, ret, "cannot read the target's blob_keys");
	int more;
	while (ret == 0 && (more = rows->d->next(rows)) > 0) {
		const char *sha = rows->d->col_text(rows, 0);
		struct sql_arg a[] = {{.type = SQL_TEXT, .p = sha}};
		int64_t ours = 0;
		ret = query_int(r->src,
				"SELECT EXISTS(SELECT 1 FROM package_files WHERE file_sha256 = ?1)"
				" AND NOT EXISTS(SELECT 1 FROM inline_blobs WHERE sha256 = ?1)",
				a, 1, &ours);
		if (ret == 0 && !ours)
			ret = fail(r, -EEXIST,
				   "the target already holds data of another registry: its blob_keys"
				   " map content %s, which the source does not have; give"
				   " migrate-store a new database",
				   sha);
		r->dst_rows++;
	}
	if (ret == 0 && more < 0)
		ret = more;
	rows->d->finish(rows);
	return ret;
}

static int any_key(void *ctx, const char *key, int64_t written_s)
{
	(void)ctx;
	(void)key;
	(void)written_s;
	return 1;
}

/* "1.2 GiB" */
static void human(uint64_t n, char *out, size_t cap)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, cap, "%llu B", (unsigned long long)n);
	else
		snprintf(out, cap, "%.1f %s", v, units[u]);
}

/* One line at each whole percent of the files, and at least every second. */
static void progress(struct run *r, int64_t done, int64_t total, bool force)
{
	if (!r->progress)
		return;
	time_t now = time(NULL);
	int pct = total ? (int)(done * 100 / total) : 100;
	if (!force && pct == r->last_pct && now == r->last_print)
		return;
	r->last_pct = pct;
	r->last_print = now;
	char bytes[32];
	human(r->st->bytes_copied, bytes, sizeof(bytes));
	fprintf(r->progress, "depot: copied %lld/%lld files, %s\n", (long long)done,
		(long long)total, bytes);
}

struct commit_ctx {
	struct blob_store *bs;
	struct blob_writer *w;
	const char *sha256;
};

static int commit_locked(struct meta *m, void *ctx)
{
	struct commit_ctx *cc = ctx;
	struct blob_writer *w = cc->w;
	cc->w = NULL; /* blob_commit_content frees it, whatever the outcome */
	return blob_commit_content(m, cc->bs, w, cc->sha256);
}

/* Copies one content, unless the target maps it already, checking its size and SHA-256. */
static int content_copy(struct run *r, const char *sha, int64_t size, bool pending,
			unsigned char *buf, int64_t done, int64_t total)
{
	char key[BLOB_KEY_MAX + 1], path[4096];
	int ret = blob_key_of(r->dst, r->dst_blobs, sha, key);
	if (ret == 0) {
		r->st->files_present++;
		return 0;
	}
	if (ret != -ENOENT)
		return fail(r, ret, "cannot look up content %s in the target", sha);
	snprintf(path, sizeof(path), "%s/blobs/%.2s/%.2s/%s", r->src_dir, sha, sha + 2, sha);
	struct blob_reader rd = {.fd = -1};
	if ((ret = r->src_blobs->ops->open(r->src_blobs, sha, &rd)) == -ENOENT && pending) {
		r->st->files_missing++; /* only deleted files named it: gc had removed it */
		return 0;
	}
	if (ret != 0)
		return fail(r, ret, "%s: cannot read it (%s); depot fsck finds what is missing",
			    path, strerror(-ret));
	struct digest3 *dg = digest3_new(false);
	struct blob_writer *w = NULL;
	if (!dg) {
		ret = -ENOMEM;
		goto out;
	}
	if ((int64_t)rd.size != size) {
		char sizes[64];
		snprintf(sizes, sizeof(sizes), "%llu bytes, its rows say %lld",
			 (unsigned long long)rd.size, (long long)size);
		ret = fail(r, -EBADMSG, "%s: %s: the source is damaged (depot fsck names what)",
			   path, sizes);
		goto out;
	}
	if ((ret = r->dst_blobs->ops->writer_new(r->dst_blobs, &w)) != 0) {
		fail(r, ret, "cannot store %s in the target's blob store: %s", sha, strerror(-ret));
		goto out;
	}
	for (uint64_t off = 0; off < rd.size;) {
		size_t want = rd.size - off < COPY_BUF ? (size_t)(rd.size - off) : COPY_BUF;
		ssize_t n = blob_reader_read(&rd, off, buf, want);
		if (n <= 0) {
			ret = fail(r, n < 0 ? (int)n : -EIO, "%s: cannot read it: %s", path,
				   strerror(n < 0 ? (int)-n : EIO));
			goto out;
		}
		digest3_update(dg, buf, (size_t)n);
		if ((ret = r->dst_blobs->ops->write(w, buf, (size_t)n)) != 0) {
			fail(r, ret, "cannot store %s in the target's blob store: %s", sha,
			     strerror(-ret));
			goto out;
		}
		off += (uint64_t)n;
		r->st->bytes_copied += (uint64_t)n;
		progress(r, done, total, false);
	}
	struct digest_hex hex;
	digest3_final(dg, &hex);
	if (strcmp(hex.sha256, sha) != 0) {
		ret = fail(r, -EBADMSG,
			   "%s: its content's SHA-256 is %s, not the one its name and rows record:"
			   " the source is damaged (depot fsck names what); nothing copied after it",
			   path, hex.sha256);
		goto out;
	}
	if ((ret = r->dst_blobs->ops->sync(w)) != 0) {
		fail(r, ret, "cannot store %s in the target's blob store: %s", sha, strerror(-ret));
		goto out;
	}
	struct commit_ctx cc = {.bs = r->dst_blobs, .w = w, .sha256 = sha};
	w = NULL;
	ret = r->dst->ops->locked(r->dst, commit_locked, &cc);
	w = cc.w; /* still ours when the transaction could not start */
	if (ret != 0)
		fail(r, ret, "cannot record content %s in the target: %s", sha, strerror(-ret));
	else
		r->st->files_copied++;
out:
	if (w)
		r->dst_blobs->ops->abort(w);
	digest3_free(dg);
	blob_reader_close(&rd);
	return ret;
}

/* Contents not held inline, each once, whether only deleted files (pending destruction)
 * still name it. */
#define CONTENTS                                                                           \
	" FROM package_files f JOIN packages p ON p.id = f.package_id WHERE NOT EXISTS("   \
	"SELECT 1 FROM inline_blobs i WHERE i.sha256 = f.file_sha256) GROUP BY f.file_sha256"

static int contents_copy(struct run *r)
{
	int64_t total = 0;
	int ret = query_int(r->src, "SELECT COUNT(*) FROM (SELECT f.file_sha256" CONTENTS ")",
			    NULL, 0, &total);
	if (ret != 0)
		return fail(r, ret, "cannot list the source's contents");
	unsigned char *buf = malloc(COPY_BUF);
	if (!buf)
		return -ENOMEM;
	struct sql_rows *rows;
	if ((ret = run_sql(r->src,
			   "SELECT f.file_sha256, MAX(f.size), MIN(CASE WHEN f.status = 0 AND"
			   " p.status != 4 THEN 0 ELSE 1 END)" CONTENTS " ORDER BY f.file_sha256",
			   NULL, 0, &rows)) != 0) {
		free(buf);
		return fail(r, ret, "cannot list the source's contents");
	}
	r->last_pct = -1;
	int64_t done = 0;
	int more;
	while (ret == 0 && (more = rows->d->next(rows)) > 0) {
		char sha[SHA256_HEX_LEN + 1];
		snprintf(sha, sizeof(sha), "%s", rows->d->col_text(rows, 0));
		ret = content_copy(r, sha, rows->d->col_int(rows, 1), rows->d->col_int(rows, 2) != 0,
				   buf, done, total);
		if (ret == 0)
			progress(r, ++done, total, false);
	}
	if (ret == 0 && more < 0)
		ret = fail(r, more, "cannot list the source's contents");
	rows->d->finish(rows);
	free(buf);
	if (ret == 0)
		progress(r, done, total, true);
	return ret;
}

/* New rows in the target get ids above every id the source handed out: its highest, or
 * higher when the newest rows were deleted (sqlite_sequence remembers). setval only
 * moves a sequence forward, so a second run changes nothing. */
static int sequences_advance(struct run *r)
{
	for (size_t i = 0; i < NTABLES; i++) {
		const struct table *t = &tables[i];
		if (!t->identity)
			continue;
		char sql[512];
		snprintf(sql, sizeof(sql),
			 "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0),"
			 " COALESCE((SELECT MAX(id) FROM %s), 0))",
			 t->name);
		struct sql_arg a[] = {{.type = SQL_TEXT, .p = t->name}, {.type = SQL_INT}};
		int ret = query_int(r->src, sql, a, 1, &a[1].i);
		if (ret != 0)
			return fail(r, ret, "cannot read the source's last id of %s", t->name);
		if (a[1].i <= 0)
			continue;
		struct sql_arg b[] = {{.type = SQL_INT, .i = a[1].i}, {.type = SQL_TEXT, .p = t->name}};
		struct sql_rows *rows;
		ret = run_sql(r->dst,
			      "SELECT setval(s.seq::regclass, ?1) FROM (SELECT"
			      " pg_get_serial_sequence(?2, 'id') AS seq) s WHERE ?1 > COALESCE(("
			      "SELECT q.last_value FROM pg_sequences q WHERE"
			      " format('%I.%I', q.schemaname, q.sequencename) = s.seq), 0)",
			      b, 2, &rows);
		if (ret == 0) {
			ret = rows->d->next(rows);
			rows->d->finish(rows);
		}
		if (ret < 0)
			return fail(r, ret, "cannot advance the target's id sequence of %s",
				    t->name);
	}
	return 0;
}

/* Rows copied in bulk leave PostgreSQL without statistics until autovacuum comes by, and
 * some plans are poor until then (a version's streamed files listing sorted every
 * remaining row per batch: 46 s for 100,000 files, 1 s after ANALYZE). */
static int analyze_target(struct run *r)
{
	struct sql_rows *rows;
	int ret = run_sql(r->dst, "ANALYZE", NULL, 0, &rows);
	if (ret == 0) {
		ret = rows->d->next(rows);
		rows->d->finish(rows);
	}
	return ret < 0 ? fail(r, ret, "cannot analyze the target's tables") : 0;
}

int migrate_store_run(struct meta *src, struct blob_store *src_blobs, const char *src_dir,
		      struct meta *dst, struct blob_store *dst_blobs, FILE *progress_out,
		      struct migrate_stats *st, char *msg, size_t cap)
{
	struct run r = {
	    .src = src,
	    .dst = dst,
	    .sd = ((struct sql_store *)src)->d,
	    .dd = ((struct sql_store *)dst)->d,
	    .src_blobs = src_blobs,
	    .dst_blobs = dst_blobs,
	    .src_dir = src_dir,
	    .progress = progress_out,
	    .st = st,
	    .msg = msg,
	    .cap = cap,
	};
	memset(st, 0, sizeof(*st));
	msg[0] = '\0';
	if (r.sd->dialect != SQL_SQLITE || r.dd->dialect != SQL_PG)
		return fail(&r, -EINVAL, "migrate-store copies from SQLite into PostgreSQL");
	int ret = check_schema(&r);
	/* Nothing is written before the whole target has been compared with the source. */
	for (size_t i = 0; ret == 0 && i < NTABLES; i++)
		ret = table_walk(&r, &tables[i], false);
	if (ret == 0)
		ret = check_blob_keys(&r);
	if (ret == 0 && r.dst_rows == 0) {
		/* A new registry's objects: another registry's, which its gc would remove. */
		int any = dst_blobs->ops->list(dst_blobs, any_key, NULL);
		if (any < 0)
			ret = fail(&r, any, "cannot list the target's blob store: %s",
				   strerror(-any));
		else if (any > 0)
			ret = fail(&r, -EEXIST,
				   "the target's blob store already holds objects, and its database"
				   " nothing: they would be another registry's; give migrate-store an"
				   " empty bucket prefix");
	}
	if (ret != 0)
		return ret;
	if (progress_out)
		fprintf(progress_out, "depot: the target holds %lld row(s) of this registry; %lld to copy\n",
			(long long)r.dst_rows, (long long)r.to_copy);
	for (size_t i = 0; ret == 0 && i < NTABLES; i++)
		ret = table_walk(&r, &tables[i], true);
	if (ret == 0)
		ret = sequences_advance(&r);
	if (ret == 0 && r.to_copy > 0)
		ret = analyze_target(&r);
	if (ret == 0)
		ret = contents_copy(&r);
	return ret;
}
