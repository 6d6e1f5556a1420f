/* What the SQL metadata stores share (meta_sql.c, meta_schema.c): the statements, written
 * once with ?N placeholders, the row decoding and every operation of struct meta_ops, over a
 * small driver that each backend (meta_sqlite.c, meta_pg.c) implements: a per-thread
 * connection, transactions holding the store's write lock, and a cursor with column
 * accessors. Not public: only the backends include it, and migrate_store.c,
 * which copies rows from one to the other through it. */
#ifndef DEPOT_META_SQL_H
#define DEPOT_META_SQL_H

#include <pthread.h>
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

/* Committed writes to what is kept between requests, by kind: the tables the auth epoch
 * covers and those the content epoch covers. A process's own count, or one shared by
 * every process on the same database (a mapped file: meta_sqlite.c). */
struct write_counts {
	_Atomic uint64_t auth, content;
};

/* The head of a backend's struct meta: base.ops is &meta_sql_ops. */
struct sql_store {
	struct meta base;
	const struct sql_driver *d;
	struct dl_cache *downloads; /* download lookups between requests; NULL: none */
	/* Where writes are counted: &own_counts, or the backend's shared ones. What a counted
	 * write changed is seen by the next request; the epochs, read at most
	 * epochs_max_age_ms before (0: by every request), are how other writers are seen. */
	struct write_counts *counts;
	struct write_counts own_counts;
	int64_t epochs_max_age_ms;
	/* The auth and content epochs as last read (meta_sql.c's epochs_now), and when, by the
	 * monotonic clock; under epochs_lock. */
	pthread_mutex_t epochs_lock;
	int64_t epochs[2];
	int64_t epochs_read_ms; /* 0: never */
};

/* Sets up what every backend's store has; -ENOMEM. meta_sql_ops.close releases it. */
int msql_store_init(struct sql_store *s, const struct sql_driver *d);

extern const struct meta_ops meta_sql_ops;

/* A statement's text; pg where PostgreSQL's differs. Placeholders are ?N (the PostgreSQL
 * driver turns them into $N); ids come back through RETURNING, which both have. */
struct stmt_text {
	const char *sql;
	const char *pg;
};

/* For the operations kept in files of their own (meta_sql_*.c): a statement run by its
 * dialect's text (prepared on each run: none of them is on a hot path), over the same
 * driver and transactions as meta_sql.c's. Same errors: -ENOENT for no row (msql_one,
 * msql_int), -EEXIST for a violated constraint, -EAGAIN unreachable. */
#define SQLI(v) {.type = SQL_INT, .i = (v)}
#define SQLT(v) {.type = SQL_TEXT, .p = (v)}
#define SQLN(a) ((int)(sizeof(a) / sizeof((a)[0])))
typedef void (*msql_row_fn)(struct sql_rows *r, void *out);
int msql_one(struct meta *m, const struct stmt_text *st, const struct sql_arg *a, int n,
	     msql_row_fn decode, void *out);
int msql_int(struct meta *m, const struct stmt_text *st, const struct sql_arg *a, int n,
	     int64_t *out);
/* An INSERT ... RETURNING id. */
int msql_insert(struct meta *m, const struct stmt_text *st, const struct sql_arg *a, int n,
		int64_t *id_out);
/* each(ctx, row) per row; a non-zero return stops the walk and is returned. */
int msql_each(struct meta *m, const struct stmt_text *st, const struct sql_arg *a, int n,
	      int (*each)(void *ctx, struct sql_rows *r), void *ctx);
/* No rows back; *changes (unless NULL): the rows changed. */
int msql_exec(struct meta *m, const struct stmt_text *st, const struct sql_arg *a, int n,
	      int64_t *changes);
int64_t msql_col_int(struct sql_rows *r, int col);
void msql_col_copy(struct sql_rows *r, int col, char *dst, size_t cap);
/* A write transaction, or the one this thread is in (meta_ops.locked): end commits when ret
 * is 0 and the transaction is this call's own, rolls back otherwise, and returns ret or the
 * commit's failure. */
int msql_tx_begin(struct meta *m, bool *own);
int msql_tx_end(struct meta *m, bool own, int ret);

/* The columns the user, group, project and token decoders read, in their order. */
#define MSQL_USER_COLS "id, username, is_admin, name, email, bot, created_by, created_at"
#define MSQL_GROUP_COLS "id, COALESCE(parent_id, 0), path, visibility, name, description, owner_id," \
		   " project_creation_level, subgroup_creation_level, created_at"
#define MSQL_PROJECT_COLS "id, group_id, path, visibility, name, description, packages_enabled," \
		     " creator_id, created_at, updated_at"
#define MSQL_TOKEN_COLS "id, kind, token_sha256, name, username, user_id, project_id, group_id," \
		   " scopes, expires_at, revoked, description, created_at, last_used_at, previous_id," \
		   " sessions_after"
/* Their row decoders. */
void msql_decode_user(struct sql_rows *r, void *out);
void msql_decode_group(struct sql_rows *r, void *out);
void msql_decode_project(struct sql_rows *r, void *out);
void msql_decode_token(struct sql_rows *r, void *out);
extern const int meta_sql_nstmts; /* statement ids run from 0 to this, exclusive */

/* ---- The REST resources' operations (meta_sql_<area>.c), each area in its section ---- */
/* users (meta_sql_users.c) */
int msql_users_list(struct meta *m, const struct user_query *q,
		    int (*cb)(void *ctx, const struct meta_user *u), void *ctx, int64_t *total);
int msql_user_add(struct meta *m, struct meta_user *u, bool *email_taken);
int msql_user_namespace(struct meta *m, int64_t user_id, struct meta_group *out);
int msql_user_delete(struct meta *m, int64_t user_id);
int msql_namespaces_list(struct meta *m, const struct namespace_query *q,
			 int (*cb)(void *ctx, const struct meta_group *g), void *ctx,
			 int64_t *total);

/* groups, namespaces and projects (meta_sql_projects.c) */
int msql_groups_list(struct meta *m, const struct group_query *q, meta_group_cb cb, void *ctx,
		     int64_t *total);
int msql_projects_list(struct meta *m, const struct project_query *q, meta_project_cb cb,
		       void *ctx, int64_t *total);
int msql_group_add(struct meta *m, struct meta_group *g, int64_t owner_user_id,
		   unsigned *taken);
int msql_group_update(struct meta *m, const struct meta_group *g, unsigned *taken);
int msql_group_delete(struct meta *m, int64_t group_id);
int msql_group_children_visibility(struct meta *m, int64_t group_id, int *subgroups,
				   int *projects);
int msql_project_add(struct meta *m, struct meta_project *p, unsigned *taken);
int msql_project_update(struct meta *m, struct meta_project *p, unsigned *taken);
int msql_project_delete(struct meta *m, int64_t project_id);
int msql_project_levels(struct meta *m, int64_t user_id, int64_t project_id,
			enum access_level *direct, enum access_level *via_groups);

/* members (meta_sql_members.c) */
int msql_members_list(struct meta *m, int64_t project_id, int64_t group_id, bool inherited,
		      int64_t user_id, meta_member_cb cb, void *ctx);
int msql_member_add(struct meta *m, struct meta_member *mb);
int msql_member_update(struct meta *m, const struct meta_member *mb);
int msql_member_remove(struct meta *m, int64_t user_id, int64_t project_id, int64_t group_id);
int msql_group_owners(struct meta *m, int64_t group_id, int64_t *out);

/* tokens (meta_sql_tokens.c) */
int msql_token_get(struct meta *m, int64_t id, struct meta_token *out);
int msql_tokens_list(struct meta *m, const struct token_query *q,
		     int (*cb)(void *ctx, const struct meta_token *t), void *ctx, int64_t *total);
int msql_token_revoke_active(struct meta *m, int64_t id);
int msql_token_delete(struct meta *m, int64_t id);
int msql_token_touch(struct meta *m, int64_t id, int64_t now_ms, int64_t since_ms);
int msql_token_end_sessions(struct meta *m, int64_t id, int64_t upto_s);

/* ---- end of the REST resources ---- */

/* Schema versions, one numbering for both dialects (meta_schema.c): version i + 1 is
 * meta_migrations[i]; a schema change is a new entry at the end, never an edit. */
struct meta_migration {
	int version;
	const char *sqlite;
	const char *pg;
};
extern const struct meta_migration meta_migrations[];

#endif
