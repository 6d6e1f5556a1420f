/* What the SQL metadata stores share (meta_sql.c, meta_schema.c): the statements, written
 * once with ?N placeholders, the row decoding and every operation of struct meta_ops, over a
 * small driver that each backend (meta_sqlite.c, meta_pg.c) implements: a per-thread
 * connection, transactions holding the store's write lock, and a cursor with column
 * accessors. Not public: only the backends include it, and migrate_store.c,
 * which copies rows from one to the other through it. */
#ifndef DEPOT_META_SQL_H
#define DEPOT_META_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"

enum sql_dialect { SQL_SQLITE, SQL_PG };

/* One bound argument: an integer, text (NULL text is SQL NULL) or bytes. */
enum sql_type { SQL_INT, SQL_TEXT, SQL_BLOB };
struct sql_arg {
	enum sql_type type;
	int64_t i;
	const void *p;
	size_t len;
};

/* The head of a backend's cursor: a statement being run, its rows, then its outcome. */
struct sql_rows {
	const struct sql_driver *d;
};

struct sql_conn; /* a backend's per-thread connection */

/* Errors are negative errno values: -EEXIST for a violated constraint, -EDEADLK for a
 * transaction the database gave up on (to be retried), -EAGAIN when the database cannot
 * be reached (the connection is lost, or cannot be opened: 503), -ENOSPC, -EIO for the
 * rest. */
struct sql_driver {
	enum sql_dialect dialect;
	/* The calling thread's connection, opened on first use; NULL when unreachable. */
	struct sql_conn *(*conn)(struct meta *m);
	bool (*in_tx)(struct sql_conn *c);
	/* A write transaction holding the store's write lock (one writer at a time). */
	int (*begin)(struct sql_conn *c);
	/* Commits (commit) or rolls back what begin started. */
	int (*end)(struct sql_conn *c, bool commit);
	/* Starts statement id (its text sql; id -1 for one built at run time, not cached)
	 * with args; *out is then read with next/col_* and released with finish. */
	int (*run)(struct sql_conn *c, int id, const char *sql, const struct sql_arg *args,
		   int nargs, struct sql_rows **out);
	/* 1: a row is ready, 0: no more rows, < 0: the statement failed. */
	int (*next)(struct sql_rows *r);
	int64_t (*col_int)(struct sql_rows *r, int col);
	const char *(*col_text)(struct sql_rows *r, int col); /* NULL for SQL NULL */
	const void *(*col_blob)(struct sql_rows *r, int col, size_t *len);
	/* The rows a finished INSERT, UPDATE or DELETE changed. */
	int64_t (*changes)(struct sql_rows *r);
	void (*finish)(struct sql_rows *r);
	void (*close)(struct meta *m);
};

/* The head of a backend's struct meta: base.ops is &meta_sql_ops. */
struct sql_store {
	struct meta base;
	const struct sql_driver *d;
};

extern const struct meta_ops meta_sql_ops;
extern const int meta_sql_nstmts; /* statement ids run from 0 to this, exclusive */

/* Schema versions, one numbering for both dialects (meta_schema.c): version i + 1 is
 * meta_migrations[i]; a schema change is a new entry at the end, never an edit. */
struct meta_migration {
	int version;
	const char *sqlite;
	const char *pg;
};
extern const struct meta_migration meta_migrations[];

#endif
