/* The operations of the SQL metadata stores (see meta_sql.h): every statement, written
 * once, run through the backend's driver. Where SQLite and PostgreSQL need different text
 * the statement has both, side by side, with why. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "dlcache.h"
#include "meta_sql.h"
#include "timeutil.h"

enum stmt_id {
	S_USER_INSERT,
	S_USER_GET,
	S_USER_FIND,
	S_GROUP_INSERT,
	S_GROUP_FIND,
	S_PROJECT_INSERT,
	S_PROJECT_GET,
	S_PROJECT_FIND,
	S_PROJECT_IN_GROUP,
	S_MEMBER_SET,
	S_ACCESS_LEVEL,
	S_TOKEN_INSERT,
	S_TOKEN_DEPLOY_NAME,
	S_TOKEN_FIND,
	S_TOKEN_REVOKE,
	S_PKG_FIND_LIVE,
	S_PKG_INSERT,
	S_PKG_UPDATE,
	S_FILE_INSERT,
	S_FILE_LOOKUP,
	S_PKG_FIND_INSTALLABLE,
	S_PKG_GET,
	S_PKG_VERSIONS,
	S_FILE_GET,
	S_PKG_DESTROY,
	S_PKG_FILES_DESTROY,
	S_FILES_DESTROY,
	S_PKG_DROP_EMPTY,
	S_GROUP_PROJECTS,
	S_GROUP_GET,
	S_GROUP_ACCESS,
	S_SWEEP_SELECT,
	S_SWEEP_DELETE_FILES,
	S_SWEEP_DELETE_PKGS,
	S_BLOB_REFERENCED,
	S_FILE_EXISTS,
	S_AUDIT_INSERT,
	S_AUDIT_INSERT_CHUNK,
	S_AUDIT_LIST,
	S_LIVE_CONTENTS,
	S_INLINE_ORPHANS,
	S_INLINE_ORPHANS_DELETE,
	S_INLINE_PUT,
	S_INLINE_GET,
	S_INLINE_DELETE,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_SETTINGS_GET,
	S_SETTINGS_SET,
	S_RULE_INSERT,
	S_RULE_UPDATE,
	S_RULE_DELETE,
	S_RULE_GET,
	S_RULES_LIST,
	S_RULES_MATCH,
	S_CLEANUP_GET,
	S_CLEANUP_SET,
	S_CLEANUP_PROJECTS,
	S_PROJECT_PACKAGES,
	S_FILES_BEYOND,
	S_PKG_TOUCH,
	S_PING,
	S_BLOB_KEY_GET,
	S_BLOB_KEY_PUT,
	S_BLOB_KEY_DELETE,
	S_BLOB_KEY_MAPPED,
	S_EPOCHS,
	S_DOWNLOAD_BY_ID,
	S_DOWNLOAD_BY_PATH,
	S_ACCESS_UNTIL,
	S_COUNT
};

#define PKG_COLS "p.id, p.project_id, p.name, p.version, p.status, p.created_at," \
		 " COALESCE(p.last_downloaded_at, 0), p.updated_at"
#define PKG_NCOLS 8 /* the columns row_package reads */
#define FILE_COLS "f.id, f.package_id, f.file_name, f.size, f.file_md5, f.file_sha1," \
		  " f.file_sha256, f.status, f.created_at, f.updated_at"
#define ANCESTORS(project_param) \
	"WITH RECURSIVE anc(id) AS (SELECT group_id FROM projects WHERE id = " project_param \
	" UNION SELECT g.parent_id FROM groups g JOIN anc ON g.id = anc.id" \
	" WHERE g.parent_id IS NOT NULL) "

/* Case-insensitive names: SQLite's columns are COLLATE NOCASE, so = compares without case;
 * PostgreSQL's unique indexes are on lower(), which a lookup must name to use. */
#define BY_NAME(select, col)                                                                \
	{select " " col " = ?1", select " lower(" col ") = lower(?1)"}
/* SQLite: CROSS JOIN, so that the planner finds the package first, then its file by name
 * (it would otherwise walk package_files in id order); PostgreSQL's has no ON clause, and
 * its planner needs no such hint. */
#define FILE_LOOKUP(join)                                                                   \
	"SELECT " PKG_COLS ", " FILE_COLS " FROM packages p " join " package_files f"        \
	" ON f.package_id = p.id WHERE p.project_id = ?1 AND p.package_type = 'generic'"     \
	" AND p.name = ?2 AND p.version = ?3 AND p.status IN (0, 1, 5) AND f.file_name = ?4" \
	" AND f.status = 0 ORDER BY f.id DESC LIMIT 1"
/* A download: the project, the auth epoch, and the package with its newest file of the name
 * (NULLs when there is none), in one statement and one snapshot. The file is a subquery on
 * package_files_by_name, newest first, so that no sort is needed; LEFT JOINs keep the
 * planner's order (project, package, file); the statuses are ORed, as SQLite builds a
 * temporary table for an IN list on every run. */
#define DOWNLOAD(where)                                                                     \
	"SELECT pr.*, (SELECT n FROM auth_epoch WHERE id = 1),"                              \
	" (SELECT n FROM content_epoch WHERE id = 1), " PKG_COLS ", " FILE_COLS               \
	" FROM (SELECT " MSQL_PROJECT_COLS " FROM projects WHERE " where                     \
	" AND pending_delete = 0) pr LEFT JOIN packages p ON p.project_id = pr.id"          \
	" AND p.package_type = 'generic' AND p.name = ?2 AND p.version = ?3"                 \
	" AND (p.status = 0 OR p.status = 1 OR p.status = 5)"                                 \
	" LEFT JOIN package_files f ON f.id = (SELECT g.id"                                  \
	" FROM package_files g WHERE g.package_id = p.id AND g.file_name = ?4"               \
	" AND g.status = 0 ORDER BY g.id DESC LIMIT 1)"
#define PROJECT_NCOLS 10 /* MSQL_PROJECT_COLS */
/* '*' is the only wildcard: LIKE's own % and _ (and the escape) are taken literally. The
 * match is case-insensitive: SQLite's LIKE is (for ASCII), PostgreSQL's is ILIKE. */
#define RULES_MATCH(like)                                                                   \
	"SELECT id, minimum_access_level_for_push, minimum_access_level_for_delete"         \
	" FROM package_protection_rules WHERE project_id = ?1 AND ?2 " like                  \
	" REPLACE(REPLACE(REPLACE(REPLACE(package_name_pattern, '\\', '\\\\'),"             \
	" '%', '\\%'), '_', '\\_'), '*', '%') ESCAPE '\\' ORDER BY id"

/* The audit log's INSERT: one row (S_AUDIT_INSERT), or AUDIT_CHUNK rows in one statement
 * (S_AUDIT_INSERT_CHUNK), whose text, AUDIT_COLS numbered placeholders per row, is built
 * once at run time. */
#define AUDIT_INSERT                                                                        \
	"INSERT INTO audit_log(at, action, username, token_kind, token_id, project_id,"    \
	" package, version, file_name, size, sha256, client, detail) VALUES"
#define AUDIT_COLS 13u
#define AUDIT_CHUNK 32u
/* each placeholder at most "?NNN, ", each row's parentheses */
static char audit_chunk_sql[sizeof(AUDIT_INSERT) + (size_t)AUDIT_CHUNK * (AUDIT_COLS * 6 + 4)];

/* Each statement's text (struct stmt_text, meta_sql.h). */

static const struct stmt_text stmt_sql[S_COUNT] = {
	[S_PING] = {"SELECT 1"},
	[S_EPOCHS] = {"SELECT a.n, c.n FROM auth_epoch a, content_epoch c WHERE a.id = 1"
		      " AND c.id = 1"},
	[S_DOWNLOAD_BY_ID] = {DOWNLOAD("id = ?1")},
	[S_DOWNLOAD_BY_PATH] = {DOWNLOAD("path = ?1"), DOWNLOAD("lower(path) = lower(?1)")},
	/* S_ACCESS_LEVEL, and when the earliest membership it counted expires */
	[S_ACCESS_UNTIL] = {ANCESTORS("?2") "SELECT COALESCE(MAX(access_level), 0),"
			   " COALESCE(MIN(NULLIF(expires_at, 0)), 0) FROM members"
			   " WHERE user_id = ?1 AND (project_id = ?2 OR"
			   " (project_id = 0 AND group_id IN (SELECT id FROM anc)))"
			   " AND (expires_at = 0 OR expires_at > ?3)"},
	[S_BLOB_KEY_GET] = {"SELECT key FROM blob_keys WHERE sha256 = ?1"},
	[S_BLOB_KEY_PUT] = {"INSERT INTO blob_keys(sha256, key) VALUES(?1, ?2)"},
	[S_BLOB_KEY_DELETE] = {"DELETE FROM blob_keys WHERE sha256 = ?1"},
	[S_BLOB_KEY_MAPPED] = {"SELECT COUNT(*) FROM blob_keys WHERE key = ?1"},
	[S_USER_INSERT] = {"INSERT INTO users(username, is_admin, name, email, bot, created_by,"
			   " created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id"},
	[S_USER_GET] = {"SELECT " MSQL_USER_COLS " FROM users WHERE id = ?1"},
	[S_USER_FIND] = BY_NAME("SELECT " MSQL_USER_COLS " FROM users WHERE", "username"),
	[S_GROUP_INSERT] = {"INSERT INTO groups(parent_id, path, visibility, name, description,"
			   " owner_id, project_creation_level, subgroup_creation_level, created_at)"
			   " VALUES(NULLIF(?1, 0), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id"},
	[S_GROUP_FIND] = BY_NAME("SELECT " MSQL_GROUP_COLS " FROM groups WHERE pending_delete = 0 AND",
				 "path"),
	[S_PROJECT_INSERT] = {"INSERT INTO projects(group_id, path, visibility, name, description,"
			     " packages_enabled, creator_id, created_at, updated_at)"
			     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) RETURNING id"},
	[S_PROJECT_GET] = {"SELECT " MSQL_PROJECT_COLS " FROM projects WHERE id = ?1"
			  " AND pending_delete = 0"},
	[S_PROJECT_FIND] = BY_NAME("SELECT " MSQL_PROJECT_COLS " FROM projects"
				   " WHERE pending_delete = 0 AND", "path"),
	[S_PROJECT_IN_GROUP] = {ANCESTORS("?1") "SELECT COUNT(*) FROM anc WHERE id = ?2"},
	[S_MEMBER_SET] = {"INSERT INTO members(user_id, project_id, group_id, access_level,"
			 " created_at) VALUES(?1, ?2, ?3, ?4, ?5)"
			 " ON CONFLICT(user_id, project_id, group_id)"
			 " DO UPDATE SET access_level = excluded.access_level"},
	/* A membership past its expiry date (?3: now) grants nothing. */
	[S_ACCESS_LEVEL] = {ANCESTORS("?2") "SELECT COALESCE(MAX(access_level), 0) FROM members"
			   " WHERE user_id = ?1 AND (project_id = ?2 OR"
			   " (project_id = 0 AND group_id IN (SELECT id FROM anc)))"
			   " AND (expires_at = 0 OR expires_at > ?3)"},
	[S_TOKEN_INSERT] = {"INSERT INTO tokens(kind, token_sha256, name, username, user_id,"
			   " project_id, group_id, scopes, expires_at, created_at, description,"
			   " previous_id)"
			   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id"},
	[S_TOKEN_DEPLOY_NAME] = {"UPDATE tokens SET username = 'gitlab+deploy-token-' || id"
				" WHERE id = ?1"},
	[S_TOKEN_FIND] = {"SELECT " MSQL_TOKEN_COLS " FROM tokens WHERE token_sha256 = ?1"},
	[S_TOKEN_REVOKE] = {"UPDATE tokens SET revoked = 1 WHERE id = ?1"},
	[S_PKG_FIND_LIVE] = {"SELECT id, status FROM packages WHERE project_id = ?1"
			    " AND package_type = 'generic' AND name = ?2 AND version = ?3"
			    " AND status != 4"},
	[S_PKG_INSERT] = {"INSERT INTO packages(project_id, name, version, status, creator_id,"
			 " created_at, updated_at) VALUES(?1, ?2, ?3, ?4, NULLIF(?5, 0), ?6, ?6)"
			 " RETURNING id"},
	[S_PKG_UPDATE] = {"UPDATE packages SET status = ?2, updated_at = ?3 WHERE id = ?1"},
	[S_FILE_INSERT] = {"INSERT INTO package_files(package_id, file_name, size, file_md5,"
			  " file_sha1, file_sha256, status, created_at, updated_at)"
			  " VALUES(?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?7) RETURNING id"},
	[S_FILE_LOOKUP] = {FILE_LOOKUP("CROSS JOIN"), FILE_LOOKUP("JOIN")},
	[S_PKG_FIND_INSTALLABLE] = {"SELECT " PKG_COLS " FROM packages p WHERE p.project_id = ?1"
				   " AND p.package_type = 'generic' AND p.name = ?2"
				   " AND p.version = ?3 AND p.status IN (0, 1, 5)"},
	/* Nodes flush their batches in any order: a time never goes back. */
	[S_PKG_TOUCH] = {"UPDATE packages SET last_downloaded_at = ?2 WHERE id = ?1"
			" AND (last_downloaded_at IS NULL OR last_downloaded_at < ?2)"},
	[S_PKG_GET] = {"SELECT " PKG_COLS " FROM packages p WHERE p.id = ?2 AND p.project_id = ?1"},
	[S_PKG_VERSIONS] = {"SELECT " PKG_COLS " FROM packages p WHERE p.project_id = ?1"
			   " AND p.package_type = 'generic' AND p.name = ?2 AND p.id != ?3"
			   " AND p.status IN (0, 3, 5) ORDER BY p.created_at, p.id"},
	[S_FILE_GET] = {"SELECT " FILE_COLS " FROM package_files f WHERE f.id = ?2"
		       " AND f.package_id = ?1"},
	[S_PKG_DESTROY] = {"UPDATE packages SET status = 4, updated_at = ?2 WHERE id = ?1"
			  " AND status != 4"},
	[S_PKG_FILES_DESTROY] = {"UPDATE package_files SET status = 1, updated_at = ?2"
				" WHERE package_id = ?1 AND status = 0"},
	[S_FILES_DESTROY] = {"UPDATE package_files SET status = 1, updated_at = ?4"
			    " WHERE package_id = ?1 AND status = 0 AND (id = ?2 OR file_name = ?3)"},
	[S_PKG_DROP_EMPTY] = {"UPDATE packages SET status = 4, updated_at = ?2 WHERE id = ?1"
			     " AND NOT EXISTS (SELECT 1 FROM package_files"
			     " WHERE package_id = ?1 AND status = 0)"},
	[S_GROUP_PROJECTS] = {"WITH RECURSIVE sub(id) AS (SELECT ?1 UNION"
			     " SELECT g.id FROM groups g JOIN sub ON g.parent_id = sub.id"
			     " WHERE ?2 = 0)"
			     " SELECT " MSQL_PROJECT_COLS " FROM projects"
			     " WHERE group_id IN (SELECT id FROM sub) AND pending_delete = 0"
			     " ORDER BY id"},
	[S_GROUP_GET] = {"SELECT " MSQL_GROUP_COLS " FROM groups WHERE id = ?1"
			" AND pending_delete = 0"},
	[S_GROUP_ACCESS] = {"WITH RECURSIVE anc(id) AS (SELECT ?2 UNION SELECT g.parent_id"
			   " FROM groups g JOIN anc ON g.id = anc.id WHERE g.parent_id IS NOT NULL)"
			   " SELECT COALESCE(MAX(access_level), 0) FROM members WHERE user_id = ?1"
			   " AND project_id = 0 AND group_id IN (SELECT id FROM anc)"
			   " AND (expires_at = 0 OR expires_at > ?3)"},
	/* Content that only rows pending destruction still name. */
	[S_SWEEP_SELECT] = {"SELECT DISTINCT f.file_sha256 FROM package_files f"
			   " JOIN packages p ON p.id = f.package_id"
			   " WHERE (f.status != 0 OR p.status = 4) AND NOT EXISTS ("
			   " SELECT 1 FROM package_files g JOIN packages q ON q.id = g.package_id"
			   " WHERE g.file_sha256 = f.file_sha256 AND g.status = 0 AND q.status != 4)"
			   " AND f.file_sha256 > ?1 ORDER BY f.file_sha256 LIMIT 100"},
	[S_SWEEP_DELETE_FILES] = {"DELETE FROM package_files WHERE file_sha256 = ?1"},
	[S_SWEEP_DELETE_PKGS] = {"DELETE FROM packages WHERE status = 4 AND NOT EXISTS ("
				"SELECT 1 FROM package_files f WHERE f.package_id = packages.id)"},
	[S_BLOB_REFERENCED] = {"SELECT EXISTS(SELECT 1 FROM package_files WHERE file_sha256 = ?1)"},
	[S_AUDIT_INSERT] = {AUDIT_INSERT "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"},
	[S_AUDIT_INSERT_CHUNK] = {audit_chunk_sql}, /* built by audit_chunk_build */
	[S_AUDIT_LIST] = {"SELECT at, action, username, token_kind, token_id, project_id, package,"
			 " version, file_name, size, sha256, client, detail FROM audit_log"
			 " WHERE (?1 = 0 OR project_id = ?1) AND (?2 IS NULL OR package = ?2)"
			 /* by time: nodes write their batches in any order */
			 " AND (?3 IS NULL OR username = ?3) ORDER BY at DESC, id DESC LIMIT ?4"}
	/* no limit: INT64_MAX */,
	[S_LIVE_CONTENTS] = {"SELECT f.file_sha256, f.size, f.id FROM package_files f"
			    " JOIN packages p ON p.id = f.package_id WHERE f.status = 0"
			    " AND p.status != 4 ORDER BY f.id"},
	[S_INLINE_ORPHANS] = {"SELECT sha256 FROM inline_blobs i WHERE NOT EXISTS ("
			     "SELECT 1 FROM package_files f WHERE f.file_sha256 = i.sha256)"},
	[S_INLINE_ORPHANS_DELETE] = {"DELETE FROM inline_blobs WHERE NOT EXISTS ("
				    "SELECT 1 FROM package_files f"
				    " WHERE f.file_sha256 = inline_blobs.sha256)"},
	/* The new bytes hashed to sha256; a stored copy that differs is damaged: replaced. */
	[S_INLINE_PUT] = {"INSERT INTO inline_blobs(sha256, data) VALUES(?1, ?2)"
			 " ON CONFLICT(sha256) DO UPDATE SET data = excluded.data"
			 " WHERE inline_blobs.data IS DISTINCT FROM excluded.data"},
	[S_INLINE_GET] = {"SELECT data FROM inline_blobs WHERE sha256 = ?1"},
	[S_INLINE_DELETE] = {"DELETE FROM inline_blobs WHERE sha256 = ?1"},
	[S_SAVEPOINT] = {"SAVEPOINT publish"},
	[S_RELEASE] = {"RELEASE publish"},
	[S_ROLLBACK_TO] = {"ROLLBACK TO publish"},
	[S_FILE_EXISTS] = {"SELECT EXISTS(SELECT 1 FROM package_files WHERE package_id = ?1"
			  " AND file_name = ?2 AND status = 0)"},
	[S_SETTINGS_GET] = {"SELECT generic_duplicates_allowed, generic_duplicate_exception_regex"
			   " FROM namespace_package_settings WHERE group_id = ?1"},
	[S_SETTINGS_SET] = {"INSERT INTO namespace_package_settings(group_id,"
			   " generic_duplicates_allowed, generic_duplicate_exception_regex)"
			   " VALUES(?1, ?2, ?3) ON CONFLICT(group_id) DO UPDATE SET"
			   " generic_duplicates_allowed = excluded.generic_duplicates_allowed,"
			   " generic_duplicate_exception_regex ="
			   " excluded.generic_duplicate_exception_regex"},
	[S_RULE_INSERT] = {"INSERT INTO package_protection_rules(project_id, package_name_pattern,"
			  " minimum_access_level_for_push, minimum_access_level_for_delete)"
			  " VALUES(?1, ?2, ?3, ?4) RETURNING id"},
	[S_RULE_UPDATE] = {"UPDATE package_protection_rules SET package_name_pattern = ?3,"
			  " minimum_access_level_for_push = ?4, minimum_access_level_for_delete = ?5"
			  " WHERE project_id = ?1 AND id = ?2"},
	[S_RULE_DELETE] = {"DELETE FROM package_protection_rules WHERE project_id = ?1 AND id = ?2"},
	[S_RULE_GET] = {"SELECT id, project_id, package_name_pattern, minimum_access_level_for_push,"
		       " minimum_access_level_for_delete FROM package_protection_rules"
		       " WHERE project_id = ?1 AND id = ?2"},
	[S_RULES_LIST] = {"SELECT id, project_id, package_name_pattern, minimum_access_level_for_push,"
			 " minimum_access_level_for_delete FROM package_protection_rules"
			 " WHERE project_id = ?1 ORDER BY id"},
	[S_RULES_MATCH] = {RULES_MATCH("LIKE"), RULES_MATCH("ILIKE")},
	[S_CLEANUP_GET] = {"SELECT keep_n_duplicated_package_files, keep_n_versions,"
			  " older_than_days, not_downloaded_days, keep_regex FROM cleanup_policies"
			  " WHERE project_id = ?1"},
	[S_CLEANUP_SET] = {"INSERT INTO cleanup_policies(project_id, keep_n_duplicated_package_files,"
			  " keep_n_versions, older_than_days, not_downloaded_days, keep_regex)"
			  " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(project_id) DO UPDATE SET"
			  " keep_n_duplicated_package_files = excluded.keep_n_duplicated_package_files,"
			  " keep_n_versions = excluded.keep_n_versions,"
			  " older_than_days = excluded.older_than_days,"
			  " not_downloaded_days = excluded.not_downloaded_days,"
			  " keep_regex = excluded.keep_regex"},
	[S_CLEANUP_PROJECTS] = {"SELECT project_id FROM cleanup_policies WHERE"
			       " keep_n_duplicated_package_files > 0 OR keep_n_versions > 0 OR"
			       " older_than_days > 0 OR not_downloaded_days > 0 ORDER BY project_id"},
	[S_PROJECT_PACKAGES] = {"SELECT " PKG_COLS " FROM packages p WHERE p.project_id = ?1"
			       " AND p.status != 4 ORDER BY p.name, p.created_at DESC, p.id DESC"},
	[S_FILES_BEYOND] = {"SELECT " FILE_COLS " FROM (SELECT f.*, ROW_NUMBER() OVER ("
			   " PARTITION BY f.package_id, f.file_name ORDER BY f.id DESC) AS rn"
			   " FROM package_files f JOIN packages p ON p.id = f.package_id"
			   " WHERE p.project_id = ?1 AND p.status != 4 AND f.status = 0) f"
			   " WHERE rn > ?2 ORDER BY f.package_id, f.file_name, f.id"},
};


/* Arguments: N(a) counts them. */
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define INT(v) {.type = SQL_INT, .i = (int64_t)(v)}
#define TEXT(v) {.type = SQL_TEXT, .p = (v)}
#define BLOB(v, n) {.type = SQL_BLOB, .p = (v), .len = (n)}

static const struct sql_driver *drv(struct meta *m)
{
	return ((struct sql_store *)m)->d;
}

/* The kinds of write this thread has made and not committed yet (struct write_counts). */
enum { WRITE_AUTH = 1, WRITE_CONTENT = 2 };
static _Thread_local unsigned writes_pending;

static bool names_table(const char *sql, const char *const *tables, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strstr(sql, tables[i]))
			return true;
	return false;
}

/* What sql writes of what is kept between requests: cached identities and levels
 * (WRITE_AUTH; a token's last use is not a change), download lookups (WRITE_CONTENT; a
 * download time is not one). Statements are ours, in capitals. Saying yes too often only
 * costs a refill; the epochs' triggers are what make other processes' writes seen. */
static unsigned write_kind(const char *sql)
{
	if (sql[0] != 'I' && sql[0] != 'U' && sql[0] != 'D')
		return 0;
	static const char *const auth[] = {" tokens", " users", " members", " projects",
					   " groups"};
	static const char *const content[] = {" packages", " package_files"};
	unsigned kind = 0;
	if (names_table(sql, auth, sizeof(auth) / sizeof(auth[0])) &&
	    !strstr(sql, "SET last_used_at"))
		kind |= WRITE_AUTH;
	if (names_table(sql, content, sizeof(content) / sizeof(content[0])) &&
	    !strstr(sql, "SET last_downloaded_at"))
		kind |= WRITE_CONTENT;
	return kind;
}

/* write_kind of the statement id, worked out at its first run (+1; 0: not yet). */
static _Atomic unsigned char stmt_write_kind[S_COUNT];

static unsigned write_kind_of(int id, const char *sql)
{
	if (id < 0)
		return write_kind(sql);
	unsigned k = stmt_write_kind[id];
	if (!k)
		stmt_write_kind[id] = (unsigned char)(k = write_kind(sql) + 1);
	return k - 1;
}

/* The pending writes are over (committed or rolled back): either way, counted. */
static void writes_counted(struct meta *m)
{
	struct write_counts *n = ((struct sql_store *)m)->counts;
	if (writes_pending & WRITE_AUTH)
		n->auth++;
	if (writes_pending & WRITE_CONTENT)
		n->content++;
	writes_pending = 0;
}

/* After a statement: a write outside a transaction is committed now. */
static void writes_done(struct meta *m)
{
	if (!writes_pending)
		return;
	const struct sql_driver *d = drv(m);
	struct sql_conn *c = d->conn(m);
	if (c && d->in_tx(c))
		return; /* tx_end counts it */
	writes_counted(m);
}

/* Starts a statement on this thread's connection: id with its dialect's text, or, with
 * id -1, sql built at run time. */
static int start_sql(struct meta *m, int id, const char *sql, const struct sql_arg *a, int n,
		     struct sql_rows **r)
{
	const struct sql_driver *d = drv(m);
	struct sql_conn *c = d->conn(m);
	if (!c)
		return -EAGAIN; /* the database cannot be reached */
	if (id >= 0)
		sql = d->dialect == SQL_PG && stmt_sql[id].pg ? stmt_sql[id].pg : stmt_sql[id].sql;
	writes_pending |= write_kind_of(id, sql);
	return d->run(c, id, sql, a, n, r);
}

static int64_t col_int(struct sql_rows *r, int col)
{
	return r->d->col_int(r, col);
}

static void col_copy(struct sql_rows *r, int col, char *dst, size_t cap)
{
	const char *t = r->d->col_text(r, col);
	size_t n = t ? strnlen(t, cap - 1) : 0;
	memcpy(dst, t ? t : "", n);
	dst[n] = '\0';
}

/* Runs a statement that returns no rows (id, or with id -1 sql); *changes (unless NULL):
 * the rows it changed. */
static int exec_sql(struct meta *m, int id, const char *sql, const struct sql_arg *a, int n,
		    int64_t *changes)
{
	struct sql_rows *r;
	int ret = start_sql(m, id, sql, a, n, &r);
	if (ret != 0)
		return ret;
	ret = r->d->next(r);
	if (ret > 0)
		ret = 0;
	if (ret == 0 && changes)
		*changes = r->d->changes(r);
	r->d->finish(r);
	writes_done(m);
	return ret;
}

static int exec(struct meta *m, enum stmt_id id, const struct sql_arg *a, int n,
		int64_t *changes)
{
	return exec_sql(m, (int)id, NULL, a, n, changes);
}

/* The same, -ENOENT when it changed no row. */
static int exec_some(struct meta *m, enum stmt_id id, const struct sql_arg *a, int n)
{
	int64_t changed = 0;
	int ret = exec(m, id, a, n, &changed);
	return ret == 0 && changed == 0 ? -ENOENT : ret;
}

typedef void (*row_fn)(struct sql_rows *r, void *out);

/* A statement's first row: decode fills out from it; none is the error when there is no
 * row. */
static int first_row(struct meta *m, int id, const char *sql, const struct sql_arg *a, int n,
		     row_fn decode, void *out, int none)
{
	struct sql_rows *r;
	int ret = start_sql(m, id, sql, a, n, &r);
	if (ret != 0)
		return ret;
	ret = r->d->next(r);
	if (ret > 0) {
		decode(r, out);
		ret = 0;
	} else if (ret == 0) {
		ret = none;
	}
	r->d->finish(r);
	writes_done(m);
	return ret;
}

/* A single-row query; -ENOENT when there is none. */
static int query_one(struct meta *m, enum stmt_id id, const struct sql_arg *a, int n,
		     row_fn decode, void *out)
{
	return first_row(m, (int)id, NULL, a, n, decode, out, -ENOENT);
}

/* A number from the first column of a single-row query. */
static void row_int(struct sql_rows *r, void *out)
{
	*(int64_t *)out = col_int(r, 0);
}

/* Runs an INSERT ... RETURNING id. */
static int insert(struct meta *m, enum stmt_id id, const struct sql_arg *a, int n,
		  int64_t *id_out)
{
	return first_row(m, (int)id, NULL, a, n, row_int, id_out, -EIO);
}

/* Calls each(ctx, row) per row; a non-zero return stops the walk and is returned. */
static int query_each_sql(struct meta *m, int id, const char *sql, const struct sql_arg *a,
			  int n, int (*each)(void *ctx, struct sql_rows *r), void *ctx)
{
	struct sql_rows *r;
	int ret = start_sql(m, id, sql, a, n, &r);
	if (ret != 0)
		return ret;
	int more;
	while ((more = r->d->next(r)) > 0)
		if ((ret = each(ctx, r)) != 0)
			break;
	if (ret == 0 && more < 0)
		ret = more;
	r->d->finish(r);
	writes_done(m);
	return ret;
}

static int query_each(struct meta *m, enum stmt_id id, const struct sql_arg *a, int n,
		      int (*each)(void *ctx, struct sql_rows *r), void *ctx)
{
	return query_each_sql(m, (int)id, NULL, a, n, each, ctx);
}

static int query_int(struct meta *m, enum stmt_id id, const struct sql_arg *a, int n,
		     int64_t *out)
{
	return query_one(m, id, a, n, row_int, out);
}

/* The exported forms (meta_sql.h) for operations in files of their own. */
static const char *dialect_text(struct meta *m, const struct stmt_text *st)
{
	return drv(m)->dialect == SQL_PG && st->pg ? st->pg : st->sql;
}

int msql_one(struct meta *m, const struct stmt_text *st, const struct sql_arg *a, int n,
	     msql_row_fn decode, void *out)
{
	return first_row(m, -1, dialect_text(m, st), a, n, decode, out, -ENOENT);
}

int msql_int(struct meta *m, const struct stmt_text *st, const struct sql_arg *a, int n,
	     int64_t *out)
{
	return msql_one(m, st, a, n, row_int, out);
}

int msql_insert(struct meta *m, const struct stmt_text *st, const struct sql_arg *a, int n,
		int64_t *id_out)
{
	return first_row(m, -1, dialect_text(m, st), a, n, row_int, id_out, -EIO);
}

int msql_each(struct meta *m, const struct stmt_text *st, const struct sql_arg *a, int n,
	      int (*each)(void *ctx, struct sql_rows *r), void *ctx)
{
	return query_each_sql(m, -1, dialect_text(m, st), a, n, each, ctx);
}

int msql_exec(struct meta *m, const struct stmt_text *st, const struct sql_arg *a, int n,
	      int64_t *changes)
{
	return exec_sql(m, -1, dialect_text(m, st), a, n, changes);
}

int64_t msql_col_int(struct sql_rows *r, int col)
{
	return col_int(r, col);
}

void msql_col_copy(struct sql_rows *r, int col, char *dst, size_t cap)
{
	col_copy(r, col, dst, cap);
}

/* Starts a write transaction, or joins the one this thread is in (see meta_ops.locked). */
static int tx_begin(struct meta *m, bool *own)
{
	const struct sql_driver *d = drv(m);
	struct sql_conn *c = d->conn(m);
	*own = false;
	if (!c)
		return -EAGAIN; /* the database cannot be reached */
	*own = !d->in_tx(c);
	return *own ? d->begin(c) : 0;
}

/* Ends what tx_begin started: commit on success, roll back on failure. */
static int tx_end(struct meta *m, bool own, int ret)
{
	if (!own)
		return ret;
	const struct sql_driver *d = drv(m);
	struct sql_conn *c = d->conn(m);
	if (!c)
		return -EAGAIN; /* the database cannot be reached */
	if (ret == 0)
		ret = d->end(c, true);
	if (ret != 0)
		d->end(c, false);
	writes_counted(m);
	return ret;
}

int msql_tx_begin(struct meta *m, bool *own)
{
	return tx_begin(m, own);
}

int msql_tx_end(struct meta *m, bool own, int ret)
{
	return tx_end(m, own, ret);
}

static void row_package(struct sql_rows *r, int col, struct meta_package *p)
{
	p->id = col_int(r, col);
	p->project_id = col_int(r, col + 1);
	col_copy(r, col + 2, p->name, sizeof(p->name));
	col_copy(r, col + 3, p->version, sizeof(p->version));
	p->status = (enum package_status)col_int(r, col + 4);
	p->created_at_ms = col_int(r, col + 5);
	p->last_downloaded_at_ms = col_int(r, col + 6);
	p->updated_at_ms = col_int(r, col + 7);
	p->project_path[0] = '\0';
	p->size = 0;
	p->file_count = 0;
}

static void row_file(struct sql_rows *r, int col, struct meta_package_file *f)
{
	f->id = col_int(r, col);
	f->package_id = col_int(r, col + 1);
	col_copy(r, col + 2, f->file_name, sizeof(f->file_name));
	f->size = col_int(r, col + 3);
	col_copy(r, col + 4, f->digests.md5, sizeof(f->digests.md5));
	col_copy(r, col + 5, f->digests.sha1, sizeof(f->digests.sha1));
	col_copy(r, col + 6, f->digests.sha256, sizeof(f->digests.sha256));
	f->status = (enum package_file_status)col_int(r, col + 7);
	f->created_at_ms = col_int(r, col + 8);
	f->updated_at_ms = col_int(r, col + 9);
}

static void decode_package(struct sql_rows *r, void *out)
{
	row_package(r, 0, out);
}

static void decode_file(struct sql_rows *r, void *out)
{
	row_file(r, 0, out);
}

void msql_decode_user(struct sql_rows *r, void *out)
{
	struct meta_user *u = out;
	u->id = col_int(r, 0);
	col_copy(r, 1, u->username, sizeof(u->username));
	u->is_admin = col_int(r, 2) != 0;
	col_copy(r, 3, u->name, sizeof(u->name));
	col_copy(r, 4, u->email, sizeof(u->email));
	u->bot = col_int(r, 5) != 0;
	u->created_by = col_int(r, 6);
	u->created_at_ms = col_int(r, 7);
}

void msql_decode_group(struct sql_rows *r, void *out)
{
	struct meta_group *g = out;
	g->id = col_int(r, 0);
	g->parent_id = col_int(r, 1);
	col_copy(r, 2, g->path, sizeof(g->path));
	g->visibility = (enum visibility)col_int(r, 3);
	col_copy(r, 4, g->name, sizeof(g->name));
	col_copy(r, 5, g->description, sizeof(g->description));
	g->owner_id = col_int(r, 6);
	g->project_creation_level = (enum access_level)col_int(r, 7);
	g->subgroup_creation_level = (enum access_level)col_int(r, 8);
	g->created_at_ms = col_int(r, 9);
}

void msql_decode_project(struct sql_rows *r, void *out)
{
	struct meta_project *p = out;
	p->id = col_int(r, 0);
	p->group_id = col_int(r, 1);
	col_copy(r, 2, p->path, sizeof(p->path));
	p->visibility = (enum visibility)col_int(r, 3);
	col_copy(r, 4, p->name, sizeof(p->name));
	col_copy(r, 5, p->description, sizeof(p->description));
	p->packages_enabled = col_int(r, 6) != 0;
	p->creator_id = col_int(r, 7);
	p->created_at_ms = col_int(r, 8);
	p->updated_at_ms = col_int(r, 9);
}

void msql_decode_token(struct sql_rows *r, void *out)
{
	struct meta_token *t = out;
	t->id = col_int(r, 0);
	t->kind = (enum token_kind)col_int(r, 1);
	col_copy(r, 2, t->hash, sizeof(t->hash));
	col_copy(r, 3, t->name, sizeof(t->name));
	col_copy(r, 4, t->username, sizeof(t->username));
	t->user_id = col_int(r, 5);
	t->project_id = col_int(r, 6);
	t->group_id = col_int(r, 7);
	t->scopes = (unsigned)col_int(r, 8);
	t->expires_at_ms = col_int(r, 9);
	t->revoked = col_int(r, 10) != 0;
	col_copy(r, 11, t->description, sizeof(t->description));
	t->created_at_ms = col_int(r, 12);
	t->last_used_at_ms = col_int(r, 13);
	t->previous_id = col_int(r, 14);
	t->sessions_after_s = col_int(r, 15);
}

static void decode_rule(struct sql_rows *r, void *out)
{
	struct meta_protection_rule *rule = out;
	rule->id = col_int(r, 0);
	rule->project_id = col_int(r, 1);
	col_copy(r, 2, rule->pattern, sizeof(rule->pattern));
	rule->push_level = (int)col_int(r, 3);
	rule->delete_level = (int)col_int(r, 4);
}

static void decode_audit(struct sql_rows *r, void *out)
{
	struct audit_event *e = out;
	e->at_ms = col_int(r, 0);
	col_copy(r, 1, e->action, sizeof(e->action));
	col_copy(r, 2, e->username, sizeof(e->username));
	col_copy(r, 3, e->token_kind, sizeof(e->token_kind));
	e->token_id = col_int(r, 4);
	e->project_id = col_int(r, 5);
	col_copy(r, 6, e->package, sizeof(e->package));
	col_copy(r, 7, e->version, sizeof(e->version));
	col_copy(r, 8, e->file_name, sizeof(e->file_name));
	e->size = col_int(r, 9);
	col_copy(r, 10, e->sha256, sizeof(e->sha256));
	col_copy(r, 11, e->client, sizeof(e->client));
	col_copy(r, 12, e->detail, sizeof(e->detail));
}

static void decode_settings(struct sql_rows *r, void *out)
{
	struct meta_dup_settings *s = out;
	s->allowed = col_int(r, 0) != 0;
	col_copy(r, 1, s->exception_regex, sizeof(s->exception_regex));
}

static void decode_cleanup(struct sql_rows *r, void *out)
{
	struct meta_cleanup_policy *p = out;
	p->keep_n_files = (int)col_int(r, 0);
	p->keep_n_versions = (int)col_int(r, 1);
	p->older_than_days = (int)col_int(r, 2);
	p->not_downloaded_days = (int)col_int(r, 3);
	col_copy(r, 4, p->keep_regex, sizeof(p->keep_regex));
}

/* Listings: the caller's callback behind each decoded row. */
struct each_ctx {
	union {
		meta_package_cb package;
		meta_file_cb file;
		int (*project)(void *ctx, const struct meta_project *p);
		int (*rule)(void *ctx, const struct meta_protection_rule *r);
		int (*audit)(void *ctx, const struct audit_event *ev);
		int (*content)(void *ctx, const char *sha256, int64_t size, int64_t file_id);
		int (*sha)(void *ctx, const char *sha256);
	} cb;
	void *ctx;
	/* packages: the project's path, size and file count follow the package's columns */
	bool with_path;
};

static int each_package(void *ctx, struct sql_rows *r)
{
	struct each_ctx *e = ctx;
	struct meta_package p;
	row_package(r, 0, &p);
	if (e->with_path) {
		col_copy(r, PKG_NCOLS, p.project_path, sizeof(p.project_path));
		p.size = col_int(r, PKG_NCOLS + 1);
		p.file_count = col_int(r, PKG_NCOLS + 2);
	}
	return e->cb.package(e->ctx, &p);
}

static int each_file(void *ctx, struct sql_rows *r)
{
	struct each_ctx *e = ctx;
	struct meta_package_file f;
	row_file(r, 0, &f);
	return e->cb.file(e->ctx, &f);
}

static int each_project(void *ctx, struct sql_rows *r)
{
	struct each_ctx *e = ctx;
	struct meta_project p;
	msql_decode_project(r, &p);
	return e->cb.project(e->ctx, &p);
}

static int each_rule(void *ctx, struct sql_rows *r)
{
	struct each_ctx *e = ctx;
	struct meta_protection_rule rule;
	decode_rule(r, &rule);
	return e->cb.rule(e->ctx, &rule);
}

static int each_content(void *ctx, struct sql_rows *r)
{
	struct each_ctx *e = ctx;
	char sha[SHA256_HEX_LEN + 1];
	col_copy(r, 0, sha, sizeof(sha));
	return e->cb.content(e->ctx, sha, col_int(r, 1), col_int(r, 2));
}

static int each_sha(void *ctx, struct sql_rows *r)
{
	struct each_ctx *e = ctx;
	char sha[SHA256_HEX_LEN + 1];
	col_copy(r, 0, sha, sizeof(sha));
	return e->cb.sha(e->ctx, sha);
}

static int group_insert(struct meta *m, struct meta_group *g);

/* A person gets a personal namespace named after them, which they own; a bot none. */
static int user_create_tx(struct meta *m, void *ctx)
{
	struct meta_user *u = ctx;
	if (!u->name[0])
		snprintf(u->name, sizeof(u->name), "%s", u->username);
	u->created_at_ms = now_ms();
	struct sql_arg a[] = {TEXT(u->username), INT(u->is_admin), TEXT(u->name), TEXT(u->email),
			      INT(u->bot),	 INT(u->created_by), INT(u->created_at_ms)};
	int ret = insert(m, S_USER_INSERT, a, N(a), &u->id);
	if (ret != 0 || u->bot)
		return ret;
	struct meta_group ns = {.visibility = VIS_PUBLIC, .owner_id = u->id,
				.project_creation_level = ACCESS_OWNER,
				.subgroup_creation_level = ACCESS_OWNER};
	snprintf(ns.path, sizeof(ns.path), "%s", u->username);
	snprintf(ns.name, sizeof(ns.name), "%s", u->name);
	if ((ret = group_insert(m, &ns)) != 0)
		return ret;
	struct sql_arg b[] = {INT(u->id), INT(0), INT(ns.id), INT(ACCESS_OWNER),
			      INT(u->created_at_ms)};
	return exec(m, S_MEMBER_SET, b, N(b), NULL);
}

static int sq_locked(struct meta *m, int (*fn)(struct meta *m, void *ctx), void *ctx);

static int sq_user_create(struct meta *m, struct meta_user *u)
{
	return sq_locked(m, user_create_tx, u);
}

static int sq_user_get(struct meta *m, int64_t id, struct meta_user *out)
{
	struct sql_arg a[] = {INT(id)};
	return query_one(m, S_USER_GET, a, N(a), msql_decode_user, out);
}

static int sq_user_find(struct meta *m, const char *username, struct meta_user *out)
{
	struct sql_arg a[] = {TEXT(username)};
	return query_one(m, S_USER_FIND, a, N(a), msql_decode_user, out);
}

static int sq_group_find(struct meta *m, const char *path, struct meta_group *out)
{
	struct sql_arg a[] = {TEXT(path)};
	return query_one(m, S_GROUP_FIND, a, N(a), msql_decode_group, out);
}

/* Splits "a/b/c" into its parent "a/b"; returns -ENOENT for a top-level path. */
static int parent_path(const char *path, char *parent, size_t cap)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return -ENOENT;
	snprintf(parent, cap, "%.*s", (int)(slash - path), path);
	return 0;
}

/* The last segment of a path: a new group's or project's name when none is given. */
static void default_name(char *name, size_t cap, const char *path)
{
	if (!name[0]) {
		const char *slash = strrchr(path, '/');
		snprintf(name, cap, "%s", slash ? slash + 1 : path);
	}
}

static int group_insert(struct meta *m, struct meta_group *g)
{
	char parent[FULL_PATH_MAX + 1];
	struct meta_group pg = {0};
	if (parent_path(g->path, parent, sizeof(parent)) == 0 &&
	    sq_group_find(m, parent, &pg) != 0)
		return -EINVAL;
	default_name(g->name, sizeof(g->name), g->path);
	if (!g->project_creation_level)
		g->project_creation_level = ACCESS_MAINTAINER;
	if (!g->subgroup_creation_level)
		g->subgroup_creation_level = ACCESS_MAINTAINER;
	g->parent_id = pg.id;
	g->created_at_ms = now_ms();
	struct sql_arg a[] = {INT(pg.id),
			      TEXT(g->path),
			      INT(g->visibility),
			      TEXT(g->name),
			      TEXT(g->description),
			      INT(g->owner_id),
			      INT(g->project_creation_level),
			      INT(g->subgroup_creation_level),
			      INT(g->created_at_ms)};
	return insert(m, S_GROUP_INSERT, a, N(a), &g->id);
}

static int sq_group_create(struct meta *m, struct meta_group *g)
{
	g->owner_id = 0; /* personal namespaces come with their user only */
	return group_insert(m, g);
}

static int sq_project_create(struct meta *m, struct meta_project *p)
{
	char parent[FULL_PATH_MAX + 1];
	struct meta_group g;
	if (parent_path(p->path, parent, sizeof(parent)) != 0 ||
	    sq_group_find(m, parent, &g) != 0)
		return -EINVAL;
	default_name(p->name, sizeof(p->name), p->path);
	p->group_id = g.id;
	p->created_at_ms = p->updated_at_ms = now_ms();
	struct sql_arg a[] = {INT(g.id),	      TEXT(p->path),	 INT(p->visibility),
			      TEXT(p->name),	      TEXT(p->description), INT(p->packages_enabled),
			      INT(p->creator_id),     INT(p->created_at_ms)};
	return insert(m, S_PROJECT_INSERT, a, N(a), &p->id);
}

static int sq_project_get(struct meta *m, int64_t id, struct meta_project *out)
{
	struct sql_arg a[] = {INT(id)};
	return query_one(m, S_PROJECT_GET, a, N(a), msql_decode_project, out);
}

static int sq_project_find(struct meta *m, const char *path, struct meta_project *out)
{
	struct sql_arg a[] = {TEXT(path)};
	return query_one(m, S_PROJECT_FIND, a, N(a), msql_decode_project, out);
}

static int sq_project_in_group(struct meta *m, int64_t project_id, int64_t group_id, bool *out)
{
	struct sql_arg a[] = {INT(project_id), INT(group_id)};
	int64_t n = 0;
	int ret = query_int(m, S_PROJECT_IN_GROUP, a, N(a), &n);
	*out = n > 0;
	return ret;
}

static int sq_member_set(struct meta *m, int64_t user_id, int64_t project_id, int64_t group_id,
			 enum access_level level)
{
	struct sql_arg a[] = {INT(user_id), INT(project_id), INT(group_id), INT(level),
			      INT(now_ms())};
	return exec(m, S_MEMBER_SET, a, N(a), NULL);
}

static int sq_access_level(struct meta *m, int64_t user_id, int64_t project_id,
			   enum access_level *out)
{
	struct sql_arg a[] = {INT(user_id), INT(project_id), INT(now_ms())};
	int64_t level = 0;
	int ret = query_int(m, S_ACCESS_LEVEL, a, N(a), &level);
	if (ret == 0)
		*out = (enum access_level)level;
	return ret;
}

static int token_insert_tx(struct meta *m, struct meta_token *t)
{
	struct sql_arg a[] = {INT(t->kind),	  TEXT(t->hash),	TEXT(t->name),
			      TEXT(t->username),  INT(t->user_id),	INT(t->project_id),
			      INT(t->group_id),	  INT(t->scopes),	INT(t->expires_at_ms),
			      INT(t->created_at_ms = now_ms()), TEXT(t->description),
			      INT(t->previous_id)};
	int ret = insert(m, S_TOKEN_INSERT, a, N(a), &t->id);
	if (ret != 0 || t->kind != TOKEN_DEPLOY || t->username[0] != '\0')
		return ret;
	struct sql_arg b[] = {INT(t->id)};
	if ((ret = exec(m, S_TOKEN_DEPLOY_NAME, b, N(b), NULL)) == 0)
		snprintf(t->username, sizeof(t->username), "gitlab+deploy-token-%lld",
			 (long long)t->id);
	return ret;
}

static int sq_token_insert(struct meta *m, struct meta_token *t)
{
	bool own;
	int ret = tx_begin(m, &own);
	if (ret == 0)
		ret = token_insert_tx(m, t);
	return tx_end(m, own, ret);
}

static int sq_token_find_by_hash(struct meta *m, const char *hash_hex, struct meta_token *out)
{
	struct sql_arg a[] = {TEXT(hash_hex)};
	return query_one(m, S_TOKEN_FIND, a, N(a), msql_decode_token, out);
}

static int sq_token_revoke(struct meta *m, int64_t id)
{
	struct sql_arg a[] = {INT(id)};
	return exec_some(m, S_TOKEN_REVOKE, a, N(a));
}

static void decode_live(struct sql_rows *r, void *out)
{
	int64_t *id_status = out;
	id_status[0] = col_int(r, 0);
	id_status[1] = col_int(r, 1);
}

/* Inside an open transaction: the live package's id, created if needed. */
static int package_for_publish(struct meta *m, const struct meta_publish *p, int64_t now,
			       int64_t *pkg_id)
{
	int64_t found[2];
	struct sql_arg a[] = {INT(p->project_id), TEXT(p->name), TEXT(p->version)};
	int ret = query_one(m, S_PKG_FIND_LIVE, a, N(a), decode_live, found);
	if (ret == -ENOENT) {
		struct sql_arg b[] = {INT(p->project_id), TEXT(p->name), TEXT(p->version),
				      INT(p->status >= 0 ? p->status : PKG_DEFAULT),
				      INT(p->creator_id), INT(now)};
		ret = insert(m, S_PKG_INSERT, b, N(b), pkg_id);
		/* packages_live refused a second live package: another writer created it
		 * since the lookup (the write lock rules that out; if it ever happens, the
		 * publish is retried and finds it). */
		return ret == -EEXIST ? -EDEADLK : ret;
	}
	if (ret != 0)
		return ret;
	*pkg_id = found[0];
	/* An upload with an explicit status re-labels the package (hide or un-hide it). */
	struct sql_arg c[] = {INT(*pkg_id), INT(p->status >= 0 ? p->status : found[1]), INT(now)};
	return exec(m, S_PKG_UPDATE, c, N(c), NULL);
}

/* The publish, inside the caller's transaction. */
static int publish_tx(struct meta *m, const struct meta_publish *p, struct meta_package_file *out)
{
	int64_t now = now_ms(), pkg_id = 0, exists = 0;
	int ret = package_for_publish(m, p, now, &pkg_id);
	if (ret != 0)
		return ret;
	if (p->refuse_duplicate) {
		/* Checked inside the write transaction: of concurrent uploads of one name,
		 * exactly one finds no file and commits. */
		struct sql_arg a[] = {INT(pkg_id), TEXT(p->file_name)};
		if ((ret = query_int(m, S_FILE_EXISTS, a, N(a), &exists)) != 0)
			return ret;
		if (exists)
			return -EEXIST;
	}
	if (p->inline_data) {
		struct sql_arg a[] = {TEXT(p->digests->sha256), BLOB(p->inline_data, (size_t)p->size)};
		if ((ret = exec(m, S_INLINE_PUT, a, N(a), NULL)) != 0)
			return ret;
	}
	struct sql_arg a[] = {INT(pkg_id),	      TEXT(p->file_name),	 INT(p->size),
			      TEXT(p->digests->md5),  TEXT(p->digests->sha1), TEXT(p->digests->sha256),
			      INT(now)};
	if ((ret = insert(m, S_FILE_INSERT, a, N(a), &out->id)) != 0)
		return ret;
	out->package_id = pkg_id;
	snprintf(out->file_name, sizeof(out->file_name), "%s", p->file_name);
	out->size = p->size;
	out->digests = *p->digests;
	out->status = FILE_DEFAULT;
	out->created_at_ms = out->updated_at_ms = now;
	return 0;
}

/* How often a publish the database gave up on (-EDEADLK) is tried again. */
#define PUBLISH_TRIES 5

static int sq_file_publish(struct meta *m, const struct meta_publish *p,
			   struct meta_package_file *out)
{
	int ret = -EDEADLK;
	for (int i = 0; i < PUBLISH_TRIES && ret == -EDEADLK; i++) {
		bool own;
		if ((ret = tx_begin(m, &own)) != 0)
			return ret;
		ret = tx_end(m, own, publish_tx(m, p, out));
		if (!own)
			break; /* the caller's transaction decides */
	}
	return ret == -EDEADLK ? -EAGAIN : ret; /* given up on every time: try again later */
}

static int sq_publish_batch(struct meta *m, struct meta_publish_item *items, size_t n)
{
	bool own;
	int ret = tx_begin(m, &own);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		items[i].result = -EDEADLK;
		for (int k = 0; ret == 0 && k < PUBLISH_TRIES && items[i].result == -EDEADLK; k++) {
			if ((ret = exec(m, S_SAVEPOINT, NULL, 0, NULL)) != 0)
				break;
			items[i].result = publish_tx(m, items[i].p, &items[i].out);
			if (items[i].result != 0)
				ret = exec(m, S_ROLLBACK_TO, NULL, 0, NULL);
			if (ret == 0)
				ret = exec(m, S_RELEASE, NULL, 0, NULL);
		}
	}
	ret = tx_end(m, own, ret);
	for (size_t i = 0; i < n; i++) {
		/* The batch failed (a statement, or the commit): nothing of it stands, and an
		 * item it cut short before its first try has that failure too. */
		if (ret != 0 && (items[i].result == 0 || items[i].result == -EDEADLK))
			items[i].result = ret;
		else if (items[i].result == -EDEADLK) /* given up on every time */
			items[i].result = -EAGAIN;
	}
	return ret;
}

struct blob_copy {
	char **data;
	size_t *len;
	int ret;
};

static void decode_blob(struct sql_rows *r, void *out)
{
	struct blob_copy *b = out;
	const void *p = r->d->col_blob(r, 0, b->len);
	if (!(*b->data = malloc(*b->len ? *b->len : 1)))
		b->ret = -ENOMEM;
	else if (*b->len) /* an empty blob may come back as NULL */
		memcpy(*b->data, p, *b->len);
}

static int sq_inline_blob_get(struct meta *m, const char *sha256, char **data, size_t *len)
{
	struct blob_copy b = {data, len, 0};
	struct sql_arg a[] = {TEXT(sha256)};
	int ret = query_one(m, S_INLINE_GET, a, N(a), decode_blob, &b);
	return ret ? ret : b.ret;
}

struct package_and_file {
	struct meta_package *pkg;
	struct meta_package_file *file;
};

static void decode_package_and_file(struct sql_rows *r, void *out)
{
	struct package_and_file *pf = out;
	row_package(r, 0, pf->pkg);
	row_file(r, PKG_NCOLS, pf->file);
}

static int sq_file_lookup(struct meta *m, int64_t project_id, const char *name,
			  const char *version, const char *file_name, struct meta_package *pkg,
			  struct meta_package_file *file)
{
	struct package_and_file pf = {pkg, file};
	struct sql_arg a[] = {INT(project_id), TEXT(name), TEXT(version), TEXT(file_name)};
	return query_one(m, S_FILE_LOOKUP, a, N(a), decode_package_and_file, &pf);
}

static int sq_package_find(struct meta *m, int64_t project_id, const char *name,
			   const char *version, struct meta_package *out)
{
	struct sql_arg a[] = {INT(project_id), TEXT(name), TEXT(version)};
	return query_one(m, S_PKG_FIND_INSTALLABLE, a, N(a), decode_package, out);
}

static int sq_package_touch_download(struct meta *m, int64_t package_id, int64_t when_ms)
{
	struct sql_arg a[] = {INT(package_id), INT(when_ms)};
	return exec(m, S_PKG_TOUCH, a, N(a), NULL);
}

static const char *const status_names[] = {"default", "hidden", "processing", "error",
					    "pending_destruction", "deprecated"};

int package_status_parse(const char *name, enum package_status *out)
{
	for (int i = 0; i < 6; i++)
		if (strcmp(name, status_names[i]) == 0) {
			*out = (enum package_status)i;
			return 0;
		}
	return -1;
}

const char *package_status_name(enum package_status st)
{
	return (unsigned)st < 6 ? status_names[st] : "default";
}

/* LIKE pattern for a substring, with %, _ and \ taken literally. Caller frees. */
static char *like_pattern(const char *s)
{
	size_t n = strlen(s);
	char *p = malloc(2 * n + 3);
	if (!p)
		return NULL;
	size_t o = 0;
	p[o++] = '%';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' || s[i] == '_' || s[i] == '\\')
			p[o++] = '\\';
		p[o++] = s[i];
	}
	p[o++] = '%';
	p[o] = '\0';
	return p;
}

/* "1,2,3" for an IN list: numbers of our own, so written into the text, where both
 * dialects read them alike (SQLite would need json_each for a bound list, PostgreSQL an
 * array). 0, which no row has, stands for an empty list. Caller frees. */
static char *id_list(const int64_t *ids, size_t n)
{
	size_t cap = n * 21 + 2;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t o = 0;
	out[0] = '0';
	out[1] = '\0';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%lld", i ? "," : "", (long long)ids[i]);
	return out;
}

static int count_sql(struct meta *m, const char *sql, const struct sql_arg *a, int n,
		     int64_t *total)
{
	return first_row(m, -1, sql, a, n, row_int, total, -EIO);
}

/* The listing's filter; %s: the project ids, %s: LIKE (SQLite, case-insensitive for
 * ASCII) or ILIKE (PostgreSQL). */
/* A package's installable files: their bytes and their number. */
#define PKG_SIZE_COLS " (SELECT COALESCE(SUM(f.size), 0) FROM package_files f" \
		      " WHERE f.package_id = p.id AND f.status = 0) AS pkg_size," \
		      " (SELECT COUNT(*) FROM package_files f" \
		      " WHERE f.package_id = p.id AND f.status = 0) AS pkg_files"
#define PKG_WHERE " FROM packages p JOIN projects pr ON pr.id = p.project_id" \
		  " WHERE p.project_id IN (%s)" \
		  " AND (?1 IS NULL OR p.name %s ?1 ESCAPE '\\')" \
		  " AND (?2 IS NULL OR p.version = ?2)" \
		  " AND (CASE WHEN ?3 < 0 THEN p.status IN (0, 3, 5) ELSE p.status = ?3 END)"

static int sq_packages_list(struct meta *m, const struct package_query *q, meta_package_cb cb,
			    void *ctx, int64_t *total)
{
	/* Project paths sort without case in both: SQLite's column is NOCASE. */
	static const char *const cols[] = {"p.created_at", "p.name", "p.version",
					   "p.package_type", "pr.path", "pkg_size"};
	bool pg = drv(m)->dialect == SQL_PG;
	const char *like_op = pg ? "ILIKE" : "LIKE";
	const char *order = q->order == PKG_ORDER_PROJECT_PATH && pg ? "lower(pr.path)"
								      : cols[q->order];
	int ret = -ENOMEM;
	char *ids = id_list(q->project_ids, q->nprojects);
	char *like = q->name_like ? like_pattern(q->name_like) : NULL;
	char *sql = NULL;
	if (!ids || (q->name_like && !like))
		goto out;
	const char *dir = q->desc ? "DESC" : "ASC";
	if (asprintf(&sql, "SELECT COUNT(*)" PKG_WHERE, ids, like_op) < 0) {
		sql = NULL;
		goto out;
	}
	struct sql_arg a[] = {TEXT(like), TEXT(q->version), INT(q->status), INT(q->limit),
			      INT(q->offset)};
	if ((ret = count_sql(m, sql, a, 3, total)) != 0)
		goto out;
	free(sql);
	/* sizes from the package_files_by_name index's package_id prefix; order_by=size sorts
	 * every match by it (a size column kept on packages would need every write to keep it) */
	if (asprintf(&sql, "SELECT " PKG_COLS ", pr.path," PKG_SIZE_COLS PKG_WHERE
		     " ORDER BY %s %s, p.id %s LIMIT ?4 OFFSET ?5", ids, like_op, order, dir, dir) < 0) {
		sql = NULL;
		ret = -ENOMEM;
		goto out;
	}
	struct each_ctx e = {.cb.package = cb, .ctx = ctx, .with_path = true};
	ret = query_each_sql(m, -1, sql, a, N(a), each_package, &e);
out:
	free(sql);
	free(ids);
	free(like);
	return ret;
}

#define FILE_WHERE " FROM package_files f WHERE f.package_id = ?1 AND f.status = 0" \
		   " AND (?2 = 0 OR f.id = (SELECT MAX(g.id) FROM package_files g" \
		   " WHERE g.package_id = f.package_id AND g.file_name = f.file_name" \
		   " AND g.status = 0))"

static int sq_package_files_list(struct meta *m, const struct file_query *q, meta_file_cb cb,
				 void *ctx, int64_t *total)
{
	static const char *const cols[] = {"f.id", "f.created_at", "f.file_name"};
	if (q->after_name && (q->order != FILE_ORDER_FILE_NAME || q->desc))
		return -EINVAL;
	struct sql_arg a[] = {INT(q->package_id), INT(q->latest_only), INT(q->limit),
			      INT(q->offset), TEXT(q->after_name), INT(q->after_id)};
	int ret;
	if (total && (ret = count_sql(m, "SELECT COUNT(*)" FILE_WHERE, a, 2, total)) != 0)
		return ret;
	char sql[1024];
	const char *dir = q->desc ? "DESC" : "ASC";
	/* a row value, so that the (package_id, file_name, id) index serves the keyset */
	snprintf(sql, sizeof(sql), "SELECT " FILE_COLS FILE_WHERE
		 "%s ORDER BY %s %s, f.id %s LIMIT ?3 OFFSET ?4",
		 q->after_name ? " AND (f.file_name, f.id) > (?5, ?6)" : "", cols[q->order], dir, dir);
	struct each_ctx e = {.cb.file = cb, .ctx = ctx};
	return query_each_sql(m, -1, sql, a, q->after_name ? 6 : 4, each_file, &e);
}

static int sq_package_get(struct meta *m, int64_t project_id, int64_t package_id,
			  struct meta_package *out)
{
	struct sql_arg a[] = {INT(project_id), INT(package_id)};
	return query_one(m, S_PKG_GET, a, N(a), decode_package, out);
}

static int sq_package_versions(struct meta *m, const struct meta_package *pkg,
			       meta_package_cb cb, void *ctx)
{
	struct sql_arg a[] = {INT(pkg->project_id), TEXT(pkg->name), INT(pkg->id)};
	struct each_ctx e = {.cb.package = cb, .ctx = ctx};
	return query_each(m, S_PKG_VERSIONS, a, N(a), each_package, &e);
}

static int sq_package_file_get(struct meta *m, int64_t package_id, int64_t file_id,
			       struct meta_package_file *out)
{
	struct sql_arg a[] = {INT(package_id), INT(file_id)};
	return query_one(m, S_FILE_GET, a, N(a), decode_file, out);
}

static int sq_package_destroy(struct meta *m, int64_t package_id)
{
	struct sql_arg a[] = {INT(package_id), INT(now_ms())};
	bool own;
	int ret = tx_begin(m, &own);
	/* -ENOENT when another request (or node) destroyed it first: one of them did it */
	if (ret == 0)
		ret = exec_some(m, S_PKG_DESTROY, a, N(a));
	if (ret == 0)
		ret = exec(m, S_PKG_FILES_DESTROY, a, N(a), NULL);
	return tx_end(m, own, ret);
}

static int sq_files_destroy(struct meta *m, int64_t package_id, int64_t file_id,
			    const char *file_name, bool drop_empty)
{
	int64_t now = now_ms();
	struct sql_arg a[] = {INT(package_id), INT(file_id), TEXT(file_name), INT(now)};
	struct sql_arg b[] = {INT(package_id), INT(now)};
	bool own;
	int ret = tx_begin(m, &own);
	if (ret == 0)
		ret = exec_some(m, S_FILES_DESTROY, a, N(a));
	if (ret == 0 && drop_empty)
		ret = exec(m, S_PKG_DROP_EMPTY, b, N(b), NULL);
	return tx_end(m, own, ret);
}

static int sq_group_projects(struct meta *m, int64_t group_id, bool direct_only,
			     int (*cb)(void *ctx, const struct meta_project *p), void *ctx)
{
	struct sql_arg a[] = {INT(group_id), INT(direct_only)};
	struct each_ctx e = {.cb.project = cb, .ctx = ctx};
	return query_each(m, S_GROUP_PROJECTS, a, N(a), each_project, &e);
}

static int sq_group_get(struct meta *m, int64_t id, struct meta_group *out)
{
	struct sql_arg a[] = {INT(id)};
	return query_one(m, S_GROUP_GET, a, N(a), msql_decode_group, out);
}

static int sq_group_access_level(struct meta *m, int64_t user_id, int64_t group_id,
				 enum access_level *out)
{
	struct sql_arg a[] = {INT(user_id), INT(group_id), INT(now_ms())};
	int64_t level = 0;
	int ret = query_int(m, S_GROUP_ACCESS, a, N(a), &level);
	if (ret == 0)
		*out = (enum access_level)level;
	return ret;
}

static int sq_locked(struct meta *m, int (*fn)(struct meta *m, void *ctx), void *ctx)
{
	bool own;
	int ret = tx_begin(m, &own);
	if (ret == 0)
		ret = fn(m, ctx);
	return tx_end(m, own, ret);
}

static int sq_blob_referenced(struct meta *m, const char *sha256, bool *out)
{
	struct sql_arg a[] = {TEXT(sha256)};
	int64_t n = 0;
	int ret = query_int(m, S_BLOB_REFERENCED, a, N(a), &n);
	if (ret == 0)
		*out = n != 0;
	return ret;
}

#define SWEEP_BATCH 100

struct sweep_shas {
	char sha[SWEEP_BATCH][SHA256_HEX_LEN + 1];
	int n;
};

static int collect_sha(void *ctx, struct sql_rows *r)
{
	struct sweep_shas *s = ctx;
	if (s->n == SWEEP_BATCH) /* the statement's LIMIT */
		return 0;
	col_copy(r, 0, s->sha[s->n], sizeof(s->sha[0]));
	s->n++;
	return 0;
}

/* One batch of the sweep, inside the write lock: the content after *cursor, which it
 * advances. Sets *n to the blobs looked at; a blob remove_blob fails on keeps its rows
 * (the next run tries again), the first such error goes to *failed, and the rest of the
 * batch goes on. */
static int sweep_batch(struct meta *m, int (*remove_blob)(void *ctx, const char *sha256),
		       void *ctx, char cursor[SHA256_HEX_LEN + 1], int *n, int64_t *removed,
		       int *failed)
{
	struct sweep_shas *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	struct sql_arg a[] = {TEXT(cursor)};
	int ret = query_each(m, S_SWEEP_SELECT, a, N(a), collect_sha, s);
	for (int i = 0; i < s->n && ret == 0; i++) {
		/* The blob goes first: were the rows to go first, a crash in between would
		 * leave a blob no row names, found only by the orphan walk. */
		int gone = remove_blob(ctx, s->sha[i]);
		if (gone != 0) {
			*failed = *failed ? *failed : gone;
			continue;
		}
		struct sql_arg b[] = {TEXT(s->sha[i])};
		if ((ret = exec(m, S_SWEEP_DELETE_FILES, b, N(b), NULL)) == 0)
			ret = exec(m, S_INLINE_DELETE, b, N(b), NULL);
		*removed += ret == 0;
	}
	if (ret == 0 && s->n > 0)
		ret = exec(m, S_SWEEP_DELETE_PKGS, NULL, 0, NULL);
	if (s->n > 0)
		memcpy(cursor, s->sha[s->n - 1], SHA256_HEX_LEN + 1);
	*n = s->n;
	free(s);
	return ret;
}

static int sq_sweep_pending(struct meta *m, int (*remove_blob)(void *ctx, const char *sha256),
			    void *ctx, int64_t *removed)
{
	char cursor[SHA256_HEX_LEN + 1] = "";
	int failed = 0;
	*removed = 0;
	for (;;) {
		bool own;
		int64_t batch_removed = 0;
		int n = 0, ret = tx_begin(m, &own);
		if (ret == 0)
			ret = sweep_batch(m, remove_blob, ctx, cursor, &n, &batch_removed, &failed);
		if ((ret = tx_end(m, own, ret)) != 0)
			return ret;
		*removed += batch_removed;
		if (n < SWEEP_BATCH)
			return failed;
	}
}

static int sq_settings_get(struct meta *m, int64_t group_id, struct meta_dup_settings *out)
{
	struct sql_arg a[] = {INT(group_id)};
	out->allowed = true;
	out->exception_regex[0] = '\0';
	int ret = query_one(m, S_SETTINGS_GET, a, N(a), decode_settings, out);
	return ret == -ENOENT ? 0 : ret;
}

static int sq_settings_set(struct meta *m, int64_t group_id, const struct meta_dup_settings *s)
{
	struct sql_arg a[] = {INT(group_id), INT(s->allowed), TEXT(s->exception_regex)};
	return exec(m, S_SETTINGS_SET, a, N(a), NULL);
}

static int sq_rule_insert(struct meta *m, struct meta_protection_rule *r)
{
	struct sql_arg a[] = {INT(r->project_id), TEXT(r->pattern), INT(r->push_level),
			      INT(r->delete_level)};
	return insert(m, S_RULE_INSERT, a, N(a), &r->id);
}

static int sq_rule_update(struct meta *m, const struct meta_protection_rule *r)
{
	struct sql_arg a[] = {INT(r->project_id), INT(r->id), TEXT(r->pattern),
			      INT(r->push_level), INT(r->delete_level)};
	return exec_some(m, S_RULE_UPDATE, a, N(a));
}

static int sq_rule_delete(struct meta *m, int64_t project_id, int64_t rule_id)
{
	struct sql_arg a[] = {INT(project_id), INT(rule_id)};
	return exec_some(m, S_RULE_DELETE, a, N(a));
}

static int sq_rule_get(struct meta *m, int64_t project_id, int64_t rule_id,
		       struct meta_protection_rule *out)
{
	struct sql_arg a[] = {INT(project_id), INT(rule_id)};
	return query_one(m, S_RULE_GET, a, N(a), decode_rule, out);
}

static int sq_rules_list(struct meta *m, int64_t project_id,
			 int (*cb)(void *ctx, const struct meta_protection_rule *r), void *ctx)
{
	struct sql_arg a[] = {INT(project_id)};
	struct each_ctx e = {.cb.rule = cb, .ctx = ctx};
	return query_each(m, S_RULES_LIST, a, N(a), each_rule, &e);
}

static int match_rule(void *ctx, struct sql_rows *r)
{
	struct meta_rule_match *out = ctx;
	int64_t id = col_int(r, 0);
	int push = (int)col_int(r, 1), del = (int)col_int(r, 2);
	if (push > out->push_level) {
		out->push_level = push;
		out->push_rule_id = id;
	}
	if (del > out->delete_level) {
		out->delete_level = del;
		out->delete_rule_id = id;
	}
	return 0;
}

static int sq_rules_match(struct meta *m, int64_t project_id, const char *package_name,
			  struct meta_rule_match *out)
{
	memset(out, 0, sizeof(*out));
	struct sql_arg a[] = {INT(project_id), TEXT(package_name)};
	return query_each(m, S_RULES_MATCH, a, N(a), match_rule, out);
}

static int sq_cleanup_get(struct meta *m, int64_t project_id, struct meta_cleanup_policy *out)
{
	struct sql_arg a[] = {INT(project_id)};
	memset(out, 0, sizeof(*out));
	out->project_id = project_id;
	int ret = query_one(m, S_CLEANUP_GET, a, N(a), decode_cleanup, out);
	return ret == -ENOENT ? 0 : ret;
}

static int sq_cleanup_set(struct meta *m, const struct meta_cleanup_policy *p)
{
	struct sql_arg a[] = {INT(p->project_id),	    INT(p->keep_n_files),
			      INT(p->keep_n_versions),	    INT(p->older_than_days),
			      INT(p->not_downloaded_days), TEXT(p->keep_regex)};
	return exec(m, S_CLEANUP_SET, a, N(a), NULL);
}

struct id_list {
	int64_t *ids;
	size_t n, cap;
};

static int collect_id(void *ctx, struct sql_rows *r)
{
	struct id_list *l = ctx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		int64_t *grown = realloc(l->ids, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		l->ids = grown;
		l->cap = cap;
	}
	l->ids[l->n++] = col_int(r, 0);
	return 0;
}

static int sq_cleanup_projects(struct meta *m, int (*cb)(void *ctx, int64_t project_id),
			       void *ctx)
{
	/* Collected first: cb runs deletes, which must not interleave with this read. */
	struct id_list l = {0};
	int ret = query_each(m, S_CLEANUP_PROJECTS, NULL, 0, collect_id, &l);
	for (size_t i = 0; i < l.n && ret == 0; i++)
		ret = cb(ctx, l.ids[i]);
	free(l.ids);
	return ret;
}

static int sq_project_packages(struct meta *m, int64_t project_id, meta_package_cb cb, void *ctx)
{
	struct sql_arg a[] = {INT(project_id)};
	struct each_ctx e = {.cb.package = cb, .ctx = ctx};
	return query_each(m, S_PROJECT_PACKAGES, a, N(a), each_package, &e);
}

static pthread_once_t audit_chunk_once = PTHREAD_ONCE_INIT;

static void audit_chunk_build(void)
{
	char *p = audit_chunk_sql, *end = audit_chunk_sql + sizeof(audit_chunk_sql);
	p += snprintf(p, (size_t)(end - p), "%s", AUDIT_INSERT);
	for (unsigned row = 0; row < AUDIT_CHUNK; row++)
		for (unsigned col = 1; col <= AUDIT_COLS; col++)
			p += snprintf(p, (size_t)(end - p), "%s?%u%s",
				      col == 1 ? (row ? ", (" : "(") : ", ",
				      row * AUDIT_COLS + col, col == AUDIT_COLS ? ")" : "");
}

/* An event's columns, in AUDIT_INSERT's order, into a[0 .. AUDIT_COLS). */
static void audit_args(struct sql_arg *a, const struct audit_event *e)
{
	const struct sql_arg row[AUDIT_COLS] = {
		INT(e->at_ms),	     TEXT(e->action),  TEXT(e->username), TEXT(e->token_kind),
		INT(e->token_id),    INT(e->project_id), TEXT(e->package), TEXT(e->version),
		TEXT(e->file_name),  INT(e->size),     TEXT(e->sha256),	  TEXT(e->client),
		TEXT(e->detail)};
	memcpy(a, row, sizeof(row));
}

/* Full chunks of AUDIT_CHUNK rows per statement, the rest a row at a time: rows (and so
 * ids) in queue order, each statement prepared once per connection. A statement's own
 * work (binding, starting and ending it, on PostgreSQL a round trip) is then paid per
 * chunk, not per event. */
static int sq_audit_append(struct meta *m, const struct audit_event *ev, size_t n)
{
	struct sql_arg a[AUDIT_CHUNK * AUDIT_COLS]; /* 13 KiB */
	pthread_once(&audit_chunk_once, audit_chunk_build);
	bool own;
	int ret = tx_begin(m, &own);
	size_t i = 0;
	for (; ret == 0 && n - i >= AUDIT_CHUNK; i += AUDIT_CHUNK) {
		for (size_t k = 0; k < AUDIT_CHUNK; k++)
			audit_args(&a[k * AUDIT_COLS], &ev[i + k]);
		ret = exec(m, S_AUDIT_INSERT_CHUNK, a, N(a), NULL);
	}
	for (; ret == 0 && i < n; i++) {
		audit_args(a, &ev[i]);
		ret = exec(m, S_AUDIT_INSERT, a, (int)AUDIT_COLS, NULL);
	}
	return tx_end(m, own, ret);
}

struct each_audit {
	int (*cb)(void *ctx, const struct audit_event *ev);
	void *ctx;
	struct audit_event *e;
};

static int each_audit(void *ctx, struct sql_rows *r)
{
	struct each_audit *ea = ctx;
	decode_audit(r, ea->e);
	return ea->cb(ea->ctx, ea->e);
}

static int sq_audit_list(struct meta *m, const struct audit_query *q,
			 int (*cb)(void *ctx, const struct audit_event *ev), void *ctx)
{
	struct sql_arg a[] = {INT(q->project_id), TEXT(q->package), TEXT(q->username),
			      INT(q->limit > 0 ? q->limit : INT64_MAX)};
	struct each_audit ea = {cb, ctx, calloc(1, sizeof(struct audit_event))};
	if (!ea.e)
		return -ENOMEM;
	int ret = query_each(m, S_AUDIT_LIST, a, N(a), each_audit, &ea);
	free(ea.e);
	return ret;
}

static int sq_live_contents(struct meta *m,
			    int (*cb)(void *ctx, const char *sha256, int64_t size, int64_t file_id),
			    void *ctx)
{
	struct each_ctx e = {.cb.content = cb, .ctx = ctx};
	return query_each(m, S_LIVE_CONTENTS, NULL, 0, each_content, &e);
}

static int sq_inline_orphans(struct meta *m, bool remove,
			     int (*cb)(void *ctx, const char *sha256), void *ctx)
{
	bool own;
	int ret = tx_begin(m, &own);
	struct each_ctx e = {.cb.sha = cb, .ctx = ctx};
	if (ret == 0)
		ret = query_each(m, S_INLINE_ORPHANS, NULL, 0, each_sha, &e);
	if (ret == 0 && remove)
		ret = exec(m, S_INLINE_ORPHANS_DELETE, NULL, 0, NULL);
	return tx_end(m, own, ret);
}

static int sq_files_beyond(struct meta *m, int64_t project_id, int keep, meta_file_cb cb,
			   void *ctx)
{
	struct sql_arg a[] = {INT(project_id), INT(keep)};
	struct each_ctx e = {.cb.file = cb, .ctx = ctx};
	return query_each(m, S_FILES_BEYOND, a, N(a), each_file, &e);
}

int msql_store_init(struct sql_store *s, const struct sql_driver *d)
{
	s->base.ops = &meta_sql_ops;
	s->d = d;
	s->downloads = dl_cache_new(256);
	s->counts = &s->own_counts;
	s->epochs_max_age_ms = 0;
	s->own_counts.auth = s->own_counts.content = 0;
	s->epochs[0] = s->epochs[1] = 0;
	s->epochs_read_ms = 0;
	if (pthread_mutex_init(&s->epochs_lock, NULL) != 0) {
		dl_cache_free(s->downloads);
		return -ENOMEM;
	}
	return s->downloads ? 0 : -ENOMEM;
}

static void sq_close(struct meta *m)
{
	if (!m)
		return;
	struct sql_store *s = (struct sql_store *)m;
	dl_cache_free(s->downloads);
	pthread_mutex_destroy(&s->epochs_lock);
	drv(m)->close(m);
}

static void decode_key(struct sql_rows *r, void *out)
{
	col_copy(r, 0, out, BLOB_KEY_MAX + 1);
}

static int sq_blob_key_get(struct meta *m, const char *sha256, char *key)
{
	struct sql_arg a[] = {TEXT(sha256)};
	return query_one(m, S_BLOB_KEY_GET, a, N(a), decode_key, key);
}

static int sq_blob_key_put(struct meta *m, const char *sha256, const char *key)
{
	struct sql_arg a[] = {TEXT(sha256), TEXT(key)};
	return exec(m, S_BLOB_KEY_PUT, a, N(a), NULL);
}

static int sq_blob_key_delete(struct meta *m, const char *sha256)
{
	struct sql_arg a[] = {TEXT(sha256)};
	return exec(m, S_BLOB_KEY_DELETE, a, N(a), NULL);
}

static int sq_blob_key_mapped(struct meta *m, const char *key, bool *out)
{
	struct sql_arg a[] = {TEXT(key)};
	int64_t n = 0;
	int ret = query_int(m, S_BLOB_KEY_MAPPED, a, N(a), &n);
	*out = n > 0;
	return ret;
}

/* A readiness probe's query; on PostgreSQL it also reconnects a lost connection. */
static int sq_ping(struct meta *m)
{
	int64_t one;
	return query_int(m, S_PING, NULL, 0, &one);
}

/* ---- version selectors and atomic publishing (issue 14) ---- */

static const struct stmt_text versions_with_status_sql = {
	"SELECT " PKG_COLS " FROM packages p WHERE p.project_id = ?1"
	" AND p.package_type = 'generic' AND p.name = ?2 AND p.status = ?3 ORDER BY p.id", NULL};

static int sq_package_versions_with_status(struct meta *m, int64_t project_id, const char *name,
					   enum package_status status, meta_package_cb cb,
					   void *ctx)
{
	struct sql_arg a[] = {INT(project_id), TEXT(name), INT(status)};
	struct each_ctx e = {.cb.package = cb, .ctx = ctx};
	return msql_each(m, &versions_with_status_sql, a, N(a), each_package, &e);
}

static const struct stmt_text set_status_sql = {
	"UPDATE packages SET status = ?2, updated_at = ?3 WHERE id = ?1 AND status != 4", NULL};

static int sq_package_set_status(struct meta *m, int64_t package_id, enum package_status status)
{
	struct sql_arg a[] = {INT(package_id), INT(status), INT(now_ms())};
	int64_t changed = 0;
	int ret = msql_exec(m, &set_status_sql, a, N(a), &changed);
	return ret == 0 && changed == 0 ? -ENOENT : ret;
}

/* ---- the small GET path (issue 12) ---- */

static void decode_epochs(struct sql_rows *r, void *out)
{
	int64_t *e = out;
	e[0] = col_int(r, 0);
	e[1] = col_int(r, 1);
}

/* Keeps e (read now) as the epochs seen, unless another thread has seen newer ones. */
static void epochs_note(struct sql_store *s, const int64_t e[2], int64_t now)
{
	pthread_mutex_lock(&s->epochs_lock);
	if (e[0] >= s->epochs[0] && e[1] >= s->epochs[1]) {
		s->epochs[0] = e[0];
		s->epochs[1] = e[1];
		s->epochs_read_ms = now;
	}
	pthread_mutex_unlock(&s->epochs_lock);
}

/* The auth and content epochs, read at most epochs_max_age_ms ago: how writers that do
 * not count their writes where this store does (struct write_counts) are seen. */
static int epochs_now(struct meta *m, int64_t e[2])
{
	struct sql_store *s = (struct sql_store *)m;
	int64_t now = mono_ms();
	pthread_mutex_lock(&s->epochs_lock);
	bool fresh = s->epochs_read_ms && now - s->epochs_read_ms < s->epochs_max_age_ms;
	e[0] = s->epochs[0];
	e[1] = s->epochs[1];
	pthread_mutex_unlock(&s->epochs_lock);
	if (fresh)
		return 0;
	int ret = query_one(m, S_EPOCHS, NULL, 0, decode_epochs, e);
	if (ret == 0)
		epochs_note(s, e, now);
	return ret;
}

static int sq_auth_epoch(struct meta *m, int64_t *out)
{
	int64_t e[2];
	int ret = epochs_now(m, e);
	*out = e[0];
	return ret;
}

static uint64_t sq_auth_local_changes(struct meta *m)
{
	return ((struct sql_store *)m)->counts->auth;
}

static void decode_download(struct sql_rows *r, void *out)
{
	struct meta_download *d = out;
	msql_decode_project(r, &d->project);
	d->epoch = col_int(r, PROJECT_NCOLS);
	d->content_epoch = col_int(r, PROJECT_NCOLS + 1);
	row_package(r, PROJECT_NCOLS + 2, &d->pkg);
	row_file(r, PROJECT_NCOLS + 2 + PKG_NCOLS, &d->file);
	d->found = d->pkg.id != 0 && d->file.id != 0;
}

/* Appends part and its NUL to key[0..len); the new length, or cap when it does not fit. */
static size_t key_add(char *key, size_t len, size_t cap, const char *part, size_t n)
{
	if (len >= cap || n > cap - len)
		return cap;
	memcpy(key + len, part, n);
	return len + n;
}

/* A download's key: the project's id (its bytes) or path, then the names, each ended by a
 * NUL (no part holds one); 0 if too long. */
static size_t download_key(char *key, size_t cap, int64_t project_id, const char *path,
			   const char *name, const char *version, const char *file_name)
{
	size_t len = path ? key_add(key, 0, cap, "p", 1) : key_add(key, 0, cap, "i", 1);
	len = path ? key_add(key, len, cap, path, strlen(path) + 1)
		   : key_add(key, len, cap, (const char *)&project_id, sizeof(project_id));
	len = key_add(key, len, cap, name, strlen(name) + 1);
	len = key_add(key, len, cap, version, strlen(version) + 1);
	len = key_add(key, len, cap, file_name, strlen(file_name) + 1);
	return len < cap ? len : 0;
}

/* The counted writes and the epochs first (two indexed rows, or as read at most
 * epochs_max_age_ms before): while none moved, the lookup of the same key is the one the
 * statement would give, and the statement (five searches and thirty columns) is not run. */
static int sq_download_lookup(struct meta *m, int64_t project_id, const char *path,
			      const char *name, const char *version, const char *file_name,
			      struct meta_download *out)
{
	struct sql_store *s = (struct sql_store *)m;
	char key[FULL_PATH_MAX + 3 * 1024];
	size_t key_len = download_key(key, sizeof(key), project_id, path, name, version,
				      file_name);
	/* before anything is read: a write committed after this moves it again */
	uint64_t local = s->counts->auth + s->counts->content;
	int64_t e[2];
	if (s->downloads && key_len && epochs_now(m, e) == 0 &&
	    dl_cache_get(s->downloads, key, key_len, e, local, out))
		return 0;
	struct sql_arg a[] = {path ? (struct sql_arg)TEXT(path) : (struct sql_arg)INT(project_id),
			      TEXT(name), TEXT(version), TEXT(file_name)};
	int64_t now = mono_ms();
	int ret = query_one(m, path ? S_DOWNLOAD_BY_PATH : S_DOWNLOAD_BY_ID, a, N(a),
			    decode_download, out);
	if (ret != 0)
		return ret;
	epochs_note(s, (int64_t[2]){out->epoch, out->content_epoch}, now);
	if (s->downloads && key_len)
		dl_cache_put(s->downloads, key, key_len, out, local);
	return 0;
}

static void decode_level_until(struct sql_rows *r, void *out)
{
	int64_t *v = out;
	v[0] = col_int(r, 0);
	v[1] = col_int(r, 1);
}

static int sq_access_level_until(struct meta *m, int64_t user_id, int64_t project_id,
				 int64_t now, enum access_level *out, int64_t *until_ms)
{
	struct sql_arg a[] = {INT(user_id), INT(project_id), INT(now)};
	int64_t v[2] = {0, 0};
	int ret = query_one(m, S_ACCESS_UNTIL, a, N(a), decode_level_until, v);
	if (ret == 0) {
		*out = (enum access_level)v[0];
		*until_ms = v[1];
	}
	return ret;
}

/* ---- the web interface's numbers (issue 13) ---- */

struct project_sizes {
	const int64_t *ids;
	size_t n;
	int64_t *sizes;
};

static int each_project_size(void *ctx, struct sql_rows *r)
{
	struct project_sizes *ps = ctx;
	int64_t id = col_int(r, 0);
	for (size_t i = 0; i < ps->n; i++)
		if (ps->ids[i] == id)
			ps->sizes[i] = col_int(r, 1);
	return 0;
}

static int sq_projects_packages_size(struct meta *m, const int64_t *ids, size_t n,
				     int64_t *sizes)
{
	for (size_t i = 0; i < n; i++)
		sizes[i] = 0;
	char *list = id_list(ids, n), *sql = NULL;
	if (!list)
		return -ENOMEM;
	/* packages_by_name's project_id prefix, then package_files_by_name's package_id */
	int ret = asprintf(&sql, "SELECT p.project_id, SUM(f.size) FROM packages p"
			   " JOIN package_files f ON f.package_id = p.id"
			   " WHERE p.project_id IN (%s) AND p.status != 4 AND f.status = 0"
			   " GROUP BY p.project_id", list) < 0 ? -ENOMEM : 0;
	struct project_sizes ps = {ids, n, sizes};
	if (ret == 0)
		ret = query_each_sql(m, -1, sql, NULL, 0, each_project_size, &ps);
	else
		sql = NULL;
	free(sql);
	free(list);
	return ret;
}

struct uploaders {
	int (*cb)(void *ctx, int64_t file_id, const char *username);
	void *ctx;
};

static int each_uploader(void *ctx, struct sql_rows *r)
{
	struct uploaders *u = ctx;
	const char *name = r->d->col_text(r, 1);
	return name ? u->cb(u->ctx, col_int(r, 0), name) : 0;
}

/* The upload event of each file: same project, package, version, file name and content,
 * the nearest in time to the file's row (a duplicate upload of the same bytes has its own
 * event, near its own row). The partial index audit_uploads holds only upload events, so
 * downloads, however many, cost nothing here. PostgreSQL: the audit log's text columns
 * have the default collation, the packages' "C"; comparing them needs one named. */
static int sq_files_uploaded_by(struct meta *m, int64_t package_id, const int64_t *file_ids,
				size_t n, int (*cb)(void *ctx, int64_t file_id, const char *username),
				void *ctx)
{
	if (n == 0)
		return 0;
	const char *coll = drv(m)->dialect == SQL_PG ? " COLLATE \"default\"" : "";
	char *list = id_list(file_ids, n), *sql = NULL;
	if (!list)
		return -ENOMEM;
	/* a window, not a correlated ORDER BY ... LIMIT 1: SQLite's subqueries cannot order
	 * by the outer row's columns */
	int ret = asprintf(&sql, "SELECT id, username FROM (SELECT f.id, a.username,"
			   " ROW_NUMBER() OVER (PARTITION BY f.id"
			   " ORDER BY ABS(a.at - f.created_at), a.id) AS rn"
			   " FROM package_files f JOIN packages p ON p.id = f.package_id"
			   " JOIN audit_log a ON a.action = 'upload' AND a.project_id = p.project_id"
			   " AND a.package = p.name%s AND a.version = p.version%s"
			   " AND a.file_name = f.file_name%s AND a.sha256 = f.file_sha256%s"
			   " WHERE f.package_id = ?1 AND f.id IN (%s)) t WHERE rn = 1 ORDER BY id",
			   coll, coll, coll, coll, list) < 0 ? -ENOMEM : 0;
	struct sql_arg a[] = {INT(package_id)};
	struct uploaders u = {cb, ctx};
	if (ret == 0)
		ret = query_each_sql(m, -1, sql, a, N(a), each_uploader, &u);
	else
		sql = NULL;
	free(sql);
	free(list);
	return ret;
}

const int meta_sql_nstmts = S_COUNT;

const struct meta_ops meta_sql_ops = {
	.close = sq_close,
	.ping = sq_ping,
	.blob_key_get = sq_blob_key_get,
	.blob_key_put = sq_blob_key_put,
	.blob_key_delete = sq_blob_key_delete,
	.blob_key_mapped = sq_blob_key_mapped,
	.user_create = sq_user_create,
	.user_get = sq_user_get,
	.user_find = sq_user_find,
	.group_create = sq_group_create,
	.group_find = sq_group_find,
	.project_create = sq_project_create,
	.project_get = sq_project_get,
	.project_find = sq_project_find,
	.project_in_group = sq_project_in_group,
	.member_set = sq_member_set,
	.access_level = sq_access_level,
	.token_insert = sq_token_insert,
	.token_find_by_hash = sq_token_find_by_hash,
	.token_revoke = sq_token_revoke,
	.file_publish = sq_file_publish,
	.publish_batch = sq_publish_batch,
	.inline_blob_get = sq_inline_blob_get,
	.file_lookup = sq_file_lookup,
	.package_find = sq_package_find,
	.package_touch_download = sq_package_touch_download,
	.packages_list = sq_packages_list,
	.package_files_list = sq_package_files_list,
	.package_get = sq_package_get,
	.package_versions = sq_package_versions,
	.package_file_get = sq_package_file_get,
	.package_destroy = sq_package_destroy,
	.files_destroy = sq_files_destroy,
	.group_projects = sq_group_projects,
	.group_get = sq_group_get,
	.group_access_level = sq_group_access_level,
	.locked = sq_locked,
	.sweep_pending = sq_sweep_pending,
	.blob_referenced = sq_blob_referenced,
	.settings_get = sq_settings_get,
	.settings_set = sq_settings_set,
	.rule_insert = sq_rule_insert,
	.rule_update = sq_rule_update,
	.rule_delete = sq_rule_delete,
	.rule_get = sq_rule_get,
	.rules_list = sq_rules_list,
	.rules_match = sq_rules_match,
	.cleanup_get = sq_cleanup_get,
	.cleanup_set = sq_cleanup_set,
	.cleanup_projects = sq_cleanup_projects,
	.project_packages = sq_project_packages,
	.files_beyond = sq_files_beyond,
	.live_contents = sq_live_contents,
	.audit_append = sq_audit_append,
	.audit_list = sq_audit_list,
	.inline_orphans = sq_inline_orphans,
	/* ---- GitLab's REST resources: each area's operations, from meta_sql_<area>.c
	 * (declared in meta_sql.h) ---- */
	/* users */
	.users_list = msql_users_list,
	.user_add = msql_user_add,
	.user_namespace = msql_user_namespace,
	.user_delete = msql_user_delete,
	.namespaces_list = msql_namespaces_list,

	/* groups, namespaces and projects */
	.groups_list = msql_groups_list,
	.projects_list = msql_projects_list,
	.group_add = msql_group_add,
	.group_update = msql_group_update,
	.group_delete = msql_group_delete,
	.group_children_visibility = msql_group_children_visibility,
	.project_add = msql_project_add,
	.project_update = msql_project_update,
	.project_delete = msql_project_delete,
	.project_levels = msql_project_levels,

	/* members */
	.members_list = msql_members_list,
	.member_add = msql_member_add,
	.member_update = msql_member_update,
	.member_remove = msql_member_remove,
	.group_owners = msql_group_owners,

	/* tokens */
	.token_get = msql_token_get,
	.tokens_list = msql_tokens_list,
	.token_revoke_active = msql_token_revoke_active,
	.token_delete = msql_token_delete,
	.token_touch = msql_token_touch,

	/* ---- end of the REST resources ---- */
	/* version selectors and atomic publishing (issue 14) */
	.package_versions_with_status = sq_package_versions_with_status,
	.package_set_status = sq_package_set_status,
	.auth_epoch = sq_auth_epoch,
	.auth_local_changes = sq_auth_local_changes,
	.download_lookup = sq_download_lookup,
	.access_level_until = sq_access_level_until,
	/* the web interface's numbers (issue 13) */
	.projects_packages_size = sq_projects_packages_size,
	.files_uploaded_by = sq_files_uploaded_by,
	.token_end_sessions = msql_token_end_sessions,
};
