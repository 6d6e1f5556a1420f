/* The SQLite metadata store: WAL mode, one connection per thread (opened on first use),
 * prepared statements cached per connection, writes in short IMMEDIATE transactions. The
 * statements and operations are meta_sql.c's; this file is their driver (connections,
 * transactions, binding and reading columns) and applies the schema at open. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta_sql.h"

/* A statement being run: cached per connection (id >= 0) or built at run time. */
struct sqlite_rows {
	struct sql_rows head;
	sqlite3_stmt *st;
	sqlite3 *db;
	bool dynamic;
};

enum { TX_BEGIN, TX_COMMIT, TX_ROLLBACK, TX_COUNT };
static const char *const tx_sql[TX_COUNT] = {"BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"};

struct sql_conn {
	sqlite3 *db;
	sqlite3_stmt *tx[TX_COUNT];
	struct sqlite_rows *cache; /* meta_sql_nstmts of them, by statement id */
};

struct meta_sqlite {
	struct sql_store store;
	char *path;
	pthread_key_t key;
};

static const struct sql_driver sqlite_driver;

static void conn_free(void *p)
{
	struct sql_conn *c = p;
	if (!c)
		return;
	for (int i = 0; c->cache && i < meta_sql_nstmts; i++)
		sqlite3_finalize(c->cache[i].st);
	for (int i = 0; i < TX_COUNT; i++)
		sqlite3_finalize(c->tx[i]);
	free(c->cache);
	sqlite3_close(c->db);
	free(c);
}

static struct sql_conn *conn_open(const char *path)
{
	struct sql_conn *c = calloc(1, sizeof(*c));
	if (!c || !(c->cache = calloc((size_t)meta_sql_nstmts, sizeof(*c->cache)))) {
		free(c);
		return NULL;
	}
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(c->db, 10000);
	/* synchronous=FULL: a commit is on disk before the client hears 201. */
	if (sqlite3_exec(c->db,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			 " PRAGMA foreign_keys=ON;",
			 NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	return c;
fail:
	conn_free(c);
	return NULL;
}

/* The calling thread's connection, opened on first use. */
static struct sql_conn *conn_get(struct meta *m)
{
	struct meta_sqlite *ms = (struct meta_sqlite *)m;
	struct sql_conn *c = pthread_getspecific(ms->key);
	if (c)
		return c;
	c = conn_open(ms->path);
	if (c && pthread_setspecific(ms->key, c) != 0) {
		conn_free(c);
		c = NULL;
	}
	return c;
}

static int map_rc(int rc)
{
	switch (rc) {
	case SQLITE_ROW:
	case SQLITE_DONE:
	case SQLITE_OK:
		return 0;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_FULL:
		return -ENOSPC;
	default:
		return -EIO;
	}
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql, unsigned flags)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(db, sql, -1, flags, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "depot: sqlite prepare: %s\n", sqlite3_errmsg(db));
		return NULL;
	}
	return st;
}

/* Runs BEGIN IMMEDIATE, COMMIT or ROLLBACK (prepared once per connection). */
static int tx_exec(struct sql_conn *c, int which)
{
	if (!c->tx[which] && !(c->tx[which] = prepare(c->db, tx_sql[which],
						     SQLITE_PREPARE_PERSISTENT)))
		return -EIO;
	int rc = sqlite3_step(c->tx[which]);
	sqlite3_reset(c->tx[which]);
	return rc == SQLITE_DONE ? 0 : map_rc(sqlite3_extended_errcode(c->db) & 0xff);
}

static bool sl_in_tx(struct sql_conn *c)
{
	return sqlite3_get_autocommit(c->db) == 0;
}

/* BEGIN IMMEDIATE takes SQLite's write lock at once: one writer at a time. */
static int sl_begin(struct sql_conn *c)
{
	return tx_exec(c, TX_BEGIN);
}

static int sl_end(struct sql_conn *c, bool commit)
{
	return tx_exec(c, commit ? TX_COMMIT : TX_ROLLBACK);
}

static int sl_run(struct sql_conn *c, int id, const char *sql, const struct sql_arg *args,
		  int nargs, struct sql_rows **out)
{
	struct sqlite_rows *r;
	if (id >= 0) {
		r = &c->cache[id];
		if (!r->st && !(r->st = prepare(c->db, sql, SQLITE_PREPARE_PERSISTENT)))
			return -EIO;
		sqlite3_clear_bindings(r->st);
	} else {
		if (!(r = calloc(1, sizeof(*r))))
			return -ENOMEM;
		if (!(r->st = prepare(c->db, sql, 0))) {
			free(r);
			return -EIO;
		}
		r->dynamic = true;
	}
	r->head.d = &sqlite_driver;
	r->db = c->db;
	for (int i = 0; i < nargs; i++) {
		const struct sql_arg *a = &args[i];
		if (a->type == SQL_INT)
			sqlite3_bind_int64(r->st, i + 1, a->i);
		else if (a->type == SQL_BLOB)
			sqlite3_bind_blob64(r->st, i + 1, a->p, (sqlite3_uint64)a->len, SQLITE_STATIC);
		else if (a->p)
			sqlite3_bind_text(r->st, i + 1, a->p, -1, SQLITE_STATIC);
	}
	*out = &r->head;
	return 0;
}

static int sl_next(struct sql_rows *rows)
{
	struct sqlite_rows *r = (struct sqlite_rows *)rows;
	int rc = sqlite3_step(r->st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : map_rc(sqlite3_extended_errcode(r->db) & 0xff);
}

static int64_t sl_col_int(struct sql_rows *rows, int col)
{
	return sqlite3_column_int64(((struct sqlite_rows *)rows)->st, col);
}

static const char *sl_col_text(struct sql_rows *rows, int col)
{
	return (const char *)sqlite3_column_text(((struct sqlite_rows *)rows)->st, col);
}

static const void *sl_col_blob(struct sql_rows *rows, int col, size_t *len)
{
	sqlite3_stmt *st = ((struct sqlite_rows *)rows)->st;
	const void *p = sqlite3_column_blob(st, col);
	*len = (size_t)sqlite3_column_bytes(st, col);
	return p;
}

static int64_t sl_changes(struct sql_rows *rows)
{
	return sqlite3_changes64(((struct sqlite_rows *)rows)->db);
}

static void sl_finish(struct sql_rows *rows)
{
	struct sqlite_rows *r = (struct sqlite_rows *)rows;
	if (r->dynamic) {
		sqlite3_finalize(r->st);
		free(r);
	} else {
		sqlite3_reset(r->st);
	}
}

/* What an epochs read stays good for: only writers outside depot (an operator's SQL) go
 * uncounted, and they are seen within this. */
#define EPOCHS_MAX_AGE_MS 100

/* Writes counted where every depot process on the database sees them (the CLI's by the
 * server's next request): a file beside it, "<path>-changes", mapped shared. NULL when
 * it cannot be (the store then counts its own only). */
static struct write_counts *counts_map(const char *db_path)
{
	char path[PATH_MAX];
	if (!*db_path || *db_path == ':' ||
	    snprintf(path, sizeof(path), "%s-changes", db_path) >= (int)sizeof(path))
		return NULL;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return NULL;
	struct stat st;
	void *p = MAP_FAILED;
	size_t len = sizeof(struct write_counts);
	if (fstat(fd, &st) == 0 && (st.st_size >= (off_t)len || ftruncate(fd, (off_t)len) == 0))
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

static void ms_close(struct meta *m)
{
	struct meta_sqlite *ms = (struct meta_sqlite *)m;
	if (!ms)
		return;
	if (ms->store.counts && ms->store.counts != &ms->store.own_counts)
		munmap(ms->store.counts, sizeof(struct write_counts));
	conn_free(pthread_getspecific(ms->key));
	pthread_setspecific(ms->key, NULL);
	pthread_key_delete(ms->key);
	free(ms->path);
	free(ms);
}

static const struct sql_driver sqlite_driver = {
	.dialect = SQL_SQLITE,
	.conn = conn_get,
	.in_tx = sl_in_tx,
	.begin = sl_begin,
	.end = sl_end,
	.run = sl_run,
	.next = sl_next,
	.col_int = sl_col_int,
	.col_text = sl_col_text,
	.col_blob = sl_col_blob,
	.changes = sl_changes,
	.finish = sl_finish,
	.close = ms_close,
};

static int user_version(sqlite3 *db, int *out)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	int ret = sqlite3_step(st) == SQLITE_ROW ? 0 : -EIO;
	if (ret == 0)
		*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return ret;
}

/* Are the foreign keys intact? The rebuilds run with them off. */
static int foreign_keys_ok(sqlite3 *db)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : rc == SQLITE_ROW ? -EBADMSG : -EIO;
}

/* Brings the schema to meta_schema_version: the pending migrations in one IMMEDIATE
 * transaction (concurrent openers wait, then find nothing left to do). On failure *err
 * says why, in storage that lives until the thread's next call. */
static int migrate(sqlite3 *db, const char **err)
{
	static _Thread_local char msg[256];
	int version = 0, ret = -EIO;
	/* Up to date, the common case: no write lock taken. */
	if (user_version(db, &version) == 0 && version == meta_schema_version)
		return 0;
	/* foreign_keys cannot change inside a transaction: off before it, on after it. */
	if (sqlite3_exec(db, "PRAGMA foreign_keys=OFF; BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		snprintf(msg, sizeof(msg), "cannot read the schema: %s", sqlite3_errmsg(db));
		goto out;
	}
	if (user_version(db, &version) != 0) {
		snprintf(msg, sizeof(msg), "cannot read the schema version: %s", sqlite3_errmsg(db));
		goto rollback;
	}
	if (version > meta_schema_version) {
		snprintf(msg, sizeof(msg),
			 "its schema is version %d, this depot knows versions up to %d: use a newer depot",
			 version, meta_schema_version);
		ret = -EPROTO;
		goto rollback;
	}
	for (int i = version; i < meta_schema_version; i++) {
		char set[48];
		snprintf(set, sizeof(set), "PRAGMA user_version = %d", meta_migrations[i].version);
		if (sqlite3_exec(db, meta_migrations[i].sqlite, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, set, NULL, NULL, NULL) != SQLITE_OK) {
			snprintf(msg, sizeof(msg), "cannot migrate the schema to version %d: %s",
				 meta_migrations[i].version, sqlite3_errmsg(db));
			goto rollback;
		}
	}
	if ((ret = foreign_keys_ok(db)) != 0) {
		snprintf(msg, sizeof(msg), "the schema migration broke a foreign key; nothing changed");
		goto rollback;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(msg, sizeof(msg), "cannot commit the schema: %s", sqlite3_errmsg(db));
		ret = -EIO;
		goto rollback;
	}
	ret = 0;
	goto out;
rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
	if (sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL) != SQLITE_OK && ret == 0) {
		snprintf(msg, sizeof(msg), "cannot turn foreign keys back on");
		ret = -EIO;
	}
	if (ret != 0)
		*err = msg;
	return ret;
}

struct meta *meta_sqlite_open(const char *path, const char **err)
{
	/* Memory statistics take a global mutex on every allocation: contention across the
	 * server's threads for a number nobody reads. Must precede initialization. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	struct meta_sqlite *ms = calloc(1, sizeof(*ms));
	if (!ms || !(ms->path = strdup(path))) {
		free(ms);
		*err = "out of memory";
		return NULL;
	}
	if (pthread_key_create(&ms->key, conn_free) != 0) {
		free(ms->path);
		free(ms);
		*err = "pthread_key_create failed";
		return NULL;
	}
	if (msql_store_init(&ms->store, &sqlite_driver) != 0) {
		ms_close(&ms->store.base);
		*err = "out of memory";
		return NULL;
	}
	struct write_counts *shared = counts_map(path);
	if (shared)
		ms->store.counts = shared;
	ms->store.epochs_max_age_ms = EPOCHS_MAX_AGE_MS;
	struct sql_conn *c = conn_get(&ms->store.base);
	if (!c) {
		*err = "cannot open the database";
		ms->store.base.ops->close(&ms->store.base);
		return NULL;
	}
	if (migrate(c->db, err) != 0) {
		ms->store.base.ops->close(&ms->store.base);
		return NULL;
	}
	return &ms->store.base;
}
