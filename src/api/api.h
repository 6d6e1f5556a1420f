/* The HTTP API: the route table, and helpers the handlers share to identify the caller and
 * load the project a request names, replying with GitLab's statuses when they fail. */
#ifndef DEPOT_API_H
#define DEPOT_API_H

#include <stddef.h>

#include "blob.h"
#include "http.h"
#include "meta.h"

extern const struct route api_routes[];
extern const size_t api_routes_count;

/* Resolves the caller into r->ident and checks the token's scope for this method; an
 * anonymous caller may only read. Returns 0, or -1 having replied (401 for bad tokens and
 * anonymous writes, 403 insufficient_scope). */
int api_identify_or_reply(struct request *r);
/* The same when the request has read the auth epoch already (known_epoch >= 0, in the
 * snapshot of its lookup), so that cached identities need no read of their own. */
int api_identify_at_or_reply(struct request *r, int64_t known_epoch);

/* The caller of the Packages API, the policies and the by-name deletes: personal, project
 * and job tokens (deploy tokens count as anonymous there, so they may only read). */
int api_caller_or_reply(struct request *r);
/* The group named by capture cap (id or path) if the caller may see it (404 "404 Group
 * Not Found" otherwise, and for a personal namespace: no group) and has the route's ability
 * on it (403 otherwise). *ab (unless NULL): the caller's abilities on it. */
int api_group_or_reply(struct request *r, int cap, struct meta_group *g, struct abilities *ab);
/* 403 "403 Forbidden" unless ab grants what the route needs. Returns 0, or -1 having
 * replied. */
int api_allowed_or_reply(struct request *r, const struct abilities *ab);

/* Loads the project named by capture cap and the caller's abilities on it. A project that
 * does not exist or that the caller cannot see answers 404 {"message": not_found}, or, with
 * anonymous_401, 401 to anonymous callers; one the caller sees without the route's ability
 * answers 403. Returns 0, or -1 having replied. */
int api_project_or_reply_as(struct request *r, int cap, const char *not_found, bool anonymous_401,
			    struct meta_project *project, struct abilities *ab);
/* Its second half, for a project the handler looked up itself: ret is the lookup's (and
 * the abilities') outcome, ab the caller's abilities when ret is 0. */
int api_project_decided_or_reply(struct request *r, int ret, const char *not_found,
				 bool anonymous_401, const struct abilities *ab);
/* The generic packages' rule: anonymous callers get 401. */
int api_project_or_reply(struct request *r, int cap, const char *not_found,
			 struct meta_project *project, struct abilities *ab);

/* 400 {"error": "<param> <fragment>"} when fragment is non-NULL; returns -1 then, else 0. */
int api_param_or_reply(struct request *r, const char *param, const char *fragment);

/* GitLab pagination: page (from 1) and per_page (default 20, at most 100). */
struct page {
	int64_t page;
	int64_t per_page;
};

/* Reads page and per_page; 400 {"error":"page is invalid"} for a non-number. */
int api_page_or_reply(struct request *r, struct page *pg);
/* Replies 200 with items (stolen) and GitLab's pagination headers: X-Page, X-Per-Page,
 * X-Total, X-Total-Pages, X-Next-Page, X-Prev-Page and Link (absolute URLs). */
void api_reply_page(struct request *r, json_t *items, int64_t total, const struct page *pg);

/* The same with extra headers (name/value pairs, NULL-terminated; at most 8 pairs). */
void api_reply_page_with(struct request *r, json_t *items, int64_t total, const struct page *pg,
			 const char *const *extra);

/* Reads an enumerated parameter: sets *out to the index of its value in values (a
 * NULL-terminated list), leaves *out alone when absent; 400 "<name> does not have a valid
 * value" otherwise. */
int api_enum_or_reply(struct request *r, const char *name, const char *const *values, int *out);
/* Reads a Boolean parameter (true/false/1/0); 400 "<name> is invalid" otherwise. */
int api_bool_or_reply(struct request *r, const char *name, bool *out);

/* ---- Shared by the REST resources (api_params.c) ---- */

/* The request's parameters as GitLab's Grape merges them: the query string ("key[]"
 * repeated makes an array), then a JSON object or form-urlencoded body over it. Borrowed
 * (released with the request); NULL having replied 400 for a body that cannot be read. */
json_t *api_params(struct request *r);
/* Typed reads of one parameter: 1 present (*out set; strings borrowed), 0 absent or null,
 * -1 having replied 400 {"error":"<name> is invalid"} (or for an unreadable body). */
int api_param_str(struct request *r, const char *name, const char **out);
int api_param_int(struct request *r, const char *name, int64_t *out);
int api_param_bool(struct request *r, const char *name, bool *out); /* Grape's spellings */
/* A JSON array of strings, given as one, as key[]=..., or as "a,b"; *out_owned is the
 * caller's to json_decref. */
int api_param_list(struct request *r, const char *name, json_t **out_owned);
/* One of values (NULL-terminated): *out its index; 400 "<name> does not have a valid
 * value" otherwise. */
int api_param_enum(struct request *r, const char *name, const char *const *values, int *out);
/* 400 {"error":"a is missing, b is missing"} for required (NULL-terminated) parameters
 * absent, null or empty. Returns 0, or -1 having replied. */
int api_missing_or_reply(struct request *r, const char *const *required);

/* "<base URL><prefix>/<path>" into out. */
void api_web_url(struct request *r, const char *prefix, const char *path, char *out, size_t cap);
/* GitLab's timestamp ("2020-07-23T14:31:47.729Z"), or null for 0. New reference. */
json_t *api_time_json(int64_t ms);
/* GitLab's UserBasic: id, username, name, state, locked, avatar_url, web_url. New. */
json_t *api_user_basic_json(struct request *r, const struct meta_user *u);
/* GitLab's NamespaceBasic of a group or a personal namespace (kind "user"). New. */
json_t *api_namespace_json(struct request *r, const struct meta_group *g);
/* Routes with no subject: identifies the caller and checks the route's need
 * (ABILITY_SIGNED_IN: 401 unless a person; ABILITY_INSTANCE_ADMIN: 401 anonymous, 403
 * non-admins). Returns 0 with *ab the caller's instance abilities, or -1 having replied. */
int api_instance_or_reply(struct request *r, struct abilities *ab);

/* ---- REST resources' handlers, each area in its section ---- */
/* users, version, metadata, namespaces (api_users.c) */
/* GitLab's user entities, each the one before plus fields: UserBasic, User (GET
 * /users/:id), UserPublic (GET /user), UserWithAdmin (admin callers, POST /users). */
enum user_entity { USER_ENTITY_BASIC, USER_ENTITY_USER, USER_ENTITY_PUBLIC, USER_ENTITY_ADMIN };
/* u as entity e into *out_owned (the caller's to json_decref); UserWithAdmin reads the
 * store (namespace, creator): its failure is returned. */
int api_user_json(struct request *r, const struct meta_user *u, enum user_entity e,
		  json_t **out_owned);
void version_done(struct request *r);
void users_list_done(struct request *r);
void users_create_done(struct request *r);
void user_get_done(struct request *r);
void user_delete_done(struct request *r);
void namespaces_list_done(struct request *r);
void namespace_get_done(struct request *r);
void namespace_exists_done(struct request *r);

/* groups and projects (api_projects.c) */
void groups_list_done(struct request *r);
void groups_create_done(struct request *r);
void group_get_done(struct request *r);
void group_update_done(struct request *r);
void group_delete_done(struct request *r);
void group_projects_done(struct request *r);
void group_subgroups_done(struct request *r);
void projects_list_done(struct request *r);
void projects_create_done(struct request *r);
void project_get_done(struct request *r);
void project_update_done(struct request *r);
void project_delete_done(struct request *r);

/* members (api_members.c): the same handlers for /projects/:id and /groups/:id */
void project_members_list_done(struct request *r);
void project_members_all_done(struct request *r);
void project_member_all_get_done(struct request *r);
void project_member_get_done(struct request *r);
void project_member_add_done(struct request *r);
void project_member_update_done(struct request *r);
void project_member_remove_done(struct request *r);
void group_members_list_done(struct request *r);
void group_members_all_done(struct request *r);
void group_member_all_get_done(struct request *r);
void group_member_get_done(struct request *r);
void group_member_add_done(struct request *r);
void group_member_update_done(struct request *r);
void group_member_remove_done(struct request *r);

/* tokens (api_tokens.c) */
void pat_list_done(struct request *r);
void pat_self_get_done(struct request *r);
void pat_self_delete_done(struct request *r);
void pat_self_rotate_done(struct request *r);
void pat_get_done(struct request *r);
void pat_delete_done(struct request *r);
void pat_rotate_done(struct request *r);
void user_pat_create_done(struct request *r);
void project_tokens_list_done(struct request *r);
void project_token_create_done(struct request *r);
void project_token_self_rotate_done(struct request *r);
void project_token_get_done(struct request *r);
void project_token_delete_done(struct request *r);
void project_token_rotate_done(struct request *r);
void deploy_tokens_all_done(struct request *r);
void project_deploy_tokens_list_done(struct request *r);
void project_deploy_token_create_done(struct request *r);
void project_deploy_token_get_done(struct request *r);
void project_deploy_token_delete_done(struct request *r);
void group_deploy_tokens_list_done(struct request *r);
void group_deploy_token_create_done(struct request *r);
void group_deploy_token_get_done(struct request *r);
void group_deploy_token_delete_done(struct request *r);
void job_token_create_done(struct request *r);

/* ---- end of the REST resources ---- */

/* Probes (api_health.c): GET /-/health and /-/readiness. */
void health_done(struct request *r);
void readiness_done(struct request *r);

/* The web interface (web.c): assets, the page shell, signing in and out. */
void web_asset_done(struct request *r);
void web_page_done(struct request *r);
void web_session_get_done(struct request *r);
void web_sign_in_done(struct request *r);
void web_sign_out_done(struct request *r);

/* The current user (api_user.c). */
void api_user_done(struct request *r);
/* The on_start of routes that do all their work in on_done: reads (answering on the first
 * callback makes libmicrohttpd close the connection instead of keeping it alive) and routes
 * whose small JSON body is collected first. */
void api_defer_start(struct request *r);

/* Generic packages (api_generic.c). */
void generic_upload_start(struct request *r);
void generic_upload_body(struct request *r, const char *data, size_t len);
void generic_upload_done(struct request *r);
void generic_upload_free(struct request *r);
void generic_download_done(struct request *r);
void generic_files_done(struct request *r);
void generic_delete_version_done(struct request *r);
void generic_delete_file_done(struct request *r);
/* Whole versions as one archive, and atomic publishing (issue 14). */
void generic_archive_done(struct request *r);
void generic_publish_body(struct request *r, const char *data, size_t len);
void generic_publish_done(struct request *r);
void generic_publish_free(struct request *r);

/* Archives (api_archive.c). */
enum archive_kind { ARCHIVE_ZIP, ARCHIVE_TAR_GZ, ARCHIVE_TAR };
/* Streams every installable file of pkg (the newest of each name) as one archive of that
 * kind, with a SHA256SUMS file, answering with the extra headers too; audits it. */
void api_send_archive(struct request *r, const struct meta_package *pkg, enum archive_kind kind,
		      const char *const *extra);

/* The Packages API (api_packages.c). */
void packages_list_done(struct request *r);
void packages_get_done(struct request *r);
void packages_delete_done(struct request *r);
void package_files_list_done(struct request *r);
void package_file_delete_done(struct request *r);
void package_file_download_done(struct request *r);
void group_packages_list_done(struct request *r);

/* 403 "Package is deletion protected." when a protection rule blocks the caller from
 * deleting pkg; returns 0 when the delete may go ahead, -1 having replied. */
int api_delete_allowed_or_reply(struct request *r, const struct abilities *ab,
				const struct meta_package *pkg);

/* GitLab's destroy_conditionally!: 412 {"message":"412 Precondition Failed"} when an
 * If-Unmodified-Since date is older than the resource's updated_at. Returns 0, or -1
 * having replied. */
int api_unmodified_or_reply(struct request *r, int64_t updated_at_ms);

/* Publishing policies over REST (api_policies.c). */
void settings_get_done(struct request *r);
void settings_put_done(struct request *r);
void rules_list_done(struct request *r);
void rules_create_done(struct request *r);
void rules_update_done(struct request *r);
void rules_delete_done(struct request *r);
void cleanup_policy_get_done(struct request *r);
void cleanup_policy_put_done(struct request *r);

/* Appends a package file as GitLab's API::Entities::PackageFile (plus MD5 and SHA-1) to a
 * JSON array; a meta_file_cb. */
int api_file_json(void *array, const struct meta_package_file *f);

/* Queues an audit event for this request's caller and client address. */
void api_audit(struct request *r, const char *action, int64_t project_id, const char *package,
	       const char *version, const char *file_name, int64_t size, const char *sha256,
	       const char *detail);

/* Serves a stored file with the download headers; shared by the generic and by-id
 * downloads. checksum_headers adds X-Checksum-SHA256/SHA1/MD5. */
void api_send_file(struct request *r, const struct meta_package *pkg,
		   const struct meta_package_file *f);
/* The same with extra headers (name/value pairs, NULL-terminated; at most 8 pairs), in
 * every answer: a version selector's. */
void api_send_file_with(struct request *r, const struct meta_package *pkg,
			const struct meta_package_file *f, const char *const *extra);
/* A file's content for reading: in memory (*mem, caller frees; small files, from the hot
 * cache) or as an open blob (*br, closed by the caller). -EAGAIN: the store is
 * unavailable; other errors: missing or damaged content. */
int api_open_content(struct app *app, const struct meta_package_file *f,
		     struct blob_reader *br, char **mem);

/* Records the file in the metadata store and makes its blob visible, under the store's
 * write lock so a concurrent sweep cannot remove the blob in between. The writer is
 * consumed. */
int api_publish(struct app *app, struct blob_writer *w, const struct meta_publish *p,
		struct meta_package_file *out);

#endif
