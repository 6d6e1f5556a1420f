/* The metadata store interface: users, groups, projects, memberships, tokens, packages and
 * package files, in domain terms. A backend (meta_sqlite.c or meta_pg.c, both through
 * meta_sql.c) fills a struct meta_ops; handlers call through it and never see SQL.
 *
 * Every function returns 0 on success or a negative errno: -ENOENT (no such row),
 * -EEXIST (unique conflict), -EINVAL (bad reference), -EIO (backend failure).
 * Out-structs are caller-owned and hold fixed-size strings, so nothing needs freeing.
 * Every function may be called from any thread. */
#ifndef DEPOT_META_H
#define DEPOT_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "roles.h"
#include "token.h"
#include "validate.h"

#define USERNAME_MAX 255
#define FULL_PATH_MAX 255
#define TOKEN_NAME_MAX 255
/* The longest key a blob store hands out (blob.h). */
#define BLOB_KEY_MAX 128

/* GitLab's package status values (gitlab-behaviour.md section 5). */
enum package_status {
	PKG_DEFAULT = 0,
	PKG_HIDDEN = 1,
	PKG_PROCESSING = 2,
	PKG_ERROR = 3,
	PKG_PENDING_DESTRUCTION = 4,
	PKG_DEPRECATED = 5,
};
enum package_file_status { FILE_DEFAULT = 0, FILE_PENDING_DESTRUCTION = 1 };

#define DISPLAY_NAME_MAX 255
#define EMAIL_MAX 255
#define DESCRIPTION_MAX 2047

struct meta_user {
	int64_t id;
	char username[USERNAME_MAX + 1];
	bool is_admin;
	char name[DISPLAY_NAME_MAX + 1]; /* display name; the username when none was given */
	char email[EMAIL_MAX + 1];
	bool bot;	     /* a project access token's user: no personal namespace */
	int64_t created_by;  /* the admin who created the user; 0: the command line */
	int64_t created_at_ms;
};

/* A namespace: a group, or a user's personal namespace (owner_id != 0, GitLab's kind
 * "user"), which the group endpoints never show. */
struct meta_group {
	int64_t id;
	int64_t parent_id; /* 0 for a top-level group */
	char path[FULL_PATH_MAX + 1]; /* full path: parent/child */
	enum visibility visibility;
	char name[DISPLAY_NAME_MAX + 1];
	char description[DESCRIPTION_MAX + 1];
	int64_t owner_id;		    /* personal namespaces: their user */
	enum access_level project_creation_level; /* who may create projects in it */
	enum access_level subgroup_creation_level;
	int64_t created_at_ms;
};

struct meta_project {
	int64_t id;
	int64_t group_id;		/* its namespace */
	char path[FULL_PATH_MAX + 1]; /* full path: group/sub/project */
	enum visibility visibility;
	char name[DISPLAY_NAME_MAX + 1];
	char description[DESCRIPTION_MAX + 1];
	bool packages_enabled; /* false: the package endpoints answer 403 */
	int64_t creator_id;
	int64_t created_at_ms;
	int64_t updated_at_ms;
};

/* A direct membership of a project (group_id 0) or a group (project_id 0). */
struct meta_member {
	int64_t user_id;
	int64_t project_id;
	int64_t group_id;
	enum access_level level;
	int64_t created_at_ms;
	int64_t created_by; /* 0: unknown */
	int64_t expires_at_ms; /* 0: never */
};

/* A membership listing's row: the membership, its user, and who created it (creator->id 0:
 * unknown). A non-zero return stops the walk and is returned. */
typedef int (*meta_member_cb)(void *ctx, const struct meta_member *mb,
			      const struct meta_user *user, const struct meta_user *creator);

struct meta_token {
	int64_t id;
	enum token_kind kind;
	char hash[TOKEN_HASH_HEX_LEN + 1];
	char name[TOKEN_NAME_MAX + 1];
	char username[USERNAME_MAX + 1]; /* deploy tokens: the HTTP Basic user name */
	int64_t user_id;		 /* personal, project (its bot user), job */
	int64_t project_id;		 /* project tokens, job tokens, project deploy tokens */
	int64_t group_id;		 /* group deploy tokens */
	unsigned scopes;		 /* enum token_scope bits */
	int64_t expires_at_ms;		 /* 0: never */
	bool revoked;
	char description[DESCRIPTION_MAX + 1];
	int64_t created_at_ms;
	int64_t last_used_at_ms; /* 0: never */
	int64_t previous_id;	 /* rotation: the token this one replaced */
	int64_t sessions_after_s; /* web sessions signed in up to this second have ended */
};

struct meta_package {
	int64_t id;
	int64_t project_id;
	char project_path[FULL_PATH_MAX + 1]; /* filled by listings */
	char name[PACKAGE_NAME_MAX + 1];
	char version[PACKAGE_VERSION_MAX + 1];
	enum package_status status;
	int64_t created_at_ms;
	int64_t last_downloaded_at_ms; /* 0: never */
	int64_t updated_at_ms;
	/* Filled by packages_list: the bytes and number of its installable files. */
	int64_t size;
	int64_t file_count;
};

struct meta_package_file {
	int64_t id;
	int64_t package_id;
	char file_name[STORED_NAME_MAX + 1];
	int64_t size;
	struct digest_hex digests;
	enum package_file_status status;
	int64_t created_at_ms;
	int64_t updated_at_ms;
};

/* What a download's one statement finds (meta_ops.download_lookup). */
struct meta_download {
	struct meta_project project;
	int64_t epoch; /* the auth epoch, read in the same snapshot */
	int64_t content_epoch; /* packages' and files' rows (dlcache.h), the same snapshot */
	bool found;    /* the package and the file */
	struct meta_package pkg;
	struct meta_package_file file;
};

/* A group's duplicate settings (GitLab's namespace package settings, generic row). */
struct meta_dup_settings {
	bool allowed;
	char exception_regex[256];
};

/* A package protection rule; levels are enum access_level, 0 for "not set". */
struct meta_protection_rule {
	int64_t id;
	int64_t project_id;
	char pattern[256];
	int push_level;
	int delete_level;
};

/* A project's cleanup policy; 0 means "rule off" for every number. */
struct meta_cleanup_policy {
	int64_t project_id;
	int keep_n_files; /* keep_n_duplicated_package_files; 0: all */
	int keep_n_versions;
	int older_than_days;
	int not_downloaded_days;
	char keep_regex[256];
};

/* What the protection rules whose pattern matches a package name require together. */
struct meta_rule_match {
	int push_level; /* the highest minimums; 0 when no matching rule sets one */
	int delete_level;
	int64_t push_rule_id; /* the oldest rule requiring that minimum; 0 for none */
	int64_t delete_rule_id;
};

struct audit_event;

/* Filters of the audit log; NULL or 0: any. */
struct audit_query {
	int64_t project_id;
	const char *package;
	const char *username;
	int64_t limit;
};

/* One upload to record: find or create the package (name, version) among the project's
 * packages that are not pending destruction, apply status if given, add the file. */
struct meta_publish {
	int64_t project_id;
	const char *name;
	const char *version;
	int status; /* enum package_status, or -1 when the client gave none */
	int64_t creator_id; /* 0: none (deploy tokens) */
	const char *file_name;
	int64_t size;
	const struct digest_hex *digests;
	bool refuse_duplicate; /* -EEXIST if the live package has an installable file so named */
	/* Small files' content, stored in the same transaction as the rows (one sync makes
	 * both durable); NULL when the content is in the blob store. */
	const void *inline_data;
};

/* One publish of a batch, and its outcome. */
struct meta_publish_item {
	const struct meta_publish *p;
	struct meta_package_file out;
	int result;
};

typedef int (*meta_file_cb)(void *ctx, const struct meta_package_file *file);
typedef int (*meta_package_cb)(void *ctx, const struct meta_package *pkg);

/* Listing order; each ties on id in the same direction. */
enum package_order { PKG_ORDER_CREATED_AT, PKG_ORDER_NAME, PKG_ORDER_VERSION, PKG_ORDER_TYPE,
		     PKG_ORDER_PROJECT_PATH, PKG_ORDER_SIZE };
enum file_order { FILE_ORDER_ID, FILE_ORDER_CREATED_AT, FILE_ORDER_FILE_NAME };

/* Filters and paging for package listings. */
struct package_query {
	const int64_t *project_ids; /* the projects to list from */
	size_t nprojects;
	const char *name_like; /* case-insensitive substring, or NULL */
	const char *version;   /* exact, or NULL */
	int status;	       /* an enum package_status, or -1 for the displayable ones */
	enum package_order order;
	bool desc;
	int64_t limit;
	int64_t offset;
};

struct file_query {
	int64_t package_id;
	bool latest_only; /* only the newest file of each name */
	enum file_order order;
	bool desc;
	int64_t limit;
	int64_t offset;
	/* Keyset paging (FILE_ORDER_FILE_NAME ascending only, -EINVAL otherwise): only rows
	 * after (after_name, after_id) in that order; NULL: from the first row. */
	const char *after_name;
	int64_t after_id;
};

/* users area: GET /users' filters (NULL or false: none), order and paging. */
enum user_order { USER_ORDER_ID, USER_ORDER_NAME, USER_ORDER_USERNAME, USER_ORDER_CREATED_AT };
struct user_query {
	const char *username; /* exact, case-insensitive */
	const char *search;   /* substring of the username or name, case-insensitive */
	bool search_email;    /* search looks at emails too (admins') */
	bool humans;	      /* no bots */
	bool bots;	      /* bots only */
	bool admins;	      /* administrators only */
	enum user_order order;
	bool desc;
	int64_t limit; /* <= 0: all */
	int64_t offset;
};

/* users area: GET /namespaces: the namespaces a user may list, by id. */
struct namespace_query {
	bool all;	  /* every namespace (administrators) */
	int64_t user_id;  /* otherwise: this user's personal namespace and the groups (with
			   * their descendants) where they have at least min_level */
	enum access_level min_level;
	const char *search; /* substring of the last path segment or the name */
	bool top_level_only;
	int64_t limit; /* <= 0: all */
	int64_t offset;
};

/* Parses and names GitLab's package status values. */
int package_status_parse(const char *name, enum package_status *out);
const char *package_status_name(enum package_status s);

/* Listings of the REST resources (groups and projects area, meta_sql_projects.c): what the
 * caller may see and the filters GitLab's GroupsFinder and ProjectsFinder apply. */
enum group_order { GROUP_ORDER_NAME, GROUP_ORDER_PATH, GROUP_ORDER_ID };
struct group_query {
	int64_t user_id;	/* the caller; 0: anonymous (public groups only) */
	bool admin;		/* sees every group when all_available */
	bool all_available;	/* public and internal groups too, not only the caller's */
	bool owned;		/* groups the caller is a direct Owner of */
	int min_access_level;	/* the caller's level, direct or inherited; 0: any */
	bool top_level_only;
	int64_t parent_id;	/* only the children of this group; 0: any */
	const char *search;	/* case-insensitive substring of the name or full path */
	int visibility;		/* an enum visibility, or -1 */
	enum group_order order;
	bool desc;
	int64_t limit;
	int64_t offset;
};
enum project_order { PROJECT_ORDER_CREATED_AT, PROJECT_ORDER_ID, PROJECT_ORDER_NAME,
		     PROJECT_ORDER_PATH, PROJECT_ORDER_UPDATED_AT };
struct project_query {
	int64_t user_id;	/* the caller; 0: anonymous (public projects only) */
	bool admin;		/* sees every project */
	bool membership;	/* only projects the caller is a member of (or of a group above) */
	bool owned;		/* only projects the caller owns (Owner, directly or above) */
	int64_t group_id;	/* only the projects of this namespace; 0: any */
	bool include_subgroups; /* with group_id: its subgroups' projects too */
	const char *search;	/* case-insensitive substring of the name, path or description */
	int visibility;		/* an enum visibility, or -1 */
	enum project_order order;
	bool desc;
	int64_t limit;
	int64_t offset;
};
typedef int (*meta_group_cb)(void *ctx, const struct meta_group *g);
typedef int (*meta_project_cb)(void *ctx, const struct meta_project *p);
/* What a create or rename found taken: bits for the path and the name. */
#define META_TAKEN_PATH 1u
#define META_TAKEN_NAME 2u

/* Filters and paging of token listings (tokens area); 0, -1 or NULL: any. */
struct token_query {
	int kind;		/* an enum token_kind, or -1: any */
	int also_kind;		/* a second kind accepted, or -1 */
	int64_t user_id;
	int64_t project_id;
	int64_t group_id;
	int revoked;		/* -1 any, 0 not revoked, 1 revoked */
	int active;		/* -1 any, 1 neither revoked nor expired at now_ms, 0 the others */
	int64_t now_ms;
	const char *search;	/* a case-insensitive part of the name */
	int64_t limit;		/* 0: all */
	int64_t offset;
};

struct meta;

struct meta_ops {
	void (*close)(struct meta *m);
	/* Does the store answer a query now? For readiness probes. */
	int (*ping)(struct meta *m);

	/* Stores u (username, name, email, is_admin, bot, created_by) and sets u->id and
	 * u->created_at_ms; a person (not a bot) gets a personal namespace of the same path,
	 * which they own, in the same transaction: -EEXIST when a user or namespace has it. */
	int (*user_create)(struct meta *m, struct meta_user *u);
	int (*user_get)(struct meta *m, int64_t id, struct meta_user *out);
	int (*user_find)(struct meta *m, const char *username, struct meta_user *out);

	/* Stores g (path, visibility, name, description, creation levels) and sets its id,
	 * parent_id and created_at_ms; the parent of a nested path must exist (-EINVAL). A
	 * missing name is the path's last segment, missing levels are maintainer. */
	int (*group_create)(struct meta *m, struct meta_group *g);
	int (*group_find)(struct meta *m, const char *path, struct meta_group *out);
	/* Stores p (path, visibility, name, description, packages_enabled, creator_id) in the
	 * namespace its path's parent names (-EINVAL if none); sets id, group_id, times. */
	int (*project_create)(struct meta *m, struct meta_project *p);
	int (*project_get)(struct meta *m, int64_t id, struct meta_project *out);
	int (*project_find)(struct meta *m, const char *path, struct meta_project *out);
	/* Is the project inside the group or one of its subgroups? */
	int (*project_in_group)(struct meta *m, int64_t project_id, int64_t group_id, bool *out);

	/* Adds or changes a membership of a project (group_id 0) or a group (project_id 0). */
	int (*member_set)(struct meta *m, int64_t user_id, int64_t project_id, int64_t group_id,
			  enum access_level level);
	/* The user's highest level on the project, directly or through any ancestor group;
	 * ACCESS_NONE for a non-member. A membership past its expiry date counts for nothing
	 * (group_access_level too). */
	int (*access_level)(struct meta *m, int64_t user_id, int64_t project_id,
			    enum access_level *out);

	/* Stores t and sets t->id; a deploy token without a username gets
	 * "gitlab+deploy-token-<id>". */
	int (*token_insert)(struct meta *m, struct meta_token *t);
	int (*token_find_by_hash)(struct meta *m, const char *hash_hex, struct meta_token *out);
	int (*token_revoke)(struct meta *m, int64_t id);

	/* Records one uploaded file in a single transaction; fills *out. */
	int (*file_publish)(struct meta *m, const struct meta_publish *p,
			    struct meta_package_file *out);
	/* Records several in one transaction (one sync for all: group commit), each in its
	 * own savepoint so one refusal does not undo the others. Sets each item's result. */
	int (*publish_batch)(struct meta *m, struct meta_publish_item *items, size_t n);
	/* The content of a small file stored inline; caller frees *data. */
	int (*inline_blob_get)(struct meta *m, const char *sha256, char **data, size_t *len);
	/* The newest installable file of that name in the installable package (name, version). */
	int (*file_lookup)(struct meta *m, int64_t project_id, const char *name,
			   const char *version, const char *file_name, struct meta_package *pkg,
			   struct meta_package_file *file);
	/* Finds the installable package (name, version). */
	int (*package_find)(struct meta *m, int64_t project_id, const char *name,
			    const char *version, struct meta_package *out);
	int (*package_touch_download)(struct meta *m, int64_t package_id, int64_t when_ms);

	/* Listings call cb per row (a non-zero return stops the walk and is returned) and set
	 * *total to the number of rows matching before paging. */
	int (*packages_list)(struct meta *m, const struct package_query *q, meta_package_cb cb,
			     void *ctx, int64_t *total);
	/* The installable files of a package; total may be NULL (not counted). */
	int (*package_files_list)(struct meta *m, const struct file_query *q, meta_file_cb cb,
				  void *ctx, int64_t *total);
	/* A package of the project by id, whatever its status. */
	int (*package_get)(struct meta *m, int64_t project_id, int64_t package_id,
			   struct meta_package *out);
	/* The other displayable versions of the same package name, oldest first. */
	int (*package_versions)(struct meta *m, const struct meta_package *pkg,
				meta_package_cb cb, void *ctx);
	/* A file of the package by id, whatever its status. */
	int (*package_file_get)(struct meta *m, int64_t package_id, int64_t file_id,
				struct meta_package_file *out);
	/* Marks the package and its files pending destruction; -ENOENT when it already was
	 * (a concurrent delete, on this node or another). */
	int (*package_destroy)(struct meta *m, int64_t package_id);
	/* Marks the installable files with this id (file_id != 0) or this name pending
	 * destruction; -ENOENT when none matched. With drop_empty, a package left without
	 * installable files is marked too. */
	int (*files_destroy)(struct meta *m, int64_t package_id, int64_t file_id,
			     const char *file_name, bool drop_empty);
	/* Projects in the group and, unless direct_only, its subgroups; by id. */
	int (*group_projects)(struct meta *m, int64_t group_id, bool direct_only,
			      int (*cb)(void *ctx, const struct meta_project *p), void *ctx);
	int (*group_get)(struct meta *m, int64_t id, struct meta_group *out);
	/* The user's highest level on the group, directly or through an ancestor. */
	int (*group_access_level)(struct meta *m, int64_t user_id, int64_t group_id,
				  enum access_level *out);

	/* Runs fn holding the store's write lock: operations fn calls on this thread join
	 * one transaction, committed when fn returns 0 and rolled back otherwise. Blob
	 * visibility changes happen under it, so a sweep never races an upload. */
	int (*locked)(struct meta *m, int (*fn)(struct meta *m, void *ctx), void *ctx);
	/* Removes, in batches under the write lock, every blob that only rows pending
	 * destruction refer to (remove_blob unlinks it), then those rows. Counts blobs. A
	 * blob remove_blob fails on keeps its rows for the next run and holds back nothing
	 * else: the sweep goes on and returns that failure at the end. */
	int (*sweep_pending)(struct meta *m, int (*remove_blob)(void *ctx, const char *sha256),
			     void *ctx, int64_t *removed);
	/* Does any row, live or pending, refer to this content? */
	int (*blob_referenced)(struct meta *m, const char *sha256, bool *out);

	/* Duplicate settings of a group (defaults when never set). */
	int (*settings_get)(struct meta *m, int64_t group_id, struct meta_dup_settings *out);
	int (*settings_set)(struct meta *m, int64_t group_id, const struct meta_dup_settings *s);

	/* Protection rules of a project. insert sets r->id; -EEXIST for a pattern the
	 * project already has. */
	int (*rule_insert)(struct meta *m, struct meta_protection_rule *r);
	int (*rule_update)(struct meta *m, const struct meta_protection_rule *r);
	int (*rule_delete)(struct meta *m, int64_t project_id, int64_t rule_id);
	int (*rule_get)(struct meta *m, int64_t project_id, int64_t rule_id,
			struct meta_protection_rule *out);
	int (*rules_list)(struct meta *m, int64_t project_id,
			  int (*cb)(void *ctx, const struct meta_protection_rule *r), void *ctx);
	/* The rules whose pattern matches the name ('*' wildcards, case-insensitive). */
	int (*rules_match)(struct meta *m, int64_t project_id, const char *package_name,
			   struct meta_rule_match *out);

	/* Cleanup policies. get returns the defaults (all rules off) when never set. */
	int (*cleanup_get)(struct meta *m, int64_t project_id, struct meta_cleanup_policy *out);
	int (*cleanup_set)(struct meta *m, const struct meta_cleanup_policy *p);
	/* Projects whose policy has a rule on. */
	int (*cleanup_projects)(struct meta *m, int (*cb)(void *ctx, int64_t project_id),
				void *ctx);
	/* The live packages of a project, by name, newest first within a name. */
	int (*project_packages)(struct meta *m, int64_t project_id, meta_package_cb cb, void *ctx);
	/* Appends to the audit log (which refuses updates and deletes). */
	int (*audit_append)(struct meta *m, const struct audit_event *ev, size_t n);
	/* Newest first; cb gets each event. */
	int (*audit_list)(struct meta *m, const struct audit_query *q,
			  int (*cb)(void *ctx, const struct audit_event *ev), void *ctx);
	/* fsck: every live file's content key, size and id. */
	int (*live_contents)(struct meta *m,
			     int (*cb)(void *ctx, const char *sha256, int64_t size, int64_t file_id),
			     void *ctx);
	/* fsck: inline contents no row names; with remove, deleted in the same transaction. */
	int (*inline_orphans)(struct meta *m, bool remove,
			      int (*cb)(void *ctx, const char *sha256), void *ctx);
	/* Installable files beyond the keep newest of their name in their package. */
	int (*files_beyond)(struct meta *m, int64_t project_id, int keep, meta_file_cb cb,
			    void *ctx);

	/* ---- GitLab's REST resources (issue 11); each area's operations live in
	 * meta_sql_<area>.c and are listed here in its own section. ---- */
	/* users (meta_sql_users.c) */
	/* The users q selects, cb once each (it must not call the store), *total before
	 * paging (unless NULL). */
	int (*users_list)(struct meta *m, const struct user_query *q,
			  int (*cb)(void *ctx, const struct meta_user *u), void *ctx, int64_t *total);
	/* user_create, in one transaction with GitLab's checks: -EEXIST with *email_taken when
	 * a user has the email (case-insensitive), -EEXIST otherwise when a user or namespace
	 * has the username. */
	int (*user_add)(struct meta *m, struct meta_user *u, bool *email_taken);
	/* The user's personal namespace; -ENOENT for bots. */
	int (*user_namespace)(struct meta *m, int64_t user_id, struct meta_group *out);
	/* Removes the user, their memberships and personal namespace, revokes their tokens
	 * (rows kept); the audit log keeps its names. -EBUSY when they are the only Owner of
	 * a group (counting its ancestors' owners), -ENOTEMPTY while their namespace holds a
	 * project; a namespace whose projects are all pending deletion is renamed away and
	 * marked pending too. One transaction. */
	int (*user_delete)(struct meta *m, int64_t user_id);
	/* Namespaces (groups and personal ones) as q selects them, by id; as users_list. */
	int (*namespaces_list)(struct meta *m, const struct namespace_query *q,
			       int (*cb)(void *ctx, const struct meta_group *g), void *ctx,
			       int64_t *total);

	/* groups, namespaces and projects (meta_sql_projects.c) */
	/* Visible groups (never personal namespaces nor pending deletion), paged; *total
	 * counts them before paging. */
	int (*groups_list)(struct meta *m, const struct group_query *q, meta_group_cb cb,
			   void *ctx, int64_t *total);
	int (*projects_list)(struct meta *m, const struct project_query *q, meta_project_cb cb,
			     void *ctx, int64_t *total);
	/* Stores g (full path under g->parent_id, name, description, visibility, creation
	 * levels as given: 0 is "no one") and makes owner_user_id (unless 0) its Owner, in one
	 * transaction; -EEXIST with *taken set when a group, user namespace or project has the
	 * path. Sets id and created_at_ms. */
	int (*group_add)(struct meta *m, struct meta_group *g, int64_t owner_user_id,
			 unsigned *taken);
	/* Changes name, description, visibility, creation levels and the path (its subgroups'
	 * and projects' paths follow); -EEXIST with *taken when the new path is taken. */
	int (*group_update)(struct meta *m, const struct meta_group *g, unsigned *taken);
	/* Deletes a group with its subgroups and projects: marks every package pending
	 * destruction (gc removes the contents), revokes the tokens of its projects and its
	 * deploy tokens, renames each path "<path>-deletion_scheduled-<id>" and sets
	 * pending_delete, so no lookup finds them and the paths are free at once. */
	int (*group_delete)(struct meta *m, int64_t group_id);
	/* The highest visibility among the group's direct subgroups and among its projects
	 * (-1: none). */
	int (*group_children_visibility)(struct meta *m, int64_t group_id, int *subgroups,
					 int *projects);
	/* Stores p (full path in namespace p->group_id, name, description, visibility,
	 * packages_enabled, creator_id); -EEXIST with *taken when the path (a project's or a
	 * group's) or the name (in the namespace) is taken. Sets id and times. */
	int (*project_add)(struct meta *m, struct meta_project *p, unsigned *taken);
	/* Changes name, description, visibility and packages_enabled; sets updated_at_ms.
	 * -EEXIST with *taken when another project of the namespace has the name. */
	int (*project_update)(struct meta *m, struct meta_project *p, unsigned *taken);
	/* Deletes a project as group_delete does. */
	int (*project_delete)(struct meta *m, int64_t project_id);
	/* The user's level on the project through a direct membership and through its
	 * groups (ACCESS_NONE when none). */
	int (*project_levels)(struct meta *m, int64_t user_id, int64_t project_id,
			      enum access_level *direct, enum access_level *via_groups);

	/* members (meta_sql_members.c) */
	/* The memberships of a project (group_id 0) or a group (project_id 0), by user id:
	 * the direct ones, or with inherited the ancestor groups' too, one per user (a live
	 * one before an expired one, then the highest level, then the direct one); only
	 * user_id's when it is not 0. */
	int (*members_list)(struct meta *m, int64_t project_id, int64_t group_id, bool inherited,
			    int64_t user_id, meta_member_cb cb, void *ctx);
	/* Adds mb (user, subject, level, created_by, expires_at) and sets its created_at;
	 * -EEXIST when the user has a direct membership of the subject already. */
	int (*member_add)(struct meta *m, struct meta_member *mb);
	/* Changes a direct membership's level and expiry; -ENOENT when there is none. */
	int (*member_update)(struct meta *m, const struct meta_member *mb);
	/* Removes a direct membership; -ENOENT when there is none. */
	int (*member_remove)(struct meta *m, int64_t user_id, int64_t project_id,
			     int64_t group_id);
	/* The group's direct Owners whose membership has not expired. */
	int (*group_owners)(struct meta *m, int64_t group_id, int64_t *out);

	/* tokens (meta_sql_tokens.c) */
	/* A token by id, whatever its state. */
	int (*token_get)(struct meta *m, int64_t id, struct meta_token *out);
	/* The tokens q selects, by id; *total (unless NULL) counts them before paging. */
	int (*tokens_list)(struct meta *m, const struct token_query *q,
			   int (*cb)(void *ctx, const struct meta_token *t), void *ctx,
			   int64_t *total);
	/* Revokes a token that is not revoked yet; -ENOENT when it was (or is gone), so two
	 * rotations of one token cannot both succeed. */
	int (*token_revoke_active)(struct meta *m, int64_t id);
	/* Destroys the row (deploy tokens, as GitLab does); -ENOENT when none. */
	int (*token_delete)(struct meta *m, int64_t id);
	/* last_used_at = now unless a use after since is recorded: one conditional UPDATE. */
	int (*token_touch)(struct meta *m, int64_t id, int64_t now_ms, int64_t since_ms);

	/* ---- end of the REST resources ---- */

	/* Blob stores with per-upload keys (blob.h): which key holds a content. key has
	 * BLOB_KEY_MAX + 1 bytes. put gives -EEXIST when the content is mapped already. */
	int (*blob_key_get)(struct meta *m, const char *sha256, char *key);
	int (*blob_key_put)(struct meta *m, const char *sha256, const char *key);
	int (*blob_key_delete)(struct meta *m, const char *sha256);
	/* Does a content map to this key? */
	int (*blob_key_mapped)(struct meta *m, const char *key, bool *out);

	/* ---- version selectors and atomic publishing (issue 14) ---- */
	/* The generic packages of the project named name with this status, by id: the
	 * candidates of a version selector. */
	int (*package_versions_with_status)(struct meta *m, int64_t project_id, const char *name,
					    enum package_status status, meta_package_cb cb,
					    void *ctx);
	/* Sets a live package's status (and updated_at); -ENOENT when it is not live. */
	int (*package_set_status)(struct meta *m, int64_t package_id, enum package_status status);

	/* ---- the small GET path (issue 12) ---- */
	/* The auth epoch (schema 5): raised in the same transaction by every write to tokens
	 * (but their last use), users, members, projects and groups, whoever writes. Over
	 * SQLite, as read at most a tenth of a second before: depot's own processes count
	 * their writes where every server on the database sees them (auth_local_changes),
	 * so that only other writers (an operator's SQL) are seen that late. */
	int (*auth_epoch)(struct meta *m, int64_t *out);
	/* A counter raised after each committed write to those tables by this process, and
	 * over SQLite by every depot process on the same database: those changes are seen
	 * at once, whatever the epoch's age. */
	uint64_t (*auth_local_changes)(struct meta *m);
	/* A download's one statement: the project (by id, or by path when path is not NULL;
	 * -ENOENT when there is none), the auth epoch read with it (or, when the lookup is
	 * kept, as auth_epoch gives it), and the live generic
	 * package name/version with its newest file file_name, found false when either is
	 * missing. */
	int (*download_lookup)(struct meta *m, int64_t project_id, const char *path,
			       const char *name, const char *version, const char *file_name,
			       struct meta_download *out);
	/* access_level, and until_ms: when the earliest membership it counted expires (0:
	 * none does), after which the level may drop. */
	int (*access_level_until)(struct meta *m, int64_t user_id, int64_t project_id,
				  int64_t now_ms, enum access_level *out, int64_t *until_ms);
	/* ---- the web interface's numbers (issue 13) ---- */
	/* The bytes of each project's live package files (installable files of packages not
	 * pending destruction) into sizes[i] for ids[i] (0 for none), in one query. */
	int (*projects_packages_size)(struct meta *m, const int64_t *ids, size_t n,
				      int64_t *sizes);
	/* Who uploaded these files of the package, from the audit log's upload events, in one
	 * query: cb(ctx, file_id, username) for each file that has one (the event of its
	 * name and content nearest in time to the file's creation). */
	int (*files_uploaded_by)(struct meta *m, int64_t package_id, const int64_t *file_ids,
				 size_t n, int (*cb)(void *ctx, int64_t file_id, const char *username),
				 void *ctx);
	/* Ends the token's web sessions signed in up to upto_s (sessions_after_s never moves
	 * back); -ENOENT for no such token. */
	int (*token_end_sessions)(struct meta *m, int64_t id, int64_t upto_s);
};

struct meta {
	const struct meta_ops *ops;
};

/* The schema version this build knows, the same number for every backend. */
extern const int meta_schema_version;

/* Opens (creating if needed) the SQLite store at path, applying pending migrations.
 * Returns NULL and sets *err. */
struct meta *meta_sqlite_open(const char *path, const char **err);

/* Opens the PostgreSQL store at conninfo (a postgres:// URL or a libpq connection string,
 * without a password: libpq reads PGPASSWORD or PGPASSFILE). With apply_migrations the
 * pending ones are applied; without, a schema older or newer than this build knows is
 * refused, *err naming the command to run. Returns NULL and sets *err. */
struct meta *meta_pg_open(const char *conninfo, bool apply_migrations, const char **err);

#endif
