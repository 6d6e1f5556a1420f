/* The schema of the SQL metadata stores, one numbering for both dialects: version N is
 * meta_migrations[N - 1], its SQLite text and its PostgreSQL text. SQLite records the
 * number in PRAGMA user_version, PostgreSQL in the table depot_schema; each backend applies
 * the pending entries in order, in one transaction, and refuses a database newer than the
 * last entry. A schema change is a new entry at the end, never an edit. */
#include "meta_sql.h"

/* The indexes of the tables version 2 rebuilds, the same text in both versions (and in
 * PostgreSQL's).
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

/* SQLite's 1: the schema as it was before versions were recorded (user_version 0); IF NOT EXISTS
 * lets such a database pass through unchanged, and creates a new one. */
static const char sqlite_v1[] =
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

/* SQLite's 2: an id the API has shown is never handed out again (AUTOINCREMENT), so a retried
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
static const char sqlite_v2[] =
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

/* PostgreSQL's version 1: the same tables. Where the dialects differ: identity columns
 * (which never hand out an id again, what SQLite's version 2 adds); case-insensitive
 * names through unique indexes on lower() (SQLite: COLLATE NOCASE), which the lookups
 * use; text compared byte by byte (COLLATE "C", SQLite's BINARY) so listings sort alike
 * on every server locale; BIGINT for SQLite's 64-bit INTEGER; BYTEA for BLOB; the
 * append-only audit log through a trigger function. */
#define PG_ID "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
#define PG_TEXT "TEXT COLLATE \"C\""
static const char pg_v1[] =
	"CREATE TABLE users(" PG_ID ", username " PG_TEXT " NOT NULL,"
	" is_admin BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL);"
	"CREATE UNIQUE INDEX users_username ON users(lower(username));"
	"CREATE TABLE groups(" PG_ID ", parent_id BIGINT REFERENCES groups(id),"
	" path " PG_TEXT " NOT NULL, visibility BIGINT NOT NULL, created_at BIGINT NOT NULL);"
	"CREATE UNIQUE INDEX groups_path ON groups(lower(path));"
	"CREATE TABLE projects(" PG_ID ", group_id BIGINT NOT NULL REFERENCES groups(id),"
	" path " PG_TEXT " NOT NULL, visibility BIGINT NOT NULL, created_at BIGINT NOT NULL);"
	"CREATE UNIQUE INDEX projects_path ON projects(lower(path));"
	"CREATE TABLE members("
	" user_id BIGINT NOT NULL REFERENCES users(id), project_id BIGINT NOT NULL DEFAULT 0,"
	" group_id BIGINT NOT NULL DEFAULT 0, access_level BIGINT NOT NULL,"
	" PRIMARY KEY(user_id, project_id, group_id));"
	"CREATE TABLE tokens(" PG_ID ", kind BIGINT NOT NULL,"
	" token_sha256 " PG_TEXT " NOT NULL UNIQUE, name " PG_TEXT " NOT NULL DEFAULT '',"
	" username " PG_TEXT " NOT NULL DEFAULT '', user_id BIGINT NOT NULL DEFAULT 0,"
	" project_id BIGINT NOT NULL DEFAULT 0, group_id BIGINT NOT NULL DEFAULT 0,"
	" scopes BIGINT NOT NULL, expires_at BIGINT NOT NULL DEFAULT 0,"
	" revoked BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL);"
	"CREATE TABLE packages(" PG_ID ", project_id BIGINT NOT NULL REFERENCES projects(id),"
	" name " PG_TEXT " NOT NULL, version " PG_TEXT " NOT NULL,"
	" package_type " PG_TEXT " NOT NULL DEFAULT 'generic', status BIGINT NOT NULL DEFAULT 0,"
	" creator_id BIGINT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,"
	" last_downloaded_at BIGINT);"
	PACKAGES_INDEXES
	"CREATE TABLE package_files(" PG_ID ","
	" package_id BIGINT NOT NULL REFERENCES packages(id), file_name " PG_TEXT " NOT NULL,"
	" size BIGINT NOT NULL, file_md5 " PG_TEXT " NOT NULL, file_sha1 " PG_TEXT " NOT NULL,"
	" file_sha256 " PG_TEXT " NOT NULL, status BIGINT NOT NULL DEFAULT 0,"
	" created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
	PACKAGE_FILES_INDEXES
	"CREATE TABLE namespace_package_settings("
	" group_id BIGINT PRIMARY KEY REFERENCES groups(id),"
	" generic_duplicates_allowed BIGINT NOT NULL DEFAULT 1,"
	" generic_duplicate_exception_regex TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE package_protection_rules(" PG_ID ","
	" project_id BIGINT NOT NULL REFERENCES projects(id),"
	" package_type " PG_TEXT " NOT NULL DEFAULT 'generic',"
	" package_name_pattern " PG_TEXT " NOT NULL,"
	" minimum_access_level_for_push BIGINT NOT NULL DEFAULT 0,"
	" minimum_access_level_for_delete BIGINT NOT NULL DEFAULT 0,"
	" UNIQUE(project_id, package_type, package_name_pattern));"
	"CREATE TABLE cleanup_policies("
	" project_id BIGINT PRIMARY KEY REFERENCES projects(id),"
	" keep_n_duplicated_package_files BIGINT NOT NULL DEFAULT 0,"
	" keep_n_versions BIGINT NOT NULL DEFAULT 0, older_than_days BIGINT NOT NULL DEFAULT 0,"
	" not_downloaded_days BIGINT NOT NULL DEFAULT 0, keep_regex TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE audit_log(" PG_ID ", at BIGINT NOT NULL, action TEXT NOT NULL,"
	" username TEXT NOT NULL, token_kind TEXT NOT NULL, token_id BIGINT NOT NULL,"
	" project_id BIGINT NOT NULL, package TEXT NOT NULL, version TEXT NOT NULL,"
	" file_name TEXT NOT NULL, size BIGINT NOT NULL, sha256 TEXT NOT NULL,"
	" client TEXT NOT NULL, detail TEXT NOT NULL);"
	"CREATE INDEX audit_by_project ON audit_log(project_id, id);"
	"CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS"
	" $$BEGIN RAISE EXCEPTION 'the audit log is append-only'; END$$;"
	"CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit_log"
	" FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
	"CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_log"
	" FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();"
	"CREATE TABLE inline_blobs(sha256 " PG_TEXT " PRIMARY KEY, data BYTEA NOT NULL);";

/* PostgreSQL's version 2: nothing to do, its identity columns never reuse an id. */
static const char pg_v2[] = "";

/* 3: for blob stores that key objects per upload (S3): the one object that holds each
 * content. Rows go with the content's last package file (the sweep). */
static const char sqlite_v3[] =
	"CREATE TABLE blob_keys(sha256 TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE) WITHOUT ROWID;";
static const char pg_v3[] =
	"CREATE TABLE blob_keys(sha256 " PG_TEXT " PRIMARY KEY, key " PG_TEXT " NOT NULL UNIQUE);";

/* 4: what GitLab's REST API shows and changes about users, groups, projects, members and
 * tokens. Every user gets a personal namespace: a groups row with owner_id set (GitLab's
 * user namespace; the group listings leave it out), whose owner is its Owner member, so a
 * personal project's rights come through the ordinary ancestor walk. An existing user whose
 * name a group already has gets "<name>_<id>". Bots (project access tokens' users, named
 * project_<id>_bot...) get none. Names default to the last path segment. A deleted project or
 * group is pending_delete (its path renamed out of the way) until gc has removed its
 * packages; no lookup finds it meanwhile. */
#define V4_COMMON(TEXT_T)                                                                   \
	"ALTER TABLE users ADD COLUMN name " TEXT_T " NOT NULL DEFAULT '';"                  \
	"ALTER TABLE users ADD COLUMN email " TEXT_T " NOT NULL DEFAULT '';"                 \
	"ALTER TABLE users ADD COLUMN bot BIGINT NOT NULL DEFAULT 0;"                        \
	"ALTER TABLE users ADD COLUMN created_by BIGINT NOT NULL DEFAULT 0;"                 \
	"ALTER TABLE groups ADD COLUMN name " TEXT_T " NOT NULL DEFAULT '';"                 \
	"ALTER TABLE groups ADD COLUMN description TEXT NOT NULL DEFAULT '';"                \
	"ALTER TABLE groups ADD COLUMN owner_id BIGINT NOT NULL DEFAULT 0;"                  \
	"ALTER TABLE groups ADD COLUMN project_creation_level BIGINT NOT NULL DEFAULT 40;"  \
	"ALTER TABLE groups ADD COLUMN subgroup_creation_level BIGINT NOT NULL DEFAULT 40;" \
	"ALTER TABLE projects ADD COLUMN name " TEXT_T " NOT NULL DEFAULT '';"               \
	"ALTER TABLE projects ADD COLUMN description TEXT NOT NULL DEFAULT '';"              \
	"ALTER TABLE projects ADD COLUMN packages_enabled BIGINT NOT NULL DEFAULT 1;"        \
	"ALTER TABLE projects ADD COLUMN creator_id BIGINT NOT NULL DEFAULT 0;"              \
	"ALTER TABLE projects ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;"              \
	"ALTER TABLE projects ADD COLUMN pending_delete BIGINT NOT NULL DEFAULT 0;"          \
	"ALTER TABLE groups ADD COLUMN pending_delete BIGINT NOT NULL DEFAULT 0;"            \
	"ALTER TABLE members ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;"               \
	"ALTER TABLE members ADD COLUMN created_by BIGINT NOT NULL DEFAULT 0;"               \
	"ALTER TABLE members ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;"               \
	"ALTER TABLE tokens ADD COLUMN description TEXT NOT NULL DEFAULT '';"                \
	"ALTER TABLE tokens ADD COLUMN last_used_at BIGINT NOT NULL DEFAULT 0;"              \
	"ALTER TABLE tokens ADD COLUMN previous_id BIGINT NOT NULL DEFAULT 0;"               \
	"UPDATE projects SET updated_at = created_at;"                                      \
	"UPDATE users SET name = username;"                                                 \
	"UPDATE users SET bot = 1 WHERE username LIKE 'project\\_%\\_bot%' ESCAPE '\\';"     \
	"INSERT INTO groups(parent_id, path, visibility, created_at, name, owner_id)"        \
	" SELECT NULL, CASE WHEN EXISTS(SELECT 1 FROM groups g WHERE lower(g.path) ="       \
	" lower(u.username)) THEN u.username || '_' || u.id ELSE u.username END, 20,"        \
	" u.created_at, u.username, u.id FROM users u WHERE u.bot = 0 ORDER BY u.id;"        \
	"INSERT INTO members(user_id, project_id, group_id, access_level, created_at)"       \
	" SELECT owner_id, 0, id, 50, created_at FROM groups WHERE owner_id != 0;"           \
	"CREATE INDEX IF NOT EXISTS groups_owner ON groups(owner_id);"                       \
	"CREATE INDEX IF NOT EXISTS tokens_user ON tokens(user_id);"                          \
	"CREATE INDEX IF NOT EXISTS tokens_project ON tokens(project_id);"                    \
	"CREATE INDEX IF NOT EXISTS members_project ON members(project_id, group_id);"        \
	"CREATE INDEX IF NOT EXISTS projects_group ON projects(group_id);"                    \
	"CREATE INDEX IF NOT EXISTS groups_parent ON groups(parent_id);"
/* The last path segment as the name (SQLite has no split function, PostgreSQL has). */
static const char sqlite_v4[] =
	V4_COMMON("TEXT")
	"UPDATE groups SET name = replace(path, rtrim(path, replace(path, '/', '')), '')"
	" WHERE name = '';"
	"UPDATE projects SET name = replace(path, rtrim(path, replace(path, '/', '')), '');";
static const char pg_v4[] =
	V4_COMMON(PG_TEXT)
	"UPDATE groups SET name = regexp_replace(path, '^.*/', '') WHERE name = '';"
	"UPDATE projects SET name = regexp_replace(path, '^.*/', '');";

/* 5: the auth epoch, a counter every write to what token resolution and access levels
 * read (tokens but their last use, users, members, projects, groups) raises in the same
 * transaction, by trigger, so that no writer (the CLI in another process, another node,
 * migrate-store) can forget it. Servers cache identities and levels under the epoch they
 * were read at and drop them when it moves (auth_cache.c). */
#define V5_TABLE(ID_T) "CREATE TABLE auth_epoch(id " ID_T " PRIMARY KEY, n BIGINT NOT NULL);" \
			"INSERT INTO auth_epoch(id, n) VALUES(1, 0);"
#define V5_TOKEN_COLS "kind, token_sha256, username, user_id, project_id, group_id, scopes," \
		      " expires_at, revoked"
#define V5_SQLITE_TRIGGER(name, when)                                                      \
	"CREATE TRIGGER auth_epoch_" name " AFTER " when " BEGIN"                          \
	" UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;"
static const char sqlite_v5[] =
	V5_TABLE("INTEGER") /* the rowid: no index of its own */
	V5_SQLITE_TRIGGER("tokens_u", "UPDATE OF " V5_TOKEN_COLS " ON tokens")
	V5_SQLITE_TRIGGER("tokens_d", "DELETE ON tokens")
	V5_SQLITE_TRIGGER("users_u", "UPDATE ON users")
	V5_SQLITE_TRIGGER("users_d", "DELETE ON users")
	V5_SQLITE_TRIGGER("members_i", "INSERT ON members")
	V5_SQLITE_TRIGGER("members_u", "UPDATE ON members")
	V5_SQLITE_TRIGGER("members_d", "DELETE ON members")
	V5_SQLITE_TRIGGER("projects_u", "UPDATE ON projects")
	V5_SQLITE_TRIGGER("projects_d", "DELETE ON projects")
	V5_SQLITE_TRIGGER("groups_u", "UPDATE ON groups")
	V5_SQLITE_TRIGGER("groups_d", "DELETE ON groups");
/* PostgreSQL: once per statement; the row update makes concurrent writers of these tables
 * take turns, which their transactions' advisory lock makes them do already. */
#define V5_PG_TRIGGER(name, when)                                                          \
	"CREATE TRIGGER auth_epoch_" name " AFTER " when                                   \
	" FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_bump();"
static const char pg_v5[] =
	V5_TABLE("BIGINT")
	"CREATE FUNCTION auth_epoch_bump() RETURNS trigger LANGUAGE plpgsql AS"
	" $$BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; RETURN NULL; END$$;"
	V5_PG_TRIGGER("tokens", "UPDATE OF " V5_TOKEN_COLS " OR DELETE ON tokens")
	V5_PG_TRIGGER("users", "UPDATE OR DELETE ON users")
	V5_PG_TRIGGER("members", "INSERT OR UPDATE OR DELETE ON members")
	V5_PG_TRIGGER("projects", "UPDATE OR DELETE ON projects")
	V5_PG_TRIGGER("groups", "UPDATE OR DELETE ON groups");

/* 6: the upload events of the audit log by file (the web interface's "uploaded by",
 * meta_ops.files_uploaded_by). Partial: downloads, by far the most events, stay out of it
 * and cost it nothing; SQLite uses it for queries that say action = 'upload'. */
#define V6_AUDIT_UPLOADS "CREATE INDEX audit_uploads ON audit_log(project_id, package, version," \
			 " file_name) WHERE action = 'upload';"
static const char sqlite_v6[] = V6_AUDIT_UPLOADS;
static const char pg_v6[] = V6_AUDIT_UPLOADS;

/* 7: the content epoch, what the auth epoch is for identities, for download lookups
 * (dlcache.h): every write to files, and to packages but their download time, raises it
 * in the writing transaction. A new package without files changes no download's answer.
 * And tokens.sessions_after: web sessions of a personal token signed in up to that second
 * have ended (signing out ends them on the server, not only in the browser). */
#define V7_TABLE(ID_T) "CREATE TABLE content_epoch(id " ID_T " PRIMARY KEY, n BIGINT NOT NULL);" \
			"INSERT INTO content_epoch(id, n) VALUES(1, 0);"
#define V7_PACKAGE_COLS "project_id, name, version, package_type, status"
#define V7_SQLITE_TRIGGER(name, when)                                                      \
	"CREATE TRIGGER content_epoch_" name " AFTER " when " BEGIN"                       \
	" UPDATE content_epoch SET n = n + 1 WHERE id = 1; END;"
#define V7_SESSIONS "ALTER TABLE tokens ADD COLUMN sessions_after BIGINT NOT NULL DEFAULT 0;"
static const char sqlite_v7[] =
	V7_SESSIONS
	V7_TABLE("INTEGER")
	V7_SQLITE_TRIGGER("files_i", "INSERT ON package_files")
	V7_SQLITE_TRIGGER("files_u", "UPDATE ON package_files")
	V7_SQLITE_TRIGGER("files_d", "DELETE ON package_files")
	V7_SQLITE_TRIGGER("packages_u", "UPDATE OF " V7_PACKAGE_COLS " ON packages")
	V7_SQLITE_TRIGGER("packages_d", "DELETE ON packages");
#define V7_PG_TRIGGER(name, when)                                                          \
	"CREATE TRIGGER content_epoch_" name " AFTER " when                                \
	" FOR EACH STATEMENT EXECUTE FUNCTION content_epoch_bump();"
static const char pg_v7[] =
	V7_SESSIONS
	V7_TABLE("BIGINT")
	"CREATE FUNCTION content_epoch_bump() RETURNS trigger LANGUAGE plpgsql AS"
	" $$BEGIN UPDATE content_epoch SET n = n + 1 WHERE id = 1; RETURN NULL; END$$;"
	V7_PG_TRIGGER("files", "INSERT OR UPDATE OR DELETE ON package_files")
	V7_PG_TRIGGER("packages", "UPDATE OF " V7_PACKAGE_COLS " OR DELETE ON packages");

/* 8: no index of the audit log by project. The listing (newest first, by project or not)
 * never used it in SQLite, and every event — one per download — paid for it: about a
 * fifth of an audit row's insert. */
#define V8_AUDIT "DROP INDEX audit_by_project;"
static const char sqlite_v8[] = V8_AUDIT;
static const char pg_v8[] = V8_AUDIT;

const struct meta_migration meta_migrations[] = {
	{1, sqlite_v1, pg_v1},
	{2, sqlite_v2, pg_v2},
	{3, sqlite_v3, pg_v3},
	{4, sqlite_v4, pg_v4},
	{5, sqlite_v5, pg_v5},
	{6, sqlite_v6, pg_v6},
	{7, sqlite_v7, pg_v7},
	{8, sqlite_v8, pg_v8},
};
const int meta_schema_version = (int)(sizeof(meta_migrations) / sizeof(meta_migrations[0]));
