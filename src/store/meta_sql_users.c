/* The users area's SQL operations (GET/POST/DELETE /users, GET /namespaces), over the
 * statements-by-text helpers of meta_sql.h, the same text for SQLite and PostgreSQL
 * except where a case-insensitive comparison or a string function differs. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "meta_sql.h"

/* Substring tests: SQLite has instr(), PostgreSQL strpos(); both compare lower-cased. */
#define HAS(fn, col, param) fn "(lower(" col "), lower(" param ")) > 0"

/* ?1 username, ?2 search, ?3 search emails too, ?4 humans only, ?5 bots only, ?6 admins
 * only. SQLite's username column is COLLATE NOCASE; PostgreSQL's index is on lower(). */
#define USERS_WHERE(eq_username, fn)                                                        \
	" WHERE (?1 IS NULL OR " eq_username ")"                                            \
	" AND (?2 IS NULL OR " HAS(fn, "username", "?2") " OR " HAS(fn, "name", "?2")       \
	" OR (?3 = 1 AND " HAS(fn, "email", "?2") "))"                                      \
	" AND (?4 = 0 OR bot = 0) AND (?5 = 0 OR bot = 1) AND (?6 = 0 OR is_admin = 1)"
#define USERS_WHERE_SQLITE USERS_WHERE("username = ?1", "instr")
#define USERS_WHERE_PG USERS_WHERE("lower(username) = lower(?1)", "strpos")

static const struct stmt_text users_count = {
	"SELECT COUNT(*) FROM users" USERS_WHERE_SQLITE,
	"SELECT COUNT(*) FROM users" USERS_WHERE_PG,
};

struct each_user {
	int (*cb)(void *ctx, const struct meta_user *u);
	void *ctx;
};

static int each_user(void *ctx, struct sql_rows *r)
{
	struct each_user *e = ctx;
	struct meta_user u;
	msql_decode_user(r, &u);
	return e->cb(e->ctx, &u);
}

int msql_users_list(struct meta *m, const struct user_query *q,
		    int (*cb)(void *ctx, const struct meta_user *u), void *ctx, int64_t *total)
{
	static const char *const order_cols[] = {"id", "name", "username", "created_at"};
	struct sql_arg a[] = {SQLT(q->username),	 SQLT(q->search),
			      SQLI(q->search_email),	 SQLI(q->humans),
			      SQLI(q->bots),		 SQLI(q->admins),
			      SQLI(q->limit > 0 ? q->limit : INT64_MAX), SQLI(q->offset)};
	int ret = 0;
	if (total && (ret = msql_int(m, &users_count, a, 6, total)) != 0)
		return ret;
	/* the order is one of a few fixed texts: never the client's */
	const char *dir = q->desc ? "DESC" : "ASC";
	const char *col = order_cols[(unsigned)q->order < 4 ? q->order : 0];
	char sqlite[1024], pg[1024];
	snprintf(sqlite, sizeof(sqlite),
		 "SELECT " MSQL_USER_COLS " FROM users" USERS_WHERE_SQLITE
		 " ORDER BY %s %s, id %s LIMIT ?7 OFFSET ?8", col, dir, dir);
	snprintf(pg, sizeof(pg),
		 "SELECT " MSQL_USER_COLS " FROM users" USERS_WHERE_PG
		 " ORDER BY %s %s, id %s LIMIT ?7 OFFSET ?8", col, dir, dir);
	struct stmt_text st = {sqlite, pg};
	struct each_user e = {cb, ctx};
	return msql_each(m, &st, a, SQLN(a), each_user, &e);
}

static const struct stmt_text email_taken = {
	.sql = "SELECT COUNT(*) FROM users WHERE lower(email) = lower(?1)"};
static const struct stmt_text username_taken = {
	"SELECT (SELECT COUNT(*) FROM users WHERE username = ?1)"
	" + (SELECT COUNT(*) FROM groups WHERE path = ?1)",
	"SELECT (SELECT COUNT(*) FROM users WHERE lower(username) = lower(?1))"
	" + (SELECT COUNT(*) FROM groups WHERE lower(path) = lower(?1))"};

int msql_user_add(struct meta *m, struct meta_user *u, bool *email_taken_out)
{
	bool own;
	int64_t n = 0;
	*email_taken_out = false;
	int ret = msql_tx_begin(m, &own);
	struct sql_arg e[] = {SQLT(u->email)}, n_arg[] = {SQLT(u->username)};
	if (ret == 0 && (ret = msql_int(m, &email_taken, e, 1, &n)) == 0 && n > 0) {
		*email_taken_out = true;
		ret = -EEXIST;
	}
	if (ret == 0 && (ret = msql_int(m, &username_taken, n_arg, 1, &n)) == 0 && n > 0)
		ret = -EEXIST;
	if (ret == 0)
		ret = m->ops->user_create(m, u); /* joins this transaction */
	return msql_tx_end(m, own, ret);
}

static const struct stmt_text personal_namespace = {
	.sql = "SELECT " MSQL_GROUP_COLS " FROM groups WHERE owner_id = ?1 AND pending_delete = 0"};

int msql_user_namespace(struct meta *m, int64_t user_id, struct meta_group *out)
{
	struct sql_arg a[] = {SQLI(user_id)};
	return msql_one(m, &personal_namespace, a, 1, msql_decode_group, out);
}

/* Groups (not personal namespaces) the user owns directly where no one else is an Owner,
 * directly or on an ancestor. */
static const struct stmt_text sole_owned = {
	.sql = "WITH RECURSIVE owned(gid) AS (SELECT mb.group_id FROM members mb"
	" JOIN groups g ON g.id = mb.group_id WHERE mb.user_id = ?1 AND mb.project_id = 0"
	" AND mb.access_level >= 50 AND g.owner_id = 0 AND g.pending_delete = 0),"
	" up(gid, aid) AS (SELECT gid, gid FROM owned UNION SELECT up.gid, g.parent_id"
	" FROM up JOIN groups g ON g.id = up.aid WHERE g.parent_id IS NOT NULL)"
	" SELECT COUNT(*) FROM owned WHERE NOT EXISTS (SELECT 1 FROM up JOIN members o"
	" ON o.group_id = up.aid AND o.project_id = 0 WHERE up.gid = owned.gid"
	" AND o.user_id != ?1 AND o.access_level >= 50)"};
static const struct stmt_text user_exists = {.sql = "SELECT COUNT(*) FROM users WHERE id = ?1"};
static const struct stmt_text ns_projects = {
	.sql = "SELECT COUNT(*) FROM projects WHERE group_id = ?1 AND pending_delete = ?2"};
/* Projects pending deletion still name the namespace: it goes the way they go. */
static const struct stmt_text ns_retire = {
	.sql = "UPDATE groups SET pending_delete = 1,"
	" path = path || '-deletion_scheduled-' || id WHERE id = ?1"};
static const struct stmt_text ns_drop[] = {
	{.sql = "DELETE FROM namespace_package_settings WHERE group_id = ?1"},
	{.sql = "DELETE FROM members WHERE group_id = ?1 AND project_id = 0"},
	{.sql = "DELETE FROM groups WHERE id = ?1"},
};
static const struct stmt_text user_drop[] = {
	{.sql = "DELETE FROM members WHERE user_id = ?1"},
	{.sql = "UPDATE tokens SET revoked = 1 WHERE user_id = ?1"},
	{.sql = "UPDATE members SET created_by = 0 WHERE created_by = ?1"},
	{.sql = "UPDATE users SET created_by = 0 WHERE created_by = ?1"},
	{.sql = "DELETE FROM users WHERE id = ?1"},
};

static int namespace_drop(struct meta *m, const struct meta_group *ns)
{
	struct sql_arg live[] = {SQLI(ns->id), SQLI(0)}, pending[] = {SQLI(ns->id), SQLI(1)};
	int64_t n = 0;
	int ret = msql_int(m, &ns_projects, live, 2, &n);
	if (ret != 0)
		return ret;
	if (n > 0)
		return -ENOTEMPTY;
	if ((ret = msql_int(m, &ns_projects, pending, 2, &n)) != 0)
		return ret;
	if (n > 0)
		return msql_exec(m, &ns_retire, live, 1, NULL);
	for (size_t i = 0; ret == 0 && i < sizeof(ns_drop) / sizeof(ns_drop[0]); i++)
		ret = msql_exec(m, &ns_drop[i], live, 1, NULL);
	return ret;
}

int msql_user_delete(struct meta *m, int64_t user_id)
{
	bool own;
	struct sql_arg a[] = {SQLI(user_id)};
	int64_t n = 0;
	struct meta_group ns;
	int ret = msql_tx_begin(m, &own);
	if (ret == 0 && (ret = msql_int(m, &user_exists, a, 1, &n)) == 0 && n == 0)
		ret = -ENOENT;
	if (ret == 0 && (ret = msql_int(m, &sole_owned, a, 1, &n)) == 0 && n > 0)
		ret = -EBUSY;
	if (ret == 0) {
		ret = msql_user_namespace(m, user_id, &ns);
		if (ret == 0)
			ret = namespace_drop(m, &ns);
		else if (ret == -ENOENT) /* a bot */
			ret = 0;
	}
	for (size_t i = 0; ret == 0 && i < sizeof(user_drop) / sizeof(user_drop[0]); i++)
		ret = msql_exec(m, &user_drop[i], a, 1, NULL);
	return msql_tx_end(m, own, ret);
}

/* ?1 user, ?2 all, ?3 minimum level, ?4 search, ?5 top level only. The last path
 * segment: SQLite has no split function, PostgreSQL has regexp_replace. */
#define NS_FROM(fn, last_segment)                                                          \
	"WITH RECURSIVE mine(id) AS (SELECT group_id FROM members WHERE user_id = ?1"      \
	" AND project_id = 0 AND group_id != 0 AND access_level >= ?3"                     \
	" UNION SELECT g.id FROM groups g JOIN mine ON g.parent_id = mine.id)"             \
	" SELECT %s FROM groups WHERE pending_delete = 0"                                  \
	" AND (?2 = 1 OR id IN (SELECT id FROM mine) OR (?1 != 0 AND owner_id = ?1))"      \
	" AND (?4 IS NULL OR " HAS(fn, last_segment, "?4") " OR " HAS(fn, "name", "?4") ")" \
	" AND (?5 = 0 OR parent_id IS NULL)"
#define NS_SQLITE NS_FROM("instr", "replace(path, rtrim(path, replace(path, '/', '')), '')")
#define NS_PG NS_FROM("strpos", "regexp_replace(path, '^.*/', '')")

struct each_group {
	int (*cb)(void *ctx, const struct meta_group *g);
	void *ctx;
};

static int each_group(void *ctx, struct sql_rows *r)
{
	struct each_group *e = ctx;
	struct meta_group g;
	msql_decode_group(r, &g);
	return e->cb(e->ctx, &g);
}

int msql_namespaces_list(struct meta *m, const struct namespace_query *q,
			 int (*cb)(void *ctx, const struct meta_group *g), void *ctx,
			 int64_t *total)
{
	struct sql_arg a[] = {SQLI(q->user_id),
			      SQLI(q->all),
			      SQLI(q->min_level ? q->min_level : ACCESS_GUEST),
			      SQLT(q->search),
			      SQLI(q->top_level_only),
			      SQLI(q->limit > 0 ? q->limit : INT64_MAX),
			      SQLI(q->offset)};
	char sqlite[2048], pg[2048];
	int ret = 0;
	if (total) {
		snprintf(sqlite, sizeof(sqlite), NS_SQLITE, "COUNT(*)");
		snprintf(pg, sizeof(pg), NS_PG, "COUNT(*)");
		struct stmt_text count = {sqlite, pg};
		if ((ret = msql_int(m, &count, a, 5, total)) != 0)
			return ret;
	}
	snprintf(sqlite, sizeof(sqlite), NS_SQLITE " ORDER BY id LIMIT ?6 OFFSET ?7",
		 MSQL_GROUP_COLS);
	snprintf(pg, sizeof(pg), NS_PG " ORDER BY id LIMIT ?6 OFFSET ?7", MSQL_GROUP_COLS);
	struct stmt_text st = {sqlite, pg};
	struct each_group e = {cb, ctx};
	return msql_each(m, &st, a, SQLN(a), each_group, &e);
}
