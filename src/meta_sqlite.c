/* The SQLite metadata store: WAL mode, one connection per thread (opened on first use),
 * prepared statements cached per connection, writes in short IMMEDIATE transactions. */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "meta.h"
#include "timeutil.h"

/* Schema versions: one number per change, recorded in PRAGMA user_version and applied in
 * order at open, every pending one in a single transaction. The numbers belong to the
 * store, not to SQLite, so that a PostgreSQL backend can apply its own SQL under the same
 * numbering. A database newer than the last number here is refused. */

/* The indexes of the tables version 2 rebuilds, the same text in both versions.
 * packages_live is GitLab's rule, enforced by the database: one live package per name
 * and version. It is partial, which SQLite uses only for queries that say status != 4;
 * lookups by status IN (...) need packages_by_name. */
#define PACKAGES_INDEXES                                                                   \
	"CREATE UNIQUE INDEX IF NOT EXISTS packages_live"                                   \
	" ON packages(project_id, package_type, name, version) WHERE status != 4;"          \
	"CREATE INDEX IF NOT EXISTS packages_by_name ON packages(project_id, name, version);"
#define PACKAGE_FILES_INDEXES                                                              \
	"CREATE INDEX IF NOT EXISTS package_files_by_name"                                  \
	" ON package_files(package_id, file_name, id);"                                     \
	"CREATE INDEX IF NOT EXISTS package_files_by_sha ON package_files(file_sha256);"

/* 1: the schema as it was before versions were recorded (user_version 0); IF NOT EXISTS
 * lets such a database pass through unchanged, and creates a new one. */
static const char schema_v1[] =
	"CREATE TABLE IF NOT EXISTS users("
	" id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	" is_admin INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS groups("
	" id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES groups(id),"
	" path TEXT NOT NULL UNIQUE COLLATE NOCASE, visibility INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS projects("
	" id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL REFERENCES groups(id),"
	" path TEXT NOT NULL UNIQUE COLLATE NOCASE, visibility INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS members("
	" user_id INTEGER NOT NULL REFERENCES users(id), project_id INTEGER NOT NULL DEFAULT 0,"
	" group_id INTEGER NOT NULL DEFAULT 0, access_level INTEGER NOT NULL,"
	" PRIMARY KEY(user_id, project_id, group_id));"
	"CREATE TABLE IF NOT EXISTS tokens("
	" id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, token_sha256 TEXT NOT NULL UNIQUE,"
	" name TEXT NOT NULL DEFAULT '', username TEXT NOT NULL DEFAULT '',"
	" user_id INTEGER NOT NULL DEFAULT 0, project_id INTEGER NOT NULL DEFAULT 0,"
	" group_id INTEGER NOT NULL DEFAULT 0, scopes INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL DEFAULT 0, revoked INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS packages("
	" id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects(id),"
	" name TEXT NOT NULL, version TEXT NOT NULL, package_type TEXT NOT NULL DEFAULT 'generic',"
	" status INTEGER NOT NULL DEFAULT 0, creator_id INTEGER, created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL, last_downloaded_at INTEGER);"
	PACKAGES_INDEXES
	"CREATE TABLE IF NOT EXISTS package_files("
	" id INTEGER PRIMARY KEY, package_id INTEGER NOT NULL REFERENCES packages(id),"
	" file_name TEXT NOT NULL, size INTEGER NOT NULL, file_md5 TEXT NOT NULL,"
	" file_sha1 TEXT NOT NULL, file_sha256 TEXT NOT NULL, status INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
	PACKAGE_FILES_INDEXES
	"CREATE TABLE IF NOT EXISTS namespace_package_settings("
	" group_id INTEGER PRIMARY KEY REFERENCES groups(id),"
	" generic_duplicates_allowed INTEGER NOT NULL DEFAULT 1,"
	" generic_duplicate_exception_regex TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE IF NOT EXISTS package_protection_rules("
	" id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects(id),"
	" package_type TEXT NOT NULL DEFAULT 'generic', package_name_pattern TEXT NOT NULL,"
	" minimum_access_level_for_push INTEGER NOT NULL DEFAULT 0,"
	" minimum_access_level_for_delete INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE(project_id, package_type, package_name_pattern));"
	"CREATE TABLE IF NOT EXISTS cleanup_policies("
	" project_id INTEGER PRIMARY KEY REFERENCES projects(id),"
	" keep_n_duplicated_package_files INTEGER NOT NULL DEFAULT 0,"
	" keep_n_versions INTEGER NOT NULL DEFAULT 0, older_than_days INTEGER NOT NULL DEFAULT 0,"
	" not_downloaded_days INTEGER NOT NULL DEFAULT 0, keep_regex TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE IF NOT EXISTS audit_log("
	" id INTEGER PRIMARY KEY, at INTEGER NOT NULL, action TEXT NOT NULL,"
	" username TEXT NOT NULL, token_kind TEXT NOT NULL, token_id INTEGER NOT NULL,"
	" project_id INTEGER NOT NULL, package TEXT NOT NULL, version TEXT NOT NULL,"
	" file_name TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,"
	" client TEXT NOT NULL, detail TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS audit_by_project ON audit_log(project_id, id);"
	/* Append-only, enforced by the database itself. */
	"CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit_log"
	" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	"CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit_log"
	" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	/* Small files' bytes, written in the same transaction as their rows. */
	"CREATE TABLE IF NOT EXISTS inline_blobs(sha256 TEXT PRIMARY KEY, data BLOB NOT NULL)"
	" WITHOUT ROWID;";

/* 2: an id the API has shown is never handed out again (AUTOINCREMENT), so a retried
 * delete cannot hit a newer row that took a freed id. SQLite cannot change a primary key
 * in place: each table is rebuilt (new table, copy, drop, rename; SQLite's documented
 * procedure, run with foreign keys off and checked before the commit) and its indexes
 * made again. sqlite_sequence then starts at the highest id kept; an id freed before the
 * upgrade above every remaining one is beyond knowing. */
#define REBUILD(table, columns)                                                            \
	"CREATE TABLE new_" table "(" columns ");"                                          \
	"INSERT INTO new_" table " SELECT * FROM " table ";"                                \
	"DROP TABLE " table ";"                                                             \
	"ALTER TABLE new_" table " RENAME TO " table ";"
static const char schema_v2[] =
	REBUILD("users", " id INTEGER PRIMARY KEY AUTOINCREMENT,"
			 " username TEXT NOT NULL UNIQUE COLLATE NOCASE,"
			 " is_admin INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL")
	REBUILD("groups", " id INTEGER PRIMARY KEY AUTOINCREMENT,"
			  " parent_id INTEGER REFERENCES groups(id),"
			  " path TEXT NOT NULL UNIQUE COLLATE NOCASE, visibility INTEGER NOT NULL,"
			  " created_at INTEGER NOT NULL")
	REBUILD("projects", " id INTEGER PRIMARY KEY AUTOINCREMENT,"
			    " group_id INTEGER NOT NULL REFERENCES groups(id),"
			    " path TEXT NOT NULL UNIQUE COLLATE NOCASE, visibility INTEGER NOT NULL,"
			    " created_at INTEGER NOT NULL")
	REBUILD("tokens", " id INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER NOT NULL,"
			  " token_sha256 TEXT NOT NULL UNIQUE, name TEXT NOT NULL DEFAULT '',"
			  " username TEXT NOT NULL DEFAULT '', user_id INTEGER NOT NULL DEFAULT 0,"
			  " project_id INTEGER NOT NULL DEFAULT 0,"
			  " group_id INTEGER NOT NULL DEFAULT 0, scopes INTEGER NOT NULL,"
			  " expires_at INTEGER NOT NULL DEFAULT 0,"
			  " revoked INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL")
	REBUILD("packages", " id INTEGER PRIMARY KEY AUTOINCREMENT,"
			    " project_id INTEGER NOT NULL REFERENCES projects(id),"
			    " name TEXT NOT NULL, version TEXT NOT NULL,"
			    " package_type TEXT NOT NULL DEFAULT 'generic',"
			    " status INTEGER NOT NULL DEFAULT 0, creator_id INTEGER,"
			    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
			    " last_downloaded_at INTEGER")
	PACKAGES_INDEXES
	REBUILD("package_files", " id INTEGER PRIMARY KEY AUTOINCREMENT,"
				 " package_id INTEGER NOT NULL REFERENCES packages(id),"
				 " file_name TEXT NOT NULL, size INTEGER NOT NULL,"
				 " file_md5 TEXT NOT NULL, file_sha1 TEXT NOT NULL,"
				 " file_sha256 TEXT NOT NULL, status INTEGER NOT NULL DEFAULT 0,"
				 " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL")
	PACKAGE_FILES_INDEXES
	REBUILD("package_protection_rules",
		" id INTEGER PRIMARY KEY AUTOINCREMENT,"
		" project_id INTEGER NOT NULL REFERENCES projects(id),"
		" package_type TEXT NOT NULL DEFAULT 'generic', package_name_pattern TEXT NOT NULL,"
		" minimum_access_level_for_push INTEGER NOT NULL DEFAULT 0,"
		" minimum_access_level_for_delete INTEGER NOT NULL DEFAULT 0,"
		" UNIQUE(project_id, package_type, package_name_pattern)");

/* 3: for blob stores that key objects per upload (S3): the one object that holds each
 * content. Rows go with the content's last package file (the sweep). */
static const char schema_v3[] =
	"CREATE TABLE blob_keys(sha256 TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE)"
	" WITHOUT ROWID;";

/* In order, numbered from 1: a schema change is a new entry at the end, never an edit. */
static const struct migration {
	int version;
	const char *sql;
} migrations[] = {
	{1, schema_v1},
	{2, schema_v2},
	{3, schema_v3},
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

enum stmt_id {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
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
	S_BLOB_KEY_GET,
	S_BLOB_KEY_PUT,
	S_BLOB_KEY_DELETE,
	S_BLOB_KEY_MAPPED,
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

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_USER_INSERT] = "INSERT INTO users(username, is_admin, created_at) VALUES(?1, ?2, ?3)",
	[S_USER_GET] = "SELECT id, username, is_admin FROM users WHERE id = ?1",
	[S_USER_FIND] = "SELECT id, username, is_admin FROM users WHERE username = ?1",
	[S_GROUP_INSERT] = "INSERT INTO groups(parent_id, path, visibility, created_at)"
			   " VALUES(?1, ?2, ?3, ?4)",
	[S_GROUP_FIND] = "SELECT id, COALESCE(parent_id, 0), path, visibility FROM groups"
			 " WHERE path = ?1",
	[S_PROJECT_INSERT] = "INSERT INTO projects(group_id, path, visibility, created_at)"
			     " VALUES(?1, ?2, ?3, ?4)",
	[S_PROJECT_GET] = "SELECT id, group_id, path, visibility FROM projects WHERE id = ?1",
	[S_PROJECT_FIND] = "SELECT id, group_id, path, visibility FROM projects WHERE path = ?1",
	[S_PROJECT_IN_GROUP] = ANCESTORS("?1") "SELECT COUNT(*) FROM anc WHERE id = ?2",
	[S_MEMBER_SET] = "INSERT INTO members(user_id, project_id, group_id, access_level)"
			 " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(user_id, project_id, group_id)"
			 " DO UPDATE SET access_level = excluded.access_level",
	[S_ACCESS_LEVEL] = ANCESTORS("?2") "SELECT COALESCE(MAX(access_level), 0) FROM members"
			   " WHERE user_id = ?1 AND (project_id = ?2 OR"
			   " (project_id = 0 AND group_id IN (SELECT id FROM anc)))",
	[S_TOKEN_INSERT] = "INSERT INTO tokens(kind, token_sha256, name, username, user_id,"
			   " project_id, group_id, scopes, expires_at, created_at)"
			   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[S_TOKEN_DEPLOY_NAME] = "UPDATE tokens SET username = 'gitlab+deploy-token-' || id"
				" WHERE id = ?1",
	[S_TOKEN_FIND] = "SELECT id, kind, token_sha256, name, username, user_id, project_id,"
			 " group_id, scopes, expires_at, revoked FROM tokens WHERE token_sha256 = ?1",
	[S_TOKEN_REVOKE] = "UPDATE tokens SET revoked = 1 WHERE id = ?1",
	[S_PKG_FIND_LIVE] = "SELECT id, status FROM packages WHERE project_id = ?1"
			    " AND package_type = 'generic' AND name = ?2 AND version = ?3"
			    " AND status != 4",
	[S_PKG_INSERT] = "INSERT INTO packages(project_id, name, version, status, creator_id,"
			 " created_at, updated_at) VALUES(?1, ?2, ?3, ?4, NULLIF(?5, 0), ?6, ?6)",
	[S_PKG_UPDATE] = "UPDATE packages SET status = ?2, updated_at = ?3 WHERE id = ?1",
	[S_FILE_INSERT] = "INSERT INTO package_files(package_id, file_name, size, file_md5,"
			  " file_sha1, file_sha256, status, created_at, updated_at)"
			  " VALUES(?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?7)",
	[S_FILE_LOOKUP] = "SELECT " PKG_COLS ", " FILE_COLS
			  /* CROSS JOIN: find the package first, then its file by name (the planner
			   * would otherwise walk package_files in id order) */
			  " FROM packages p CROSS JOIN package_files f ON f.package_id = p.id"
			  " WHERE p.project_id = ?1 AND p.package_type = 'generic' AND p.name = ?2"
			  " AND p.version = ?3 AND p.status IN (0, 1, 5) AND f.file_name = ?4"
			  " AND f.status = 0 ORDER BY f.id DESC LIMIT 1",
	[S_PKG_FIND_INSTALLABLE] = "SELECT " PKG_COLS " FROM packages p WHERE p.project_id = ?1"
				   " AND p.package_type = 'generic' AND p.name = ?2"
				   " AND p.version = ?3 AND p.status IN (0, 1, 5)",
	[S_PKG_TOUCH] = "UPDATE packages SET last_downloaded_at = ?2 WHERE id = ?1",
	[S_PKG_GET] = "SELECT " PKG_COLS " FROM packages p WHERE p.id = ?2 AND p.project_id = ?1",
	[S_PKG_VERSIONS] = "SELECT " PKG_COLS " FROM packages p WHERE p.project_id = ?1"
			   " AND p.package_type = 'generic' AND p.name = ?2 AND p.id != ?3"
			   " AND p.status IN (0, 3, 5) ORDER BY p.created_at, p.id",
	[S_FILE_GET] = "SELECT " FILE_COLS " FROM package_files f WHERE f.id = ?2"
		       " AND f.package_id = ?1",
	[S_PKG_DESTROY] = "UPDATE packages SET status = 4, updated_at = ?2 WHERE id = ?1",
	[S_PKG_FILES_DESTROY] = "UPDATE package_files SET status = 1, updated_at = ?2"
				" WHERE package_id = ?1 AND status = 0",
	[S_FILES_DESTROY] = "UPDATE package_files SET status = 1, updated_at = ?4"
			    " WHERE package_id = ?1 AND status = 0 AND (id = ?2 OR file_name = ?3)",
	[S_PKG_DROP_EMPTY] = "UPDATE packages SET status = 4, updated_at = ?2 WHERE id = ?1"
			     " AND NOT EXISTS (SELECT 1 FROM package_files"
			     " WHERE package_id = ?1 AND status = 0)",
	[S_GROUP_PROJECTS] = "WITH RECURSIVE sub(id) AS (SELECT ?1 UNION"
			     " SELECT g.id FROM groups g JOIN sub ON g.parent_id = sub.id"
			     " WHERE ?2 = 0)"
			     " SELECT id, group_id, path, visibility FROM projects"
			     " WHERE group_id IN (SELECT id FROM sub) ORDER BY id",
	[S_GROUP_GET] = "SELECT id, COALESCE(parent_id, 0), path, visibility FROM groups"
			" WHERE id = ?1",
	[S_GROUP_ACCESS] = "WITH RECURSIVE anc(id) AS (SELECT ?2 UNION SELECT g.parent_id"
			   " FROM groups g JOIN anc ON g.id = anc.id WHERE g.parent_id IS NOT NULL)"
			   " SELECT COALESCE(MAX(access_level), 0) FROM members WHERE user_id = ?1"
			   " AND project_id = 0 AND group_id IN (SELECT id FROM anc)",
	/* Content that only rows pending destruction still name. */
	[S_SWEEP_SELECT] = "SELECT DISTINCT f.file_sha256 FROM package_files f"
			   " JOIN packages p ON p.id = f.package_id"
			   " WHERE (f.status != 0 OR p.status = 4) AND NOT EXISTS ("
			   " SELECT 1 FROM package_files g JOIN packages q ON q.id = g.package_id"
			   " WHERE g.file_sha256 = f.file_sha256 AND g.status = 0 AND q.status != 4)"
			   " AND f.file_sha256 > ?1 ORDER BY f.file_sha256 LIMIT 100",
	[S_SWEEP_DELETE_FILES] = "DELETE FROM package_files WHERE file_sha256 = ?1",
	[S_SWEEP_DELETE_PKGS] = "DELETE FROM packages WHERE status = 4 AND NOT EXISTS ("
				"SELECT 1 FROM package_files f WHERE f.package_id = packages.id)",
	[S_BLOB_KEY_GET] = "SELECT key FROM blob_keys WHERE sha256 = ?1",
	[S_BLOB_KEY_PUT] = "INSERT INTO blob_keys(sha256, key) VALUES(?1, ?2)",
	[S_BLOB_KEY_DELETE] = "DELETE FROM blob_keys WHERE sha256 = ?1",
	[S_BLOB_KEY_MAPPED] = "SELECT EXISTS(SELECT 1 FROM blob_keys WHERE key = ?1)",
	[S_BLOB_REFERENCED] = "SELECT EXISTS(SELECT 1 FROM package_files WHERE file_sha256 = ?1)",
	[S_AUDIT_INSERT] = "INSERT INTO audit_log(at, action, username, token_kind, token_id,"
			   " project_id, package, version, file_name, size, sha256, client, detail)"
			   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[S_AUDIT_LIST] = "SELECT at, action, username, token_kind, token_id, project_id, package,"
			 " version, file_name, size, sha256, client, detail FROM audit_log"
			 " WHERE (?1 = 0 OR project_id = ?1) AND (?2 IS NULL OR package = ?2)"
			 " AND (?3 IS NULL OR username = ?3) ORDER BY id DESC LIMIT ?4",
	[S_LIVE_CONTENTS] = "SELECT f.file_sha256, f.size, f.id FROM package_files f"
			    " JOIN packages p ON p.id = f.package_id WHERE f.status = 0"
			    " AND p.status != 4 ORDER BY f.id",
	[S_INLINE_ORPHANS] = "SELECT sha256 FROM inline_blobs i WHERE NOT EXISTS ("
			     "SELECT 1 FROM package_files f WHERE f.file_sha256 = i.sha256)",
	[S_INLINE_ORPHANS_DELETE] = "DELETE FROM inline_blobs WHERE NOT EXISTS ("
				    "SELECT 1 FROM package_files f"
				    " WHERE f.file_sha256 = inline_blobs.sha256)",
	/* The new bytes hashed to sha256; a stored copy that differs is damaged: replaced. */
	[S_INLINE_PUT] = "INSERT INTO inline_blobs(sha256, data) VALUES(?1, ?2)"
			 " ON CONFLICT(sha256) DO UPDATE SET data = excluded.data"
			 " WHERE data IS NOT excluded.data",
	[S_INLINE_GET] = "SELECT data FROM inline_blobs WHERE sha256 = ?1",
	[S_INLINE_DELETE] = "DELETE FROM inline_blobs WHERE sha256 = ?1",
	[S_SAVEPOINT] = "SAVEPOINT publish",
	[S_RELEASE] = "RELEASE publish",
	[S_ROLLBACK_TO] = "ROLLBACK TO publish",
	[S_FILE_EXISTS] = "SELECT EXISTS(SELECT 1 FROM package_files WHERE package_id = ?1"
			  " AND file_name = ?2 AND status = 0)",
	[S_SETTINGS_GET] = "SELECT generic_duplicates_allowed, generic_duplicate_exception_regex"
			   " FROM namespace_package_settings WHERE group_id = ?1",
	[S_SETTINGS_SET] = "INSERT INTO namespace_package_settings(group_id,"
			   " generic_duplicates_allowed, generic_duplicate_exception_regex)"
			   " VALUES(?1, ?2, ?3) ON CONFLICT(group_id) DO UPDATE SET"
			   " generic_duplicates_allowed = excluded.generic_duplicates_allowed,"
			   " generic_duplicate_exception_regex ="
			   " excluded.generic_duplicate_exception_regex",
	[S_RULE_INSERT] = "INSERT INTO package_protection_rules(project_id, package_name_pattern,"
			  " minimum_access_level_for_push, minimum_access_level_for_delete)"
			  " VALUES(?1, ?2, ?3, ?4)",
	[S_RULE_UPDATE] = "UPDATE package_protection_rules SET package_name_pattern = ?3,"
			  " minimum_access_level_for_push = ?4, minimum_access_level_for_delete = ?5"
			  " WHERE project_id = ?1 AND id = ?2",
	[S_RULE_DELETE] = "DELETE FROM package_protection_rules WHERE project_id = ?1 AND id = ?2",
	[S_RULE_GET] = "SELECT id, project_id, package_name_pattern, minimum_access_level_for_push,"
		       " minimum_access_level_for_delete FROM package_protection_rules"
		       " WHERE project_id = ?1 AND id = ?2",
	[S_RULES_LIST] = "SELECT id, project_id, package_name_pattern, minimum_access_level_for_push,"
			 " minimum_access_level_for_delete FROM package_protection_rules"
			 " WHERE project_id = ?1 ORDER BY id",
	/* '*' is the only wildcard: LIKE's own % and _ (and the escape) are taken literally. */
	[S_RULES_MATCH] = "SELECT id, minimum_access_level_for_push, minimum_access_level_for_delete"
			  " FROM package_protection_rules WHERE project_id = ?1 AND ?2 LIKE"
			  " REPLACE(REPLACE(REPLACE(REPLACE(package_name_pattern, '\\', '\\\\'),"
			  " '%', '\\%'), '_', '\\_'), '*', '%') ESCAPE '\\' ORDER BY id",
	[S_CLEANUP_GET] = "SELECT keep_n_duplicated_package_files, keep_n_versions,"
			  " older_than_days, not_downloaded_days, keep_regex FROM cleanup_policies"
			  " WHERE project_id = ?1",
	[S_CLEANUP_SET] = "INSERT INTO cleanup_policies(project_id, keep_n_duplicated_package_files,"
			  " keep_n_versions, older_than_days, not_downloaded_days, keep_regex)"
			  " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(project_id) DO UPDATE SET"
			  " keep_n_duplicated_package_files = excluded.keep_n_duplicated_package_files,"
			  " keep_n_versions = excluded.keep_n_versions,"
			  " older_than_days = excluded.older_than_days,"
			  " not_downloaded_days = excluded.not_downloaded_days,"
			  " keep_regex = excluded.keep_regex",
	[S_CLEANUP_PROJECTS] = "SELECT project_id FROM cleanup_policies WHERE"
			       " keep_n_duplicated_package_files > 0 OR keep_n_versions > 0 OR"
			       " older_than_days > 0 OR not_downloaded_days > 0 ORDER BY project_id",
	[S_PROJECT_PACKAGES] = "SELECT " PKG_COLS " FROM packages p WHERE p.project_id = ?1"
			       " AND p.status != 4 ORDER BY p.name, p.created_at DESC, p.id DESC",
	[S_FILES_BEYOND] = "SELECT " FILE_COLS " FROM (SELECT f.*, ROW_NUMBER() OVER ("
			   " PARTITION BY f.package_id, f.file_name ORDER BY f.id DESC) AS rn"
			   " FROM package_files f JOIN packages p ON p.id = f.package_id"
			   " WHERE p.project_id = ?1 AND p.status != 4 AND f.status = 0) f"
			   " WHERE rn > ?2 ORDER BY f.package_id, f.file_name, f.id",
};

struct conn {
	sqlite3 *db;
	sqlite3_stmt *stmts[S_COUNT];
};

struct meta_sqlite {
	struct meta base;
	char *path;
	pthread_key_t key;
};

static void conn_free(void *p)
{
	struct conn *c = p;
	if (!c)
		return;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(c->stmts[i]);
	sqlite3_close(c->db);
	free(c);
}

static struct conn *conn_open(const char *path)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
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
static struct conn *conn_get(struct meta *m)
{
	struct meta_sqlite *ms = (struct meta_sqlite *)m;
	struct conn *c = pthread_getspecific(ms->key);
	if (c)
		return c;
	c = conn_open(ms->path);
	if (c && pthread_setspecific(ms->key, c) != 0) {
		conn_free(c);
		c = NULL;
	}
	return c;
}

/* A ready-to-bind statement of this thread's connection, or NULL. */
static sqlite3_stmt *stmt(struct conn *c, enum stmt_id id);

/* The same, for operations that need nothing else of the connection. */
static sqlite3_stmt *prepared(struct meta *m, enum stmt_id id)
{
	struct conn *c = conn_get(m);
	return c ? stmt(c, id) : NULL;
}

static sqlite3_stmt *stmt(struct conn *c, enum stmt_id id)
{
	if (!c->stmts[id]) {
		if (sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
				       &c->stmts[id], NULL) != SQLITE_OK) {
			fprintf(stderr, "depot: sqlite prepare: %s\n", sqlite3_errmsg(c->db));
			return NULL;
		}
	} else {
		sqlite3_reset(c->stmts[id]);
		sqlite3_clear_bindings(c->stmts[id]);
	}
	return c->stmts[id];
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

/* Runs a statement that returns no rows. */
static int exec_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : map_rc(sqlite3_extended_errcode(sqlite3_db_handle(st)) & 0xff);
}

static int exec_id(struct conn *c, enum stmt_id id)
{
	sqlite3_stmt *st = stmt(c, id);
	return st ? exec_done(st) : -EIO;
}

/* Starts a write transaction, or joins the one this thread is in (see meta_ops.locked). */
static int tx_begin(struct conn *c, bool *own)
{
	*own = sqlite3_get_autocommit(c->db) != 0;
	return *own ? exec_id(c, S_BEGIN) : 0;
}

/* Ends what tx_begin started: commit on success, roll back on failure. */
static int tx_end(struct conn *c, bool own, int ret)
{
	if (!own)
		return ret;
	if (ret == 0)
		ret = exec_id(c, S_COMMIT);
	if (ret != 0)
		exec_id(c, S_ROLLBACK);
	return ret;
}

/* Steps a single-row query: 0 with the row ready, -ENOENT when empty, -EIO on error.
 * The caller resets the statement. */
static int step_row(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : -EIO;
}

static void copy_text(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static void row_package(sqlite3_stmt *st, int col, struct meta_package *p)
{
	p->id = sqlite3_column_int64(st, col);
	p->project_id = sqlite3_column_int64(st, col + 1);
	copy_text(p->name, sizeof(p->name), st, col + 2);
	copy_text(p->version, sizeof(p->version), st, col + 3);
	p->status = (enum package_status)sqlite3_column_int(st, col + 4);
	p->created_at_ms = sqlite3_column_int64(st, col + 5);
	p->last_downloaded_at_ms = sqlite3_column_int64(st, col + 6);
	p->updated_at_ms = sqlite3_column_int64(st, col + 7);
}

static void row_file(sqlite3_stmt *st, int col, struct meta_package_file *f)
{
	f->id = sqlite3_column_int64(st, col);
	f->package_id = sqlite3_column_int64(st, col + 1);
	copy_text(f->file_name, sizeof(f->file_name), st, col + 2);
	f->size = sqlite3_column_int64(st, col + 3);
	copy_text(f->digests.md5, sizeof(f->digests.md5), st, col + 4);
	copy_text(f->digests.sha1, sizeof(f->digests.sha1), st, col + 5);
	copy_text(f->digests.sha256, sizeof(f->digests.sha256), st, col + 6);
	f->status = (enum package_file_status)sqlite3_column_int(st, col + 7);
	f->created_at_ms = sqlite3_column_int64(st, col + 8);
	f->updated_at_ms = sqlite3_column_int64(st, col + 9);
}

static int user_row(sqlite3_stmt *st, struct meta_user *out)
{
	int ret = step_row(st);
	if (ret == 0) {
		out->id = sqlite3_column_int64(st, 0);
		copy_text(out->username, sizeof(out->username), st, 1);
		out->is_admin = sqlite3_column_int(st, 2) != 0;
	}
	sqlite3_reset(st);
	return ret;
}

static int ms_user_create(struct meta *m, const char *username, bool is_admin, int64_t *id_out)
{
	struct conn *c = conn_get(m);
	sqlite3_stmt *st = c ? stmt(c, S_USER_INSERT) : NULL;
	if (!st)
		return -EIO;
	bind_text(st, 1, username);
	sqlite3_bind_int(st, 2, is_admin);
	sqlite3_bind_int64(st, 3, now_ms());
	int ret = exec_done(st);
	if (ret == 0)
		*id_out = sqlite3_last_insert_rowid(c->db);
	return ret;
}

static int ms_user_get(struct meta *m, int64_t id, struct meta_user *out)
{
	sqlite3_stmt *st = prepared(m, S_USER_GET);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	return user_row(st, out);
}

static int ms_user_find(struct meta *m, const char *username, struct meta_user *out)
{
	sqlite3_stmt *st = prepared(m, S_USER_FIND);
	if (!st)
		return -EIO;
	bind_text(st, 1, username);
	return user_row(st, out);
}

static int ms_group_find(struct meta *m, const char *path, struct meta_group *out)
{
	sqlite3_stmt *st = prepared(m, S_GROUP_FIND);
	if (!st)
		return -EIO;
	bind_text(st, 1, path);
	int ret = step_row(st);
	if (ret == 0) {
		out->id = sqlite3_column_int64(st, 0);
		out->parent_id = sqlite3_column_int64(st, 1);
		copy_text(out->path, sizeof(out->path), st, 2);
		out->visibility = (enum visibility)sqlite3_column_int(st, 3);
	}
	sqlite3_reset(st);
	return ret;
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

static int ms_group_create(struct meta *m, const char *path, enum visibility vis, int64_t *id_out)
{
	struct conn *c = conn_get(m);
	sqlite3_stmt *st = c ? stmt(c, S_GROUP_INSERT) : NULL;
	if (!st)
		return -EIO;
	char parent[FULL_PATH_MAX + 1];
	struct meta_group pg;
	int64_t parent_id = 0;
	if (parent_path(path, parent, sizeof(parent)) == 0) {
		if (ms_group_find(m, parent, &pg) != 0)
			return -EINVAL;
		parent_id = pg.id;
	}
	if (parent_id)
		sqlite3_bind_int64(st, 1, parent_id);
	bind_text(st, 2, path);
	sqlite3_bind_int(st, 3, vis);
	sqlite3_bind_int64(st, 4, now_ms());
	int ret = exec_done(st);
	if (ret == 0)
		*id_out = sqlite3_last_insert_rowid(c->db);
	return ret;
}

static int project_row(sqlite3_stmt *st, struct meta_project *out)
{
	int ret = step_row(st);
	if (ret == 0) {
		out->id = sqlite3_column_int64(st, 0);
		out->group_id = sqlite3_column_int64(st, 1);
		copy_text(out->path, sizeof(out->path), st, 2);
		out->visibility = (enum visibility)sqlite3_column_int(st, 3);
	}
	sqlite3_reset(st);
	return ret;
}

static int ms_project_create(struct meta *m, const char *path, enum visibility vis,
			     int64_t *id_out)
{
	struct conn *c = conn_get(m);
	sqlite3_stmt *st = c ? stmt(c, S_PROJECT_INSERT) : NULL;
	if (!st)
		return -EIO;
	char parent[FULL_PATH_MAX + 1];
	struct meta_group g;
	if (parent_path(path, parent, sizeof(parent)) != 0 || ms_group_find(m, parent, &g) != 0)
		return -EINVAL;
	sqlite3_bind_int64(st, 1, g.id);
	bind_text(st, 2, path);
	sqlite3_bind_int(st, 3, vis);
	sqlite3_bind_int64(st, 4, now_ms());
	int ret = exec_done(st);
	if (ret == 0)
		*id_out = sqlite3_last_insert_rowid(c->db);
	return ret;
}

static int ms_project_get(struct meta *m, int64_t id, struct meta_project *out)
{
	sqlite3_stmt *st = prepared(m, S_PROJECT_GET);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	return project_row(st, out);
}

static int ms_project_find(struct meta *m, const char *path, struct meta_project *out)
{
	sqlite3_stmt *st = prepared(m, S_PROJECT_FIND);
	if (!st)
		return -EIO;
	bind_text(st, 1, path);
	return project_row(st, out);
}

static int ms_project_in_group(struct meta *m, int64_t project_id, int64_t group_id, bool *out)
{
	sqlite3_stmt *st = prepared(m, S_PROJECT_IN_GROUP);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, project_id);
	sqlite3_bind_int64(st, 2, group_id);
	int ret = step_row(st);
	if (ret == 0)
		*out = sqlite3_column_int(st, 0) > 0;
	sqlite3_reset(st);
	return ret;
}

static int ms_member_set(struct meta *m, int64_t user_id, int64_t project_id, int64_t group_id,
			 enum access_level level)
{
	sqlite3_stmt *st = prepared(m, S_MEMBER_SET);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, project_id);
	sqlite3_bind_int64(st, 3, group_id);
	sqlite3_bind_int(st, 4, level);
	return exec_done(st);
}

static int ms_access_level(struct meta *m, int64_t user_id, int64_t project_id,
			   enum access_level *out)
{
	sqlite3_stmt *st = prepared(m, S_ACCESS_LEVEL);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, project_id);
	int ret = step_row(st);
	if (ret == 0)
		*out = (enum access_level)sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return ret;
}

static int ms_token_insert(struct meta *m, struct meta_token *t)
{
	struct conn *c = conn_get(m);
	if (!c)
		return -EIO;
	bool own;
	int ret = tx_begin(c, &own);
	if (ret != 0)
		return ret;
	sqlite3_stmt *st = stmt(c, S_TOKEN_INSERT);
	if (!st) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_int(st, 1, t->kind);
	bind_text(st, 2, t->hash);
	bind_text(st, 3, t->name);
	bind_text(st, 4, t->username);
	sqlite3_bind_int64(st, 5, t->user_id);
	sqlite3_bind_int64(st, 6, t->project_id);
	sqlite3_bind_int64(st, 7, t->group_id);
	sqlite3_bind_int(st, 8, (int)t->scopes);
	sqlite3_bind_int64(st, 9, t->expires_at_ms);
	sqlite3_bind_int64(st, 10, now_ms());
	if ((ret = exec_done(st)) != 0)
		goto out;
	t->id = sqlite3_last_insert_rowid(c->db);
	if (t->kind == TOKEN_DEPLOY && t->username[0] == '\0') {
		st = stmt(c, S_TOKEN_DEPLOY_NAME);
		if (!st) {
			ret = -EIO;
			goto out;
		}
		sqlite3_bind_int64(st, 1, t->id);
		if ((ret = exec_done(st)) != 0)
			goto out;
		snprintf(t->username, sizeof(t->username), "gitlab+deploy-token-%lld",
			 (long long)t->id);
	}
out:
	return tx_end(c, own, ret);
}

static int ms_token_find_by_hash(struct meta *m, const char *hash_hex, struct meta_token *out)
{
	sqlite3_stmt *st = prepared(m, S_TOKEN_FIND);
	if (!st)
		return -EIO;
	bind_text(st, 1, hash_hex);
	int ret = step_row(st);
	if (ret == 0) {
		out->id = sqlite3_column_int64(st, 0);
		out->kind = (enum token_kind)sqlite3_column_int(st, 1);
		copy_text(out->hash, sizeof(out->hash), st, 2);
		copy_text(out->name, sizeof(out->name), st, 3);
		copy_text(out->username, sizeof(out->username), st, 4);
		out->user_id = sqlite3_column_int64(st, 5);
		out->project_id = sqlite3_column_int64(st, 6);
		out->group_id = sqlite3_column_int64(st, 7);
		out->scopes = (unsigned)sqlite3_column_int(st, 8);
		out->expires_at_ms = sqlite3_column_int64(st, 9);
		out->revoked = sqlite3_column_int(st, 10) != 0;
	}
	sqlite3_reset(st);
	return ret;
}

static int ms_token_revoke(struct meta *m, int64_t id)
{
	struct conn *c = conn_get(m);
	sqlite3_stmt *st = c ? stmt(c, S_TOKEN_REVOKE) : NULL;
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	int ret = exec_done(st);
	if (ret == 0 && sqlite3_changes(c->db) == 0)
		ret = -ENOENT;
	return ret;
}

/* Inside an open transaction: the live package's id, created if needed. */
static int package_for_publish(struct conn *c, const struct meta_publish *p, int64_t now,
			       int64_t *pkg_id)
{
	sqlite3_stmt *st = stmt(c, S_PKG_FIND_LIVE);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, p->project_id);
	bind_text(st, 2, p->name);
	bind_text(st, 3, p->version);
	int ret = step_row(st);
	int status = 0;
	if (ret == 0) {
		*pkg_id = sqlite3_column_int64(st, 0);
		status = sqlite3_column_int(st, 1);
	}
	sqlite3_reset(st);
	if (ret == -ENOENT) {
		st = stmt(c, S_PKG_INSERT);
		if (!st)
			return -EIO;
		sqlite3_bind_int64(st, 1, p->project_id);
		bind_text(st, 2, p->name);
		bind_text(st, 3, p->version);
		sqlite3_bind_int(st, 4, p->status >= 0 ? p->status : PKG_DEFAULT);
		sqlite3_bind_int64(st, 5, p->creator_id);
		sqlite3_bind_int64(st, 6, now);
		if ((ret = exec_done(st)) == 0)
			*pkg_id = sqlite3_last_insert_rowid(c->db);
		return ret;
	}
	if (ret != 0)
		return ret;
	/* An upload with an explicit status re-labels the package (hide or un-hide it). */
	st = stmt(c, S_PKG_UPDATE);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, *pkg_id);
	sqlite3_bind_int(st, 2, p->status >= 0 ? p->status : status);
	sqlite3_bind_int64(st, 3, now);
	return exec_done(st);
}

static int ms_file_publish(struct meta *m, const struct meta_publish *p,
			   struct meta_package_file *out)
{
	struct conn *c = conn_get(m);
	if (!c)
		return -EIO;
	int64_t now = now_ms(), pkg_id = 0;
	bool own;
	int ret = tx_begin(c, &own);
	if (ret != 0)
		return ret;
	if ((ret = package_for_publish(c, p, now, &pkg_id)) != 0)
		goto out;
	sqlite3_stmt *st;
	if (p->refuse_duplicate) {
		/* Checked inside the write transaction: of concurrent uploads of one name,
		 * exactly one finds no file and commits. */
		if (!(st = stmt(c, S_FILE_EXISTS))) {
			ret = -EIO;
			goto out;
		}
		sqlite3_bind_int64(st, 1, pkg_id);
		bind_text(st, 2, p->file_name);
		ret = step_row(st);
		bool exists = ret == 0 && sqlite3_column_int(st, 0);
		sqlite3_reset(st);
		if (ret == 0 && exists)
			ret = -EEXIST;
		if (ret != 0)
			goto out;
	}
	if (p->inline_data) {
		if (!(st = stmt(c, S_INLINE_PUT))) {
			ret = -EIO;
			goto out;
		}
		bind_text(st, 1, p->digests->sha256);
		sqlite3_bind_blob64(st, 2, p->inline_data, (sqlite3_uint64)p->size, SQLITE_STATIC);
		if ((ret = exec_done(st)) != 0)
			goto out;
	}
	st = stmt(c, S_FILE_INSERT);
	if (!st) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_int64(st, 1, pkg_id);
	bind_text(st, 2, p->file_name);
	sqlite3_bind_int64(st, 3, p->size);
	bind_text(st, 4, p->digests->md5);
	bind_text(st, 5, p->digests->sha1);
	bind_text(st, 6, p->digests->sha256);
	sqlite3_bind_int64(st, 7, now);
	if ((ret = exec_done(st)) != 0)
		goto out;
	out->id = sqlite3_last_insert_rowid(c->db);
	out->package_id = pkg_id;
	snprintf(out->file_name, sizeof(out->file_name), "%s", p->file_name);
	out->size = p->size;
	out->digests = *p->digests;
	out->status = FILE_DEFAULT;
	out->created_at_ms = out->updated_at_ms = now;
out:
	return tx_end(c, own, ret);
}

static int ms_publish_batch(struct meta *m, struct meta_publish_item *items, size_t n)
{
	struct conn *c = conn_get(m);
	if (!c)
		return -EIO;
	bool own;
	int ret = tx_begin(c, &own);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		if ((ret = exec_id(c, S_SAVEPOINT)) != 0)
			break;
		items[i].result = ms_file_publish(m, items[i].p, &items[i].out);
		if (items[i].result != 0)
			ret = exec_id(c, S_ROLLBACK_TO);
		if (ret == 0)
			ret = exec_id(c, S_RELEASE);
	}
	ret = tx_end(c, own, ret);
	for (size_t i = 0; ret != 0 && i < n; i++)
		if (items[i].result == 0)
			items[i].result = ret; /* the commit failed: nothing of the batch stands */
	return ret;
}

static int ms_inline_blob_get(struct meta *m, const char *sha256, char **data, size_t *len)
{
	sqlite3_stmt *st = prepared(m, S_INLINE_GET);
	if (!st)
		return -EIO;
	bind_text(st, 1, sha256);
	int ret = step_row(st);
	if (ret == 0) {
		*len = (size_t)sqlite3_column_bytes(st, 0);
		const void *b = sqlite3_column_blob(st, 0);
		if (!(*data = malloc(*len ? *len : 1)))
			ret = -ENOMEM;
		else if (*len) /* an empty blob comes back as NULL */
			memcpy(*data, b, *len);
	}
	sqlite3_reset(st);
	return ret;
}

static int ms_file_lookup(struct meta *m, int64_t project_id, const char *name,
			  const char *version, const char *file_name, struct meta_package *pkg,
			  struct meta_package_file *file)
{
	sqlite3_stmt *st = prepared(m, S_FILE_LOOKUP);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, project_id);
	bind_text(st, 2, name);
	bind_text(st, 3, version);
	bind_text(st, 4, file_name);
	int ret = step_row(st);
	if (ret == 0) {
		row_package(st, 0, pkg);
		row_file(st, PKG_NCOLS, file);
	}
	sqlite3_reset(st);
	return ret;
}

static int ms_package_find(struct meta *m, int64_t project_id, const char *name,
			   const char *version, struct meta_package *out)
{
	sqlite3_stmt *st = prepared(m, S_PKG_FIND_INSTALLABLE);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, project_id);
	bind_text(st, 2, name);
	bind_text(st, 3, version);
	int ret = step_row(st);
	if (ret == 0)
		row_package(st, 0, out);
	sqlite3_reset(st);
	return ret;
}

static int ms_package_touch_download(struct meta *m, int64_t package_id, int64_t when_ms)
{
	sqlite3_stmt *st = prepared(m, S_PKG_TOUCH);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, package_id);
	sqlite3_bind_int64(st, 2, when_ms);
	return exec_done(st);
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

/* Runs a query built at run time (ORDER BY cannot be bound); binds via bind_fn. */
static sqlite3_stmt *prepare_dynamic(struct conn *c, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "depot: sqlite prepare: %s\n", sqlite3_errmsg(c->db));
		return NULL;
	}
	return st;
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

/* "[1,2,3]" for json_each(). Caller frees. */
static char *id_array(const int64_t *ids, size_t n)
{
	size_t cap = n * 21 + 3;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t o = 0;
	out[o++] = '[';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%lld", i ? "," : "", (long long)ids[i]);
	out[o++] = ']';
	out[o] = '\0';
	return out;
}

static int count_rows(sqlite3_stmt *st, int64_t *total)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*total = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -EIO;
}

#define PKG_WHERE " FROM packages p JOIN projects pr ON pr.id = p.project_id" \
		  " WHERE p.project_id IN (SELECT value FROM json_each(?1))" \
		  " AND (?2 IS NULL OR p.name LIKE ?2 ESCAPE '\\')" \
		  " AND (?3 IS NULL OR p.version = ?3)" \
		  " AND (CASE WHEN ?4 < 0 THEN p.status IN (0, 3, 5) ELSE p.status = ?4 END)"

static void bind_package_query(sqlite3_stmt *st, const struct package_query *q, const char *ids,
			       const char *like)
{
	bind_text(st, 1, ids);
	bind_text(st, 2, like);
	bind_text(st, 3, q->version);
	sqlite3_bind_int(st, 4, q->status);
}

static int ms_packages_list(struct meta *m, const struct package_query *q, meta_package_cb cb,
			    void *ctx, int64_t *total)
{
	static const char *const cols[] = {"p.created_at", "p.name", "p.version",
					   "p.package_type", "pr.path"};
	struct conn *c = conn_get(m);
	if (!c)
		return -EIO;
	int ret = -ENOMEM;
	char *ids = id_array(q->project_ids, q->nprojects);
	char *like = q->name_like ? like_pattern(q->name_like) : NULL;
	char sql[1024];
	if (!ids || (q->name_like && !like))
		goto out;
	ret = -EIO;
	sqlite3_stmt *st = prepare_dynamic(c, "SELECT COUNT(*)" PKG_WHERE);
	if (!st)
		goto out;
	bind_package_query(st, q, ids, like);
	if ((ret = count_rows(st, total)) != 0)
		goto out;
	const char *dir = q->desc ? "DESC" : "ASC";
	snprintf(sql, sizeof(sql), "SELECT " PKG_COLS ", pr.path" PKG_WHERE
		 " ORDER BY %s %s, p.id %s LIMIT ?5 OFFSET ?6", cols[q->order], dir, dir);
	if (!(st = prepare_dynamic(c, sql))) {
		ret = -EIO;
		goto out;
	}
	bind_package_query(st, q, ids, like);
	sqlite3_bind_int64(st, 5, q->limit);
	sqlite3_bind_int64(st, 6, q->offset);
	struct meta_package p;
	int rc;
	ret = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_package(st, 0, &p);
		copy_text(p.project_path, sizeof(p.project_path), st, PKG_NCOLS);
		if ((ret = cb(ctx, &p)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -EIO;
	sqlite3_finalize(st);
out:
	free(ids);
	free(like);
	return ret;
}

#define FILE_WHERE " FROM package_files f WHERE f.package_id = ?1 AND f.status = 0" \
		   " AND (?2 = 0 OR f.id = (SELECT MAX(g.id) FROM package_files g" \
		   " WHERE g.package_id = f.package_id AND g.file_name = f.file_name" \
		   " AND g.status = 0))"

static int ms_package_files_list(struct meta *m, const struct file_query *q, meta_file_cb cb,
				 void *ctx, int64_t *total)
{
	static const char *const cols[] = {"f.id", "f.created_at", "f.file_name"};
	if (q->after_name && (q->order != FILE_ORDER_FILE_NAME || q->desc))
		return -EINVAL;
	struct conn *c = conn_get(m);
	if (!c)
		return -EIO;
	sqlite3_stmt *st;
	int ret = 0;
	if (total) {
		if (!(st = prepare_dynamic(c, "SELECT COUNT(*)" FILE_WHERE)))
			return -EIO;
		sqlite3_bind_int64(st, 1, q->package_id);
		sqlite3_bind_int(st, 2, q->latest_only);
		if ((ret = count_rows(st, total)) != 0)
			return ret;
	}
	char sql[1024];
	const char *dir = q->desc ? "DESC" : "ASC";
	/* a row value, so that the (package_id, file_name, id) index serves the keyset */
	snprintf(sql, sizeof(sql), "SELECT " FILE_COLS FILE_WHERE
		 "%s ORDER BY %s %s, f.id %s LIMIT ?3 OFFSET ?4",
		 q->after_name ? " AND (f.file_name, f.id) > (?5, ?6)" : "", cols[q->order], dir, dir);
	if (!(st = prepare_dynamic(c, sql)))
		return -EIO;
	sqlite3_bind_int64(st, 1, q->package_id);
	sqlite3_bind_int(st, 2, q->latest_only);
	sqlite3_bind_int64(st, 3, q->limit);
	sqlite3_bind_int64(st, 4, q->offset);
	if (q->after_name) {
		bind_text(st, 5, q->after_name);
		sqlite3_bind_int64(st, 6, q->after_id);
	}
	struct meta_package_file f;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_file(st, 0, &f);
		if ((ret = cb(ctx, &f)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -EIO;
	sqlite3_finalize(st);
	return ret;
}

static int ms_package_get(struct meta *m, int64_t project_id, int64_t package_id,
			  struct meta_package *out)
{
	sqlite3_stmt *st = prepared(m, S_PKG_GET);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, project_id);
	sqlite3_bind_int64(st, 2, package_id);
	int ret = step_row(st);
	if (ret == 0)
		row_package(st, 0, out);
	sqlite3_reset(st);
	return ret;
}

static int ms_package_versions(struct meta *m, const struct meta_package *pkg, meta_package_cb cb,
			       void *ctx)
{
	sqlite3_stmt *st = prepared(m, S_PKG_VERSIONS);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, pkg->project_id);
	bind_text(st, 2, pkg->name);
	sqlite3_bind_int64(st, 3, pkg->id);
	int rc, ret = 0;
	struct meta_package p;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_package(st, 0, &p);
		if ((ret = cb(ctx, &p)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -EIO;
	sqlite3_reset(st);
	return ret;
}

static int ms_package_file_get(struct meta *m, int64_t package_id, int64_t file_id,
			       struct meta_package_file *out)
{
	sqlite3_stmt *st = prepared(m, S_FILE_GET);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, package_id);
	sqlite3_bind_int64(st, 2, file_id);
	int ret = step_row(st);
	if (ret == 0)
		row_file(st, 0, out);
	sqlite3_reset(st);
	return ret;
}

/* Runs one of the (package_id, now) updates. */
static int exec_pkg_now(struct conn *c, enum stmt_id id, int64_t package_id, int64_t now)
{
	sqlite3_stmt *st = stmt(c, id);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, package_id);
	sqlite3_bind_int64(st, 2, now);
	return exec_done(st);
}

static int ms_package_destroy(struct meta *m, int64_t package_id)
{
	struct conn *c = conn_get(m);
	if (!c)
		return -EIO;
	bool own;
	int64_t now = now_ms();
	int ret = tx_begin(c, &own);
	if (ret == 0)
		ret = exec_pkg_now(c, S_PKG_DESTROY, package_id, now);
	if (ret == 0)
		ret = exec_pkg_now(c, S_PKG_FILES_DESTROY, package_id, now);
	return tx_end(c, own, ret);
}

static int ms_files_destroy(struct meta *m, int64_t package_id, int64_t file_id,
			    const char *file_name, bool drop_empty)
{
	struct conn *c = conn_get(m);
	if (!c)
		return -EIO;
	bool own;
	int64_t now = now_ms();
	int ret = tx_begin(c, &own);
	if (ret != 0)
		return ret;
	sqlite3_stmt *st = stmt(c, S_FILES_DESTROY);
	if (!st) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_int64(st, 1, package_id);
	sqlite3_bind_int64(st, 2, file_id);
	bind_text(st, 3, file_name);
	sqlite3_bind_int64(st, 4, now);
	if ((ret = exec_done(st)) != 0)
		goto out;
	if (sqlite3_changes(c->db) == 0) {
		ret = -ENOENT;
		goto out;
	}
	if (drop_empty)
		ret = exec_pkg_now(c, S_PKG_DROP_EMPTY, package_id, now);
out:
	return tx_end(c, own, ret);
}

static int ms_group_projects(struct meta *m, int64_t group_id, bool direct_only,
			     int (*cb)(void *ctx, const struct meta_project *p), void *ctx)
{
	sqlite3_stmt *st = prepared(m, S_GROUP_PROJECTS);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, group_id);
	sqlite3_bind_int(st, 2, direct_only);
	int rc, ret = 0;
	struct meta_project p;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		p.id = sqlite3_column_int64(st, 0);
		p.group_id = sqlite3_column_int64(st, 1);
		copy_text(p.path, sizeof(p.path), st, 2);
		p.visibility = (enum visibility)sqlite3_column_int(st, 3);
		if ((ret = cb(ctx, &p)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -EIO;
	sqlite3_reset(st);
	return ret;
}

static int ms_group_get(struct meta *m, int64_t id, struct meta_group *out)
{
	sqlite3_stmt *st = prepared(m, S_GROUP_GET);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	int ret = step_row(st);
	if (ret == 0) {
		out->id = sqlite3_column_int64(st, 0);
		out->parent_id = sqlite3_column_int64(st, 1);
		copy_text(out->path, sizeof(out->path), st, 2);
		out->visibility = (enum visibility)sqlite3_column_int(st, 3);
	}
	sqlite3_reset(st);
	return ret;
}

static int ms_group_access_level(struct meta *m, int64_t user_id, int64_t group_id,
				 enum access_level *out)
{
	sqlite3_stmt *st = prepared(m, S_GROUP_ACCESS);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, group_id);
	int ret = step_row(st);
	if (ret == 0)
		*out = (enum access_level)sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return ret;
}

static int ms_locked(struct meta *m, int (*fn)(struct meta *m, void *ctx), void *ctx)
{
	struct conn *c = conn_get(m);
	if (!c)
		return -EIO;
	bool own;
	int ret = tx_begin(c, &own);
	if (ret == 0)
		ret = fn(m, ctx);
	return tx_end(c, own, ret);
}

static int ms_blob_referenced(struct meta *m, const char *sha256, bool *out)
{
	sqlite3_stmt *st = prepared(m, S_BLOB_REFERENCED);
	if (!st)
		return -EIO;
	bind_text(st, 1, sha256);
	int ret = step_row(st);
	if (ret == 0)
		*out = sqlite3_column_int(st, 0) != 0;
	sqlite3_reset(st);
	return ret;
}

static int ms_blob_key_get(struct meta *m, const char *sha256, char *key)
{
	sqlite3_stmt *st = prepared(m, S_BLOB_KEY_GET);
	if (!st)
		return -EIO;
	bind_text(st, 1, sha256);
	int ret = step_row(st);
	if (ret == 0)
		copy_text(key, BLOB_KEY_MAX + 1, st, 0);
	sqlite3_reset(st);
	return ret;
}

static int ms_blob_key_put(struct meta *m, const char *sha256, const char *key)
{
	sqlite3_stmt *st = prepared(m, S_BLOB_KEY_PUT);
	if (!st)
		return -EIO;
	bind_text(st, 1, sha256);
	bind_text(st, 2, key);
	return exec_done(st);
}

static int ms_blob_key_delete(struct meta *m, const char *sha256)
{
	sqlite3_stmt *st = prepared(m, S_BLOB_KEY_DELETE);
	if (!st)
		return -EIO;
	bind_text(st, 1, sha256);
	return exec_done(st);
}

static int ms_blob_key_mapped(struct meta *m, const char *key, bool *out)
{
	sqlite3_stmt *st = prepared(m, S_BLOB_KEY_MAPPED);
	if (!st)
		return -EIO;
	bind_text(st, 1, key);
	int ret = step_row(st);
	if (ret == 0)
		*out = sqlite3_column_int(st, 0) != 0;
	sqlite3_reset(st);
	return ret;
}

/* One batch of the sweep, inside the write lock: the content after *cursor, which it
 * advances. Sets *n to the blobs looked at; a blob remove_blob fails on keeps its rows
 * (the next run tries again), the first such error goes to *failed, and the rest of the
 * batch goes on. */
static int sweep_batch(struct conn *c, int (*remove_blob)(void *ctx, const char *sha256),
		       void *ctx, char cursor[SHA256_HEX_LEN + 1], int *n, int64_t *removed,
		       int *failed)
{
	char shas[100][SHA256_HEX_LEN + 1];
	int count = 0, ret = 0;
	sqlite3_stmt *st = stmt(c, S_SWEEP_SELECT);
	if (!st)
		return -EIO;
	bind_text(st, 1, cursor);
	while (count < 100 && sqlite3_step(st) == SQLITE_ROW)
		copy_text(shas[count++], sizeof(shas[0]), st, 0);
	sqlite3_reset(st);
	for (int i = 0; i < count && ret == 0; i++) {
		/* The blob goes first: were the rows to go first, a crash in between would
		 * leave a blob no row names, found only by the orphan walk. */
		int gone = remove_blob(ctx, shas[i]);
		if (gone != 0) {
			*failed = *failed ? *failed : gone;
			continue;
		}
		if (!(st = stmt(c, S_SWEEP_DELETE_FILES)))
			return -EIO;
		bind_text(st, 1, shas[i]);
		if ((ret = exec_done(st)) != 0)
			break;
		if (!(st = stmt(c, S_INLINE_DELETE)))
			return -EIO;
		bind_text(st, 1, shas[i]);
		ret = exec_done(st);
		*removed += ret == 0;
	}
	if (ret == 0 && count > 0)
		ret = exec_id(c, S_SWEEP_DELETE_PKGS);
	if (count > 0)
		memcpy(cursor, shas[count - 1], SHA256_HEX_LEN + 1);
	*n = count;
	return ret;
}

static int ms_sweep_pending(struct meta *m, int (*remove_blob)(void *ctx, const char *sha256),
			    void *ctx, int64_t *removed)
{
	struct conn *c = conn_get(m);
	if (!c)
		return -EIO;
	char cursor[SHA256_HEX_LEN + 1] = "";
	int failed = 0;
	*removed = 0;
	for (;;) {
		bool own;
		int64_t batch_removed = 0;
		int n = 0, ret = tx_begin(c, &own);
		if (ret == 0)
			ret = sweep_batch(c, remove_blob, ctx, cursor, &n, &batch_removed, &failed);
		if ((ret = tx_end(c, own, ret)) != 0)
			return ret;
		*removed += batch_removed;
		if (n < 100)
			return failed;
	}
}

static int ms_settings_get(struct meta *m, int64_t group_id, struct meta_dup_settings *out)
{
	sqlite3_stmt *st = prepared(m, S_SETTINGS_GET);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, group_id);
	int ret = step_row(st);
	out->allowed = true;
	out->exception_regex[0] = '\0';
	if (ret == 0) {
		out->allowed = sqlite3_column_int(st, 0) != 0;
		copy_text(out->exception_regex, sizeof(out->exception_regex), st, 1);
	}
	sqlite3_reset(st);
	return ret == -ENOENT ? 0 : ret;
}

static int ms_settings_set(struct meta *m, int64_t group_id, const struct meta_dup_settings *s)
{
	sqlite3_stmt *st = prepared(m, S_SETTINGS_SET);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, group_id);
	sqlite3_bind_int(st, 2, s->allowed);
	bind_text(st, 3, s->exception_regex);
	return exec_done(st);
}

static void row_rule(sqlite3_stmt *st, struct meta_protection_rule *r)
{
	r->id = sqlite3_column_int64(st, 0);
	r->project_id = sqlite3_column_int64(st, 1);
	copy_text(r->pattern, sizeof(r->pattern), st, 2);
	r->push_level = sqlite3_column_int(st, 3);
	r->delete_level = sqlite3_column_int(st, 4);
}

static int ms_rule_insert(struct meta *m, struct meta_protection_rule *r)
{
	struct conn *c = conn_get(m);
	sqlite3_stmt *st = c ? stmt(c, S_RULE_INSERT) : NULL;
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, r->project_id);
	bind_text(st, 2, r->pattern);
	sqlite3_bind_int(st, 3, r->push_level);
	sqlite3_bind_int(st, 4, r->delete_level);
	int ret = exec_done(st);
	if (ret == 0)
		r->id = sqlite3_last_insert_rowid(c->db);
	return ret;
}

static int ms_rule_update(struct meta *m, const struct meta_protection_rule *r)
{
	struct conn *c = conn_get(m);
	sqlite3_stmt *st = c ? stmt(c, S_RULE_UPDATE) : NULL;
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, r->project_id);
	sqlite3_bind_int64(st, 2, r->id);
	bind_text(st, 3, r->pattern);
	sqlite3_bind_int(st, 4, r->push_level);
	sqlite3_bind_int(st, 5, r->delete_level);
	int ret = exec_done(st);
	return ret == 0 && sqlite3_changes(c->db) == 0 ? -ENOENT : ret;
}

static int ms_rule_delete(struct meta *m, int64_t project_id, int64_t rule_id)
{
	struct conn *c = conn_get(m);
	sqlite3_stmt *st = c ? stmt(c, S_RULE_DELETE) : NULL;
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, project_id);
	sqlite3_bind_int64(st, 2, rule_id);
	int ret = exec_done(st);
	return ret == 0 && sqlite3_changes(c->db) == 0 ? -ENOENT : ret;
}

static int ms_rule_get(struct meta *m, int64_t project_id, int64_t rule_id,
		       struct meta_protection_rule *out)
{
	sqlite3_stmt *st = prepared(m, S_RULE_GET);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, project_id);
	sqlite3_bind_int64(st, 2, rule_id);
	int ret = step_row(st);
	if (ret == 0)
		row_rule(st, out);
	sqlite3_reset(st);
	return ret;
}

static int ms_rules_list(struct meta *m, int64_t project_id,
			 int (*cb)(void *ctx, const struct meta_protection_rule *r), void *ctx)
{
	sqlite3_stmt *st = prepared(m, S_RULES_LIST);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, project_id);
	int rc, ret = 0;
	struct meta_protection_rule r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_rule(st, &r);
		if ((ret = cb(ctx, &r)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -EIO;
	sqlite3_reset(st);
	return ret;
}

static int ms_rules_match(struct meta *m, int64_t project_id, const char *package_name,
			  struct meta_rule_match *out)
{
	sqlite3_stmt *st = prepared(m, S_RULES_MATCH);
	if (!st)
		return -EIO;
	memset(out, 0, sizeof(*out));
	sqlite3_bind_int64(st, 1, project_id);
	bind_text(st, 2, package_name);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		int push = sqlite3_column_int(st, 1), del = sqlite3_column_int(st, 2);
		if (push > out->push_level) {
			out->push_level = push;
			out->push_rule_id = id;
		}
		if (del > out->delete_level) {
			out->delete_level = del;
			out->delete_rule_id = id;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int ms_cleanup_get(struct meta *m, int64_t project_id, struct meta_cleanup_policy *out)
{
	sqlite3_stmt *st = prepared(m, S_CLEANUP_GET);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, project_id);
	int ret = step_row(st);
	memset(out, 0, sizeof(*out));
	out->project_id = project_id;
	if (ret == 0) {
		out->keep_n_files = sqlite3_column_int(st, 0);
		out->keep_n_versions = sqlite3_column_int(st, 1);
		out->older_than_days = sqlite3_column_int(st, 2);
		out->not_downloaded_days = sqlite3_column_int(st, 3);
		copy_text(out->keep_regex, sizeof(out->keep_regex), st, 4);
	}
	sqlite3_reset(st);
	return ret == -ENOENT ? 0 : ret;
}

static int ms_cleanup_set(struct meta *m, const struct meta_cleanup_policy *p)
{
	sqlite3_stmt *st = prepared(m, S_CLEANUP_SET);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, p->project_id);
	sqlite3_bind_int(st, 2, p->keep_n_files);
	sqlite3_bind_int(st, 3, p->keep_n_versions);
	sqlite3_bind_int(st, 4, p->older_than_days);
	sqlite3_bind_int(st, 5, p->not_downloaded_days);
	bind_text(st, 6, p->keep_regex);
	return exec_done(st);
}

static int ms_cleanup_projects(struct meta *m, int (*cb)(void *ctx, int64_t project_id), void *ctx)
{
	sqlite3_stmt *st = prepared(m, S_CLEANUP_PROJECTS);
	if (!st)
		return -EIO;
	/* Collected first: cb runs deletes, which must not interleave with this read. */
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int rc, ret = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			int64_t *grown = realloc(ids, cap * sizeof(*ids));
			if (!grown) {
				ret = -ENOMEM;
				break;
			}
			ids = grown;
		}
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -EIO;
	sqlite3_reset(st);
	for (size_t i = 0; i < n && ret == 0; i++)
		ret = cb(ctx, ids[i]);
	free(ids);
	return ret;
}

static int ms_project_packages(struct meta *m, int64_t project_id, meta_package_cb cb, void *ctx)
{
	sqlite3_stmt *st = prepared(m, S_PROJECT_PACKAGES);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, project_id);
	int rc, ret = 0;
	struct meta_package p;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_package(st, 0, &p);
		p.project_path[0] = '\0';
		if ((ret = cb(ctx, &p)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -EIO;
	sqlite3_reset(st);
	return ret;
}

static int ms_audit_append(struct meta *m, const struct audit_event *ev, size_t n)
{
	struct conn *c = conn_get(m);
	if (!c)
		return -EIO;
	bool own;
	int ret = tx_begin(c, &own);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		sqlite3_stmt *st = stmt(c, S_AUDIT_INSERT);
		if (!st) {
			ret = -EIO;
			break;
		}
		const struct audit_event *e = &ev[i];
		sqlite3_bind_int64(st, 1, e->at_ms);
		bind_text(st, 2, e->action);
		bind_text(st, 3, e->username);
		bind_text(st, 4, e->token_kind);
		sqlite3_bind_int64(st, 5, e->token_id);
		sqlite3_bind_int64(st, 6, e->project_id);
		bind_text(st, 7, e->package);
		bind_text(st, 8, e->version);
		bind_text(st, 9, e->file_name);
		sqlite3_bind_int64(st, 10, e->size);
		bind_text(st, 11, e->sha256);
		bind_text(st, 12, e->client);
		bind_text(st, 13, e->detail);
		ret = exec_done(st);
	}
	return tx_end(c, own, ret);
}

static int ms_audit_list(struct meta *m, const struct audit_query *q,
			 int (*cb)(void *ctx, const struct audit_event *ev), void *ctx)
{
	sqlite3_stmt *st = prepared(m, S_AUDIT_LIST);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, q->project_id);
	bind_text(st, 2, q->package);
	bind_text(st, 3, q->username);
	sqlite3_bind_int64(st, 4, q->limit > 0 ? q->limit : -1);
	int rc, ret = 0;
	struct audit_event *e = calloc(1, sizeof(*e));
	if (!e) {
		sqlite3_reset(st);
		return -ENOMEM;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		e->at_ms = sqlite3_column_int64(st, 0);
		copy_text(e->action, sizeof(e->action), st, 1);
		copy_text(e->username, sizeof(e->username), st, 2);
		copy_text(e->token_kind, sizeof(e->token_kind), st, 3);
		e->token_id = sqlite3_column_int64(st, 4);
		e->project_id = sqlite3_column_int64(st, 5);
		copy_text(e->package, sizeof(e->package), st, 6);
		copy_text(e->version, sizeof(e->version), st, 7);
		copy_text(e->file_name, sizeof(e->file_name), st, 8);
		e->size = sqlite3_column_int64(st, 9);
		copy_text(e->sha256, sizeof(e->sha256), st, 10);
		copy_text(e->client, sizeof(e->client), st, 11);
		copy_text(e->detail, sizeof(e->detail), st, 12);
		if ((ret = cb(ctx, e)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -EIO;
	sqlite3_reset(st);
	free(e);
	return ret;
}

static int ms_live_contents(struct meta *m,
			    int (*cb)(void *ctx, const char *sha256, int64_t size, int64_t file_id),
			    void *ctx)
{
	sqlite3_stmt *st = prepared(m, S_LIVE_CONTENTS);
	if (!st)
		return -EIO;
	int rc, ret = 0;
	char sha[SHA256_HEX_LEN + 1];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		copy_text(sha, sizeof(sha), st, 0);
		if ((ret = cb(ctx, sha, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2))) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -EIO;
	sqlite3_reset(st);
	return ret;
}

static int ms_inline_orphans(struct meta *m, bool remove, int (*cb)(void *ctx, const char *sha256),
			     void *ctx)
{
	struct conn *c = conn_get(m);
	if (!c)
		return -EIO;
	bool own;
	int rc, ret = tx_begin(c, &own);
	sqlite3_stmt *st = ret == 0 ? stmt(c, S_INLINE_ORPHANS) : NULL;
	if (!st)
		return tx_end(c, own, ret ? ret : -EIO);
	char sha[SHA256_HEX_LEN + 1];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		copy_text(sha, sizeof(sha), st, 0);
		if ((ret = cb(ctx, sha)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -EIO;
	sqlite3_reset(st);
	if (ret == 0 && remove)
		ret = exec_id(c, S_INLINE_ORPHANS_DELETE);
	return tx_end(c, own, ret);
}

static int ms_files_beyond(struct meta *m, int64_t project_id, int keep, meta_file_cb cb, void *ctx)
{
	sqlite3_stmt *st = prepared(m, S_FILES_BEYOND);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, project_id);
	sqlite3_bind_int(st, 2, keep);
	int rc, ret = 0;
	struct meta_package_file f;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_file(st, 0, &f);
		if ((ret = cb(ctx, &f)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -EIO;
	sqlite3_reset(st);
	return ret;
}

static void ms_close(struct meta *m)
{
	struct meta_sqlite *ms = (struct meta_sqlite *)m;
	if (!ms)
		return;
	conn_free(pthread_getspecific(ms->key));
	pthread_setspecific(ms->key, NULL);
	pthread_key_delete(ms->key);
	free(ms->path);
	free(ms);
}

static const struct meta_ops sqlite_ops = {
	.close = ms_close,
	.user_create = ms_user_create,
	.user_get = ms_user_get,
	.user_find = ms_user_find,
	.group_create = ms_group_create,
	.group_find = ms_group_find,
	.project_create = ms_project_create,
	.project_get = ms_project_get,
	.project_find = ms_project_find,
	.project_in_group = ms_project_in_group,
	.member_set = ms_member_set,
	.access_level = ms_access_level,
	.token_insert = ms_token_insert,
	.token_find_by_hash = ms_token_find_by_hash,
	.token_revoke = ms_token_revoke,
	.file_publish = ms_file_publish,
	.publish_batch = ms_publish_batch,
	.inline_blob_get = ms_inline_blob_get,
	.file_lookup = ms_file_lookup,
	.package_find = ms_package_find,
	.package_touch_download = ms_package_touch_download,
	.packages_list = ms_packages_list,
	.package_files_list = ms_package_files_list,
	.package_get = ms_package_get,
	.package_versions = ms_package_versions,
	.package_file_get = ms_package_file_get,
	.package_destroy = ms_package_destroy,
	.files_destroy = ms_files_destroy,
	.group_projects = ms_group_projects,
	.group_get = ms_group_get,
	.group_access_level = ms_group_access_level,
	.locked = ms_locked,
	.sweep_pending = ms_sweep_pending,
	.blob_referenced = ms_blob_referenced,
	.blob_key_get = ms_blob_key_get,
	.blob_key_put = ms_blob_key_put,
	.blob_key_delete = ms_blob_key_delete,
	.blob_key_mapped = ms_blob_key_mapped,
	.settings_get = ms_settings_get,
	.settings_set = ms_settings_set,
	.rule_insert = ms_rule_insert,
	.rule_update = ms_rule_update,
	.rule_delete = ms_rule_delete,
	.rule_get = ms_rule_get,
	.rules_list = ms_rules_list,
	.rules_match = ms_rules_match,
	.cleanup_get = ms_cleanup_get,
	.cleanup_set = ms_cleanup_set,
	.cleanup_projects = ms_cleanup_projects,
	.project_packages = ms_project_packages,
	.files_beyond = ms_files_beyond,
	.live_contents = ms_live_contents,
	.audit_append = ms_audit_append,
	.audit_list = ms_audit_list,
	.inline_orphans = ms_inline_orphans,
};

static int user_version(sqlite3 *db, int *out)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	int ret = step_row(st);
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

/* Brings the schema to SCHEMA_VERSION: the pending migrations in one IMMEDIATE
 * transaction (concurrent openers wait, then find nothing left to do). On failure *err
 * says why, in storage that lives until the thread's next call. */
static int migrate(sqlite3 *db, const char **err)
{
	static _Thread_local char msg[256];
	int version = 0, ret = -EIO;
	/* Up to date, the common case: no write lock taken. */
	if (user_version(db, &version) == 0 && version == SCHEMA_VERSION)
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
	if (version > SCHEMA_VERSION) {
		snprintf(msg, sizeof(msg),
			 "its schema is version %d, this depot knows versions up to %d: use a newer depot",
			 version, SCHEMA_VERSION);
		ret = -EPROTO;
		goto rollback;
	}
	for (int i = version; i < SCHEMA_VERSION; i++) {
		char set[48];
		snprintf(set, sizeof(set), "PRAGMA user_version = %d", migrations[i].version);
		if (sqlite3_exec(db, migrations[i].sql, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, set, NULL, NULL, NULL) != SQLITE_OK) {
			snprintf(msg, sizeof(msg), "cannot migrate the schema to version %d: %s",
				 migrations[i].version, sqlite3_errmsg(db));
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
	ms->base.ops = &sqlite_ops;
	if (pthread_key_create(&ms->key, conn_free) != 0) {
		free(ms->path);
		free(ms);
		*err = "pthread_key_create failed";
		return NULL;
	}
	struct conn *c = conn_get(&ms->base);
	if (!c) {
		*err = "cannot open the database";
		ms_close(&ms->base);
		return NULL;
	}
	if (migrate(c->db, err) != 0) {
		ms_close(&ms->base);
		return NULL;
	}
	return &ms->base;
}
