/* The PostgreSQL metadata store over libpq: one connection per thread (opened on first use,
 * opened again after the server went away), statements prepared once per connection,
 * writes in transactions holding one advisory lock. The statements and operations are
 * meta_sql.c's; this file is their driver, and applies or checks the schema.
 *
 * Transactions: every transaction the store opens (publishes, group commits, deletes,
 * locked(), each batch of the sweep) first takes the transaction-scoped advisory lock
 * WRITE_LOCK, which PostgreSQL frees at COMMIT or ROLLBACK, however the client ends. Writers
 * of every process then take turns as SQLite's BEGIN IMMEDIATE makes them take turns in
 * one: the duplicate check and the version's creation see every earlier upload, a sweep
 * never runs while another process links or records content, and nothing can deadlock.
 * Reads take no lock. The unique index packages_live stays the last word; a publish it
 * (or the server) refuses as a conflict is retried by meta_sql.c. */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta_sql.h"

/* Advisory lock keys ("depot" and "depotm" in ASCII), the same in every depot process. */
#define WRITE_LOCK "109342069878644"
#define MIGRATE_LOCK "27991569888932973"

#define MAX_ARGS 16 /* on the stack; more are allocated */

struct pg_rows {
	struct sql_rows head;
	PGresult *res;
	int row;
	unsigned char *blob; /* the last bytea column read, unescaped */
};

struct sql_conn {
	PGconn *pg;
	bool *prepared; /* by statement id */
	bool in_tx;
};

struct meta_pg {
	struct sql_store store;
	char *conninfo;
	pthread_key_t key;
};

static const struct sql_driver pg_driver;

static void conn_free(void *p)
{
	struct sql_conn *c = p;
	if (!c)
		return;
	PQfinish(c->pg);
	free(c->prepared);
	free(c);
}

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* conninfo: a postgres:// URL or a libpq key=value string. Notices ("already exists,
 * skipping") would go to stderr: not errors, so dropped. */
static PGconn *connect_pg(const char *conninfo)
{
	const char *const keys[] = {"dbname", "fallback_application_name", "client_encoding", NULL};
	const char *const values[] = {conninfo, "depot", "UTF8", NULL};
	PGconn *pg = PQconnectdbParams(keys, values, 1);
	if (pg)
		PQsetNoticeProcessor(pg, ignore_notice, NULL);
	return pg;
}

static struct sql_conn *conn_open(const char *conninfo)
{
	struct sql_conn *c = calloc(1, sizeof(*c));
	if (!c || !(c->prepared = calloc((size_t)meta_sql_nstmts, sizeof(bool)))) {
		free(c);
		return NULL;
	}
	c->pg = connect_pg(conninfo);
	if (PQstatus(c->pg) != CONNECTION_OK) {
		fprintf(stderr, "depot: postgresql: %s", PQerrorMessage(c->pg));
		conn_free(c);
		return NULL;
	}
	return c;
}

/* Has the server closed this idle connection (a restart, an administrator)? Nothing is
 * due on an idle connection: anything to read is its goodbye (or, rarely, a notice; a new
 * connection costs little then). One poll() without waiting. */
static bool conn_gone(struct sql_conn *c)
{
	struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};
	return PQstatus(c->pg) != CONNECTION_OK || p.fd < 0 || poll(&p, 1, 0) != 0;
}

/* The calling thread's connection, opened on first use and again when the server has
 * closed it; never replaced inside a transaction (the operation fails instead). */
static struct sql_conn *conn_get(struct meta *m)
{
	struct meta_pg *mp = (struct meta_pg *)m;
	struct sql_conn *c = pthread_getspecific(mp->key);
	if (c && (c->in_tx || !conn_gone(c)))
		return c;
	if (c) {
		pthread_setspecific(mp->key, NULL);
		conn_free(c);
	}
	c = conn_open(mp->conninfo);
	if (c && pthread_setspecific(mp->key, c) != 0) {
		conn_free(c);
		c = NULL;
	}
	return c;
}

/* A failed statement's errno: constraint violations are -EEXIST (as SQLite's), a
 * transaction the server gave up on (serialization failure, deadlock) -EDEADLK, a lost
 * connection or a server shutting down or starting -EAGAIN (503: try again). */
static int map_error(struct sql_conn *c, const PGresult *res)
{
	if (PQstatus(c->pg) != CONNECTION_OK)
		return -EAGAIN;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (!state)
		return -EIO;
	if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
	    strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0)
		return -EAGAIN;
	if (strncmp(state, "23", 2) == 0)
		return -EEXIST;
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return -EDEADLK;
	if (strcmp(state, "53100") == 0)
		return -ENOSPC;
	return -EIO;
}

/* Takes res: 0 when it is the outcome wanted, else the error (logged unless a conflict). */
static int check(struct sql_conn *c, PGresult *res, bool keep)
{
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (!keep)
			PQclear(res);
		return 0;
	}
	int ret = map_error(c, res);
	if (ret != -EEXIST)
		fprintf(stderr, "depot: postgresql: %s",
			res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg));
	PQclear(res);
	return ret;
}

static int simple(struct sql_conn *c, const char *sql)
{
	return check(c, PQexec(c->pg, sql), false);
}

static bool pg_in_tx(struct sql_conn *c)
{
	return c->in_tx;
}

/* The write lock: see the top of this file. */
static int pg_begin(struct sql_conn *c)
{
	int ret = simple(c, "BEGIN; SELECT pg_advisory_xact_lock(" WRITE_LOCK ")");
	if (ret == 0)
		c->in_tx = true;
	else if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		simple(c, "ROLLBACK");
	return ret;
}

static int pg_end(struct sql_conn *c, bool commit)
{
	c->in_tx = false;
	/* COMMIT of a failed transaction "succeeds" as a rollback: not a commit. */
	if (commit && PQtransactionStatus(c->pg) == PQTRANS_INTRANS)
		return simple(c, "COMMIT");
	simple(c, "ROLLBACK");
	if (!commit)
		return 0;
	return PQstatus(c->pg) != CONNECTION_OK ? -EAGAIN : -EIO;
}

/* The statement in PostgreSQL's terms: placeholders ?N become $N. Caller frees. */
static char *pg_text(const char *sql)
{
	char *t = strdup(sql);
	for (char *p = t; p && *p; p++)
		if (p[0] == '?' && p[1] >= '0' && p[1] <= '9')
			p[0] = '$';
	return t;
}

/* A statement's parameters in libpq's parallel arrays: on the stack for up to MAX_ARGS,
 * else (the audit log's multi-row INSERT) in one allocation. */
struct pg_params {
	const char **values;
	Oid *types;
	int *lengths, *formats;
	char (*ints)[24];
	void *heap;
};

static int params_fill(struct pg_params *pp, const struct sql_arg *args, int nargs)
{
	if (nargs > MAX_ARGS) {
		/* one block, the arrays in falling alignment: pointers, Oids and ints, chars */
		size_t n = (size_t)nargs;
		size_t each = sizeof(pp->values[0]) + sizeof(pp->types[0]) + sizeof(pp->lengths[0]) +
			      sizeof(pp->formats[0]) + sizeof(pp->ints[0]);
		char *block = malloc(n * each);
		if (!block)
			return -ENOMEM;
		pp->heap = block;
		pp->values = (const char **)(void *)block;
		pp->types = (Oid *)(void *)(pp->values + n);
		pp->lengths = (int *)(void *)(pp->types + n);
		pp->formats = pp->lengths + n;
		pp->ints = (char(*)[24])(void *)(pp->formats + n);
	}
	for (int i = 0; i < nargs; i++) {
		const struct sql_arg *a = &args[i];
		pp->lengths[i] = pp->formats[i] = 0;
		if (a->type == SQL_INT) {
			pp->types[i] = 20; /* int8 */
			snprintf(pp->ints[i], sizeof(pp->ints[i]), "%lld", (long long)a->i);
			pp->values[i] = pp->ints[i];
		} else if (a->type == SQL_BLOB) {
			pp->types[i] = 17; /* bytea, sent as binary */
			pp->values[i] = a->len ? a->p : "";
			pp->lengths[i] = (int)a->len;
			pp->formats[i] = 1;
		} else {
			pp->types[i] = 25; /* text */
			pp->values[i] = a->p;
		}
	}
	return 0;
}

/* Runs sql with args: prepared on this connection's first run of id, then by name (its
 * text translated only then); with id -1, once, unnamed. */
static PGresult *pg_exec(struct sql_conn *c, int id, const char *sql, const struct pg_params *pp,
			 int nargs, int *ret)
{
	char name[16];
	char *text = NULL;
	PGresult *res = NULL;
	if ((id < 0 || !c->prepared[id]) && !(text = pg_text(sql))) {
		*ret = -ENOMEM;
		return NULL;
	}
	if (id < 0) {
		res = PQexecParams(c->pg, text, nargs, pp->types, pp->values, pp->lengths,
				   pp->formats, 0);
		goto out;
	}
	snprintf(name, sizeof(name), "s%d", id);
	if (!c->prepared[id] &&
	    (*ret = check(c, PQprepare(c->pg, name, text, nargs, pp->types), false)) != 0)
		goto out;
	c->prepared[id] = true;
	res = PQexecPrepared(c->pg, name, nargs, pp->values, pp->lengths, pp->formats, 0);
out:
	free(text);
	return res;
}

static int pg_run(struct sql_conn *c, int id, const char *sql, const struct sql_arg *args,
		  int nargs, struct sql_rows **out)
{
	Oid types[MAX_ARGS];
	const char *values[MAX_ARGS];
	int lengths[MAX_ARGS], formats[MAX_ARGS];
	char ints[MAX_ARGS][24];
	struct pg_params pp = {values, types, lengths, formats, ints, NULL};
	int ret = params_fill(&pp, args, nargs);
	if (ret != 0)
		return ret;
	PGresult *res = pg_exec(c, id, sql, &pp, nargs, &ret);
	free(pp.heap);
	if (ret != 0 || (ret = check(c, res, true)) != 0)
		return ret;
	struct pg_rows *r = calloc(1, sizeof(*r));
	if (!r) {
		PQclear(res);
		return -ENOMEM;
	}
	r->head.d = &pg_driver;
	r->res = res;
	r->row = -1;
	*out = &r->head;
	return 0;
}

static int pg_next(struct sql_rows *rows)
{
	struct pg_rows *r = (struct pg_rows *)rows;
	return ++r->row < PQntuples(r->res) ? 1 : 0;
}

/* Results come as text: numbers, and booleans (EXISTS) as t or f. */
static int64_t pg_col_int(struct sql_rows *rows, int col)
{
	struct pg_rows *r = (struct pg_rows *)rows;
	const char *v = PQgetvalue(r->res, r->row, col);
	if (v[0] == 't' || v[0] == 'f')
		return v[0] == 't';
	return strtoll(v, NULL, 10);
}

static const char *pg_col_text(struct sql_rows *rows, int col)
{
	struct pg_rows *r = (struct pg_rows *)rows;
	return PQgetisnull(r->res, r->row, col) ? NULL : PQgetvalue(r->res, r->row, col);
}

static const void *pg_col_blob(struct sql_rows *rows, int col, size_t *len)
{
	struct pg_rows *r = (struct pg_rows *)rows;
	PQfreemem(r->blob);
	r->blob = PQunescapeBytea((const unsigned char *)PQgetvalue(r->res, r->row, col), len);
	if (!r->blob)
		*len = 0;
	return r->blob;
}

static int64_t pg_changes(struct sql_rows *rows)
{
	return strtoll(PQcmdTuples(((struct pg_rows *)rows)->res), NULL, 10);
}

static void pg_finish(struct sql_rows *rows)
{
	struct pg_rows *r = (struct pg_rows *)rows;
	PQclear(r->res);
	PQfreemem(r->blob);
	free(r);
}

static void mp_close(struct meta *m)
{
	struct meta_pg *mp = (struct meta_pg *)m;
	if (!mp)
		return;
	conn_free(pthread_getspecific(mp->key));
	pthread_setspecific(mp->key, NULL);
	pthread_key_delete(mp->key);
	free(mp->conninfo);
	free(mp);
}

static const struct sql_driver pg_driver = {
	.dialect = SQL_PG,
	.conn = conn_get,
	.in_tx = pg_in_tx,
	.begin = pg_begin,
	.end = pg_end,
	.run = pg_run,
	.next = pg_next,
	.col_int = pg_col_int,
	.col_text = pg_col_text,
	.col_blob = pg_col_blob,
	.changes = pg_changes,
	.finish = pg_finish,
	.close = mp_close,
};

/* The schema's version: the one row of depot_schema, 0 before the first migration. */
static int schema_version(struct sql_conn *c, int *out)
{
	PGresult *res = PQexec(c->pg, "SELECT to_regclass('depot_schema') IS NOT NULL");
	if (check(c, res, true) != 0)
		return -EIO;
	bool exists = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	*out = 0;
	if (!exists)
		return 0;
	res = PQexec(c->pg, "SELECT COALESCE(MAX(version), 0) FROM depot_schema");
	if (check(c, res, true) != 0)
		return -EIO;
	*out = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* Applies the pending migrations in one transaction, under an advisory lock: a second
 * process migrating at once waits, then finds nothing left to do. *msg says what failed. */
static int migrate(struct sql_conn *c, char *msg, size_t cap)
{
	int version = 0, ret;
	if ((ret = simple(c, "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ");"
			     " CREATE TABLE IF NOT EXISTS depot_schema(version BIGINT NOT NULL)")) != 0 ||
	    (ret = schema_version(c, &version)) != 0) {
		snprintf(msg, cap, "cannot read the schema version: %s", PQerrorMessage(c->pg));
		goto rollback;
	}
	if (version > meta_schema_version) {
		snprintf(msg, cap, "its schema is version %d, this depot knows versions up to %d:"
			 " use a newer depot", version, meta_schema_version);
		ret = -EPROTO;
		goto rollback;
	}
	for (int i = version; i < meta_schema_version; i++)
		if (*meta_migrations[i].pg && (ret = simple(c, meta_migrations[i].pg)) != 0) {
			snprintf(msg, cap, "cannot migrate the schema to version %d: %s",
				 meta_migrations[i].version, PQerrorMessage(c->pg));
			goto rollback;
		}
	char set[96];
	snprintf(set, sizeof(set), "DELETE FROM depot_schema; INSERT INTO depot_schema VALUES(%d)",
		 meta_schema_version);
	if ((ret = simple(c, set)) != 0 || (ret = simple(c, "COMMIT")) != 0) {
		snprintf(msg, cap, "cannot record the schema version: %s", PQerrorMessage(c->pg));
		goto rollback;
	}
	return 0;
rollback:
	simple(c, "ROLLBACK");
	return ret;
}

/* Refuses a password (or the SSL key's) in the connection string: it would show in
 * process listings and in the log. */
static int has_password(const char *conninfo)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	if (!opts) {
		PQfreemem(err);
		return -EINVAL;
	}
	int found = 0;
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if ((strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0) &&
		    o->val && *o->val)
			found = 1;
	PQconninfoFree(opts);
	return found;
}

struct meta *meta_pg_open(const char *conninfo, bool apply_migrations, const char **err)
{
	static _Thread_local char msg[512];
	int pw = has_password(conninfo);
	if (pw != 0) {
		*err = pw < 0 ? "not a PostgreSQL URL or connection string"
			      : "no password in the URL or connection string, please: give it in"
				" PGPASSWORD or a PGPASSFILE (libpq's password file)";
		return NULL;
	}
	struct meta_pg *mp = calloc(1, sizeof(*mp));
	if (!mp || !(mp->conninfo = strdup(conninfo))) {
		free(mp);
		*err = "out of memory";
		return NULL;
	}
	if (pthread_key_create(&mp->key, conn_free) != 0) {
		free(mp->conninfo);
		free(mp);
		*err = "pthread_key_create failed";
		return NULL;
	}
	if (msql_store_init(&mp->store, &pg_driver) != 0) {
		mp_close(&mp->store.base);
		*err = "out of memory";
		return NULL;
	}
	struct sql_conn *c = calloc(1, sizeof(*c));
	if (c && (c->pg = connect_pg(conninfo)) && PQstatus(c->pg) != CONNECTION_OK) {
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c->pg));
		msg[strcspn(msg, "\n")] = '\0';
		goto fail;
	}
	if (!c || !c->pg || !(c->prepared = calloc((size_t)meta_sql_nstmts, sizeof(bool)))) {
		snprintf(msg, sizeof(msg), "out of memory");
		goto fail;
	}
	int version = 0;
	if (apply_migrations) {
		if (migrate(c, msg, sizeof(msg)) != 0)
			goto fail;
	} else if (schema_version(c, &version) != 0) {
		snprintf(msg, sizeof(msg), "cannot read the schema version");
		goto fail;
	} else if (version < meta_schema_version) {
		snprintf(msg, sizeof(msg),
			 "its schema is version %d, this depot needs version %d: run"
			 " depot migrate --meta '%s'", version, meta_schema_version, conninfo);
		goto fail;
	} else if (version > meta_schema_version) {
		snprintf(msg, sizeof(msg),
			 "its schema is version %d, this depot knows versions up to %d:"
			 " use a newer depot", version, meta_schema_version);
		goto fail;
	}
	pthread_setspecific(mp->key, c);
	return &mp->store.base;
fail:
	conn_free(c);
	mp->store.base.ops->close(&mp->store.base);
	*err = msg;
	return NULL;
}
