/* GitLab's REST resources of the users area: GET /version and /metadata, the users
 * (list, get, create, delete; admins see more of each) and the namespaces a caller may
 * put projects in (GET /namespaces, /namespaces/:id, /namespaces/:id/exists), with
 * GitLab's entities, statuses and bodies (gitlab-rest.md sections 1, 2 and 4). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "cli.h" /* DEPOT_VERSION, what `depot --version` prints */

#ifndef DEPOT_REVISION /* the Makefile passes the short git revision */
#define DEPOT_REVISION "unknown"
#endif

/* ---- entities ---- */

/* The admin-only fields of UserWithAdmin: the personal namespace and who created the
 * user (UserBasic, or null). */
static int admin_fields(struct request *r, const struct meta_user *u, json_t *o)
{
	struct meta *m = r->app->meta;
	struct meta_group ns;
	struct meta_user by;
	int ret = m->ops->user_namespace(m, u->id, &ns);
	if (ret != 0 && ret != -ENOENT)
		return ret;
	json_object_set_new(o, "namespace_id", ret == 0 ? json_integer(ns.id) : json_null());
	ret = u->created_by ? m->ops->user_get(m, u->created_by, &by) : -ENOENT;
	if (ret != 0 && ret != -ENOENT)
		return ret;
	json_object_set_new(o, "created_by",
			    ret == 0 ? api_user_basic_json(r, &by) : json_null());
	json_object_set_new(o, "is_admin", json_boolean(u->is_admin));
	json_object_set_new(o, "note", json_null());
	json_object_set_new(o, "email_reset_offered_at", json_null());
	return 0;
}

int api_user_json(struct request *r, const struct meta_user *u, enum user_entity e,
		  json_t **out)
{
	json_t *o = api_user_basic_json(r, u);
	if (!o)
		return -ENOMEM;
	json_t *created = api_time_json(u->created_at_ms);
	if (e >= USER_ENTITY_USER) {
		/* GitLab's profile fields depot does not keep: their defaults */
		json_t *more = json_pack(
			"{s:O,s:s,s:s,s:n,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:n,s:b,s:n,s:i,s:i,s:b,s:n}",
			"created_at", created, "bio", "", "location", "", "public_email", "skype",
			"", "linkedin", "", "twitter", "", "discord", "", "website_url", "",
			"organization", "", "job_title", "", "pronouns", "bot", u->bot,
			"work_information", "followers", 0, "following", 0, "is_followed", 0,
			"local_time");
		json_object_update(o, more);
		json_decref(more);
	}
	if (e >= USER_ENTITY_PUBLIC) {
		json_t *email = u->email[0] ? json_string(u->email) : json_null();
		json_t *more = json_pack(
			"{s:n,s:O,s:n,s:O,s:i,s:i,s:i,s:n,s:[],s:b,s:b,s:b,s:b,s:b,s:O,s:s}",
			"last_sign_in_at", "confirmed_at", created, "last_activity_on", "email",
			email, "theme_id", 1, "color_scheme_id", 1, "projects_limit", 100000,
			"current_sign_in_at", "identities", "can_create_group", !u->bot,
			"can_create_project", 1, "two_factor_enabled", 0, "external", 0,
			"private_profile", 0, "commit_email", email, "preferred_language", "en");
		json_decref(email);
		json_object_update(o, more);
		json_decref(more);
	}
	json_decref(created);
	int ret = e == USER_ENTITY_ADMIN ? admin_fields(r, u, o) : 0;
	if (ret != 0) {
		json_decref(o);
		return ret;
	}
	*out = o;
	return 0;
}

/* Replies with one user as entity e; 500 when the store fails. */
static void reply_user(struct request *r, unsigned status, const struct meta_user *u,
		       enum user_entity e)
{
	json_t *o;
	int ret = api_user_json(r, u, e, &o);
	if (ret != 0)
		http_reply_internal(r, "user entity", ret);
	else
		http_reply_json(r, status, o);
}

/* ---- GET /version, GET /metadata ---- */

void version_done(struct request *r)
{
	struct abilities ab;
	if (api_instance_or_reply(r, &ab) != 0)
		return;
	http_reply_json(r, MHD_HTTP_OK,
			json_pack("{s:s,s:s,s:{s:b,s:n,s:n,s:n},s:b}", "version", DEPOT_VERSION,
				  "revision", DEPOT_REVISION, "kas", "enabled", 0, "externalUrl",
				  "externalK8sProxyUrl", "version", "enterprise", 0));
}

/* ---- users ---- */

/* GitLab's namespace format (Gitlab::PathRegex): letters, digits, '_', '-' and '.', not
 * starting with '-', not ending in '.', '.git' or '.atom'. */
static const char username_format[] = "can contain only letters, digits, '_', '-' and '.'. "
				      "Cannot start with '-' or end in '.', '.git' or '.atom'.";

static bool valid_username(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > USERNAME_MAX || s[0] == '-' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return !((n >= 4 && strcmp(s + n - 4, ".git") == 0) ||
		 (n >= 5 && strcmp(s + n - 5, ".atom") == 0));
}

/* Devise's email format: something, one '@', something, no white space. */
static bool valid_email(const char *s)
{
	const char *at = strchr(s, '@');
	return at && at > s && at[1] && !strchr(at + 1, '@') && !strpbrk(s, " \t\r\n\f\v");
}

/* Does the request's :user_id capture name a user id (GitLab's route requirement
 * /[0-9]*\/: anything else matches no route)? Replies 404 {"error"} otherwise. */
static int user_id_or_reply(struct request *r, int64_t *id)
{
	char v[32], *end;
	if (http_capture(r, 0, v, sizeof(v)) == 0 && v[0] >= '0' && v[0] <= '9') {
		long long n = strtoll(v, &end, 10);
		if (!*end && strspn(v, "0123456789") == strlen(v)) {
			*id = n;
			return 0;
		}
	}
	http_reply_error(r, MHD_HTTP_NOT_FOUND, "404 Not Found");
	return -1;
}

/* The users of a page, gathered before their entities are built: an entity may need
 * the store, which a listing's callback must not call. */
struct user_rows {
	struct meta_user *rows;
	size_t n, cap;
};

static int gather_user(void *ctx, const struct meta_user *u)
{
	struct user_rows *ur = ctx;
	if (ur->n == ur->cap)
		return -ENOSPC;
	ur->rows[ur->n++] = *u;
	return 0;
}

static const char *const user_orders[] = {"id", "name", "username", "created_at", "updated_at",
					  NULL};
static const char *const sorts[] = {"asc", "desc", NULL};

/* Reads GET /users' parameters into q; *none when a filter rules out every user (depot's
 * users are all active, none external). Admin-only ones are read, then dropped for
 * others, as GitLab does. */
static int users_query_or_reply(struct request *r, bool admin, struct user_query *q, bool *none)
{
	static const char *const flags[] = {"humans",  "exclude_humans", "without_project_bots",
					    "admins",  "active",	 "blocked",
					    "external", "exclude_external", "exclude_internal",
					    "exclude_active", NULL};
	bool v[10] = {0};
	for (int i = 0; flags[i]; i++)
		if (api_param_bool(r, flags[i], &v[i]) < 0)
			return -1;
	int order = 0, sort = 1;
	if (api_param_str(r, "username", &q->username) < 0 ||
	    api_param_str(r, "search", &q->search) < 0 ||
	    api_param_enum(r, "order_by", user_orders, &order) < 0 ||
	    api_param_enum(r, "sort", sorts, &sort) < 0)
		return -1;
	if (q->search && !q->search[0])
		q->search = NULL;
	q->humans = v[0] || v[2];
	q->bots = v[1];
	q->admins = admin && v[3];
	*none = v[5] || v[6] || v[9]; /* blocked, external, exclude_active */
	q->search_email = admin;
	q->order = admin && order < 4 ? (enum user_order)order
		   : admin	      ? USER_ORDER_CREATED_AT /* no updated_at: created_at */
				      : USER_ORDER_ID;
	q->desc = sort == 1;
	return 0;
}

void users_list_done(struct request *r)
{
	struct abilities ab;
	struct page pg;
	struct user_query q = {0};
	bool none = false;
	if (api_instance_or_reply(r, &ab) != 0)
		return;
	bool admin = abilities_allow(&ab, ABILITY_INSTANCE_ADMIN);
	if (users_query_or_reply(r, admin, &q, &none) != 0)
		return;
	/* anonymous callers may only look a user up by name */
	if (!abilities_allow(&ab, ABILITY_SIGNED_IN) && !q.username) {
		http_reply_message(r, MHD_HTTP_FORBIDDEN,
				   "403 Forbidden - Not authorized to access /api/v4/users");
		return;
	}
	if (api_page_or_reply(r, &pg) != 0)
		return;
	q.limit = pg.per_page;
	q.offset = (pg.page - 1) * pg.per_page;
	struct user_rows ur = {calloc((size_t)pg.per_page, sizeof(struct meta_user)), 0,
			       (size_t)pg.per_page};
	int64_t total = 0;
	int ret = ur.rows ? 0 : -ENOMEM;
	if (ret == 0 && !none)
		ret = r->app->meta->ops->users_list(r->app->meta, &q, gather_user, &ur, &total);
	json_t *items = json_array();
	for (size_t i = 0; ret == 0 && i < ur.n; i++) {
		json_t *o;
		ret = api_user_json(r, &ur.rows[i], admin ? USER_ENTITY_ADMIN : USER_ENTITY_BASIC,
				    &o);
		if (ret == 0)
			json_array_append_new(items, o);
	}
	free(ur.rows);
	if (ret != 0) {
		json_decref(items);
		http_reply_internal(r, "users listing", ret);
		return;
	}
	api_reply_page(r, items, total, &pg);
}

void user_get_done(struct request *r)
{
	struct abilities ab;
	int64_t id;
	struct meta_user u;
	if (user_id_or_reply(r, &id) != 0 || api_instance_or_reply(r, &ab) != 0)
		return;
	if (!abilities_allow(&ab, ABILITY_SIGNED_IN)) {
		http_reply_message(r, MHD_HTTP_FORBIDDEN, "403 Forbidden - Not authorized!");
		return;
	}
	int ret = r->app->meta->ops->user_get(r->app->meta, id, &u);
	if (ret == -ENOENT) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 User Not Found");
		return;
	}
	if (ret != 0) {
		http_reply_internal(r, "user lookup", ret);
		return;
	}
	reply_user(r, MHD_HTTP_OK, &u,
		   abilities_allow(&ab, ABILITY_INSTANCE_ADMIN) ? USER_ENTITY_ADMIN
								: USER_ENTITY_USER);
}

/* Grape's answer to absent required parameters, in their declaration order (email, the
 * password trio, name, username); empty counts as absent. */
static int create_missing_or_reply(struct request *r)
{
	json_t *params = api_params(r);
	if (!params)
		return -1;
	static const char *const order[] = {"email", "", "name", "username", NULL};
	char msg[512] = "";
	size_t len = 0;
	for (int i = 0; order[i]; i++) {
		const char *what = order[i];
		bool present;
		if (!what[0]) {
			present = json_object_get(params, "password") ||
				  json_object_get(params, "reset_password") ||
				  json_object_get(params, "force_random_password");
			what = "password, reset_password, force_random_password are missing, at "
			       "least one parameter must be provided";
		} else {
			json_t *v = json_object_get(params, what);
			present = v && !json_is_null(v) &&
				  !(json_is_string(v) && !json_string_length(v));
		}
		if (!present)
			len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s%s%s",
						len ? ", " : "", what,
						order[i][0] ? " is missing" : "");
	}
	if (!msg[0])
		return 0;
	http_reply_error(r, MHD_HTTP_BAD_REQUEST, msg);
	return -1;
}

/* Adds one of GitLab's validation messages: {"<attr>":["<msg>"]}. */
static void invalid_attr(json_t *errors, const char *attr, const char *msg)
{
	json_t *list = json_object_get(errors, attr);
	if (!list)
		json_object_set_new(errors, attr, list = json_array());
	json_array_append_new(list, json_string(msg));
}

void users_create_done(struct request *r)
{
	struct abilities ab;
	if (api_instance_or_reply(r, &ab) != 0 || create_missing_or_reply(r) != 0)
		return;
	const char *email = NULL, *name = NULL, *username = NULL, *password = NULL;
	bool admin = false, ignored;
	static const char *const flags[] = {"reset_password", "force_random_password",
					    "skip_confirmation", "can_create_group", "external",
					    "private_profile", NULL};
	if (api_param_str(r, "email", &email) < 0 || api_param_str(r, "name", &name) < 0 ||
	    api_param_str(r, "username", &username) < 0 ||
	    api_param_str(r, "password", &password) < 0 || api_param_bool(r, "admin", &admin) < 0)
		return;
	for (int i = 0; flags[i]; i++)
		if (api_param_bool(r, flags[i], &ignored) < 0)
			return;
	json_t *errors = json_object();
	if (strlen(email) > EMAIL_MAX)
		invalid_attr(errors, "email", "is too long (maximum is 255 characters)");
	else if (!valid_email(email))
		invalid_attr(errors, "email", "is invalid");
	/* depot keeps no passwords (people use tokens): one given is checked as GitLab
	 * checks it, then forgotten */
	if (password && strlen(password) < 8)
		invalid_attr(errors, "password", "is too short (minimum is 8 characters)");
	if (strlen(name) > DISPLAY_NAME_MAX)
		invalid_attr(errors, "name", "is too long (maximum is 255 characters)");
	if (strlen(username) > USERNAME_MAX)
		invalid_attr(errors, "username", "is too long (maximum is 255 characters)");
	else if (!valid_username(username))
		invalid_attr(errors, "username", username_format);
	if (json_object_size(errors)) {
		http_reply_json(r, MHD_HTTP_BAD_REQUEST, json_pack("{s:o}", "message", errors));
		return;
	}
	json_decref(errors);
	struct meta_user u = {.is_admin = admin, .created_by = r->ident.user.id};
	snprintf(u.username, sizeof(u.username), "%s", username);
	snprintf(u.name, sizeof(u.name), "%s", name);
	snprintf(u.email, sizeof(u.email), "%s", email);
	bool email_taken = false;
	int ret = r->app->meta->ops->user_add(r->app->meta, &u, &email_taken);
	if (ret == -EEXIST) {
		http_reply_message(r, MHD_HTTP_CONFLICT,
				   email_taken ? "Email has already been taken"
					       : "Username has already been taken");
		return;
	}
	if (ret != 0) {
		http_reply_internal(r, "user creation", ret);
		return;
	}
	reply_user(r, MHD_HTTP_CREATED, &u, USER_ENTITY_ADMIN);
}

void user_delete_done(struct request *r)
{
	struct abilities ab;
	struct meta *m = r->app->meta;
	int64_t id;
	struct meta_user u;
	bool hard = false;
	if (user_id_or_reply(r, &id) != 0 || api_instance_or_reply(r, &ab) != 0 ||
	    api_param_bool(r, "hard_delete", &hard) < 0)
		return;
	int ret = m->ops->user_get(m, id, &u);
	if (ret == 0 && api_unmodified_or_reply(r, u.created_at_ms) != 0)
		return;
	if (ret == 0)
		ret = m->ops->user_delete(m, id);
	switch (ret) {
	case 0:
		http_reply_no_content(r);
		break;
	case -ENOENT:
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 User Not Found");
		break;
	case -EBUSY: /* hard_delete too: depot never deletes a group with its last owner */
		http_reply_message(r, MHD_HTTP_CONFLICT,
				   "User cannot be removed while is the sole-owner of a group");
		break;
	case -ENOTEMPTY: /* GitLab deletes personal projects along; depot asks first */
		http_reply_message(r, MHD_HTTP_CONFLICT,
				   "User cannot be removed while their personal namespace has "
				   "projects: delete them first");
		break;
	default:
		http_reply_internal(r, "user deletion", ret);
	}
}

/* ---- namespaces ---- */

struct group_rows {
	json_t *items;
	struct request *r;
};

static int namespace_row(void *ctx, const struct meta_group *g)
{
	struct group_rows *gr = ctx;
	json_t *o = api_namespace_json(gr->r, g);
	return o && json_array_append_new(gr->items, o) == 0 ? 0 : -ENOMEM;
}

void namespaces_list_done(struct request *r)
{
	struct abilities ab;
	struct page pg;
	bool owned_only = false, top_level_only = false;
	struct namespace_query q = {0};
	if (api_instance_or_reply(r, &ab) != 0 || api_param_str(r, "search", &q.search) < 0 ||
	    api_param_bool(r, "owned_only", &owned_only) < 0 ||
	    api_param_bool(r, "top_level_only", &top_level_only) < 0 ||
	    api_page_or_reply(r, &pg) != 0)
		return;
	if (q.search && !q.search[0])
		q.search = NULL;
	q.all = abilities_allow(&ab, ABILITY_INSTANCE_ADMIN) && !owned_only;
	q.user_id = r->ident.user.id;
	q.min_level = owned_only ? ACCESS_OWNER : ACCESS_GUEST;
	q.top_level_only = top_level_only;
	q.limit = pg.per_page;
	q.offset = (pg.page - 1) * pg.per_page;
	struct group_rows gr = {json_array(), r};
	int64_t total = 0;
	int ret = r->app->meta->ops->namespaces_list(r->app->meta, &q, namespace_row, &gr, &total);
	if (ret != 0) {
		json_decref(gr.items);
		http_reply_internal(r, "namespaces listing", ret);
		return;
	}
	api_reply_page(r, gr.items, total, &pg);
}

/* The namespace :id names (an id or a full path) if the caller may read it through a
 * membership (their own, a group they or an ancestor's members include; admins all):
 * 404 "404 Namespace Not Found" otherwise. */
static int namespace_or_reply(struct request *r, struct meta_group *g)
{
	struct meta *m = r->app->meta;
	struct abilities ab;
	char ref[FULL_PATH_MAX + 1];
	int ret = -ENOENT;
	if (http_capture(r, 0, ref, sizeof(ref)) == 0 && ref[0]) {
		char *end;
		long long id = strtoll(ref, &end, 10);
		bool digits = strspn(ref, "0123456789") == strlen(ref);
		ret = digits && !*end ? m->ops->group_get(m, id, g) : m->ops->group_find(m, ref, g);
	}
	if (ret == 0)
		ret = auth_group_abilities(m, &r->ident, g, &ab);
	if (ret != 0 && ret != -ENOENT) {
		http_reply_internal(r, "namespace lookup", ret);
		return -1;
	}
	/* GitLab's read_namespace_via_membership: a public group is not enough */
	if (ret == -ENOENT || ab.level < ACCESS_GUEST) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Namespace Not Found");
		return -1;
	}
	return 0;
}

void namespace_get_done(struct request *r)
{
	struct abilities ab;
	struct meta_group g;
	if (api_instance_or_reply(r, &ab) != 0 || namespace_or_reply(r, &g) != 0)
		return;
	http_reply_json(r, MHD_HTTP_OK, api_namespace_json(r, &g));
}

/* Is there a namespace at this full path? 0 or 1, or a store failure. */
static int path_taken(struct meta *m, const char *path)
{
	struct meta_group g;
	int ret = m->ops->group_find(m, path, &g);
	return ret == 0 ? 1 : ret == -ENOENT ? 0 : ret;
}

void namespace_exists_done(struct request *r)
{
	struct meta *m = r->app->meta;
	struct abilities ab;
	struct meta_group parent = {0};
	char seg[FULL_PATH_MAX + 1], full[FULL_PATH_MAX + 1];
	int64_t parent_id = 0;
	int got;
	if (api_instance_or_reply(r, &ab) != 0 ||
	    (got = api_param_int(r, "parent_id", &parent_id)) < 0)
		return;
	int ret = http_capture(r, 0, seg, sizeof(seg)) == 0 ? 0 : -ENOENT;
	/* GitLab compares one path segment among the parent's children (or the top level) */
	if (ret == 0 && (strchr(seg, '/') || !seg[0]))
		ret = -ENOENT;
	if (ret == 0 && got && (ret = m->ops->group_get(m, parent_id, &parent)) == 0 &&
	    strlen(parent.path) + 1 + strlen(seg) > FULL_PATH_MAX)
		ret = -ENOENT;
	int taken = 0;
	if (ret == 0) {
		snprintf(full, sizeof(full), "%s%s%s", parent.path, got ? "/" : "", seg);
		taken = path_taken(m, full);
	}
	json_t *suggests = json_array();
	/* GitLab's Uniquify: the path with the first counter from 1 that is free */
	for (int n = 1; ret == 0 && taken == 1 && n <= 1000; n++) {
		char candidate[FULL_PATH_MAX + 24];
		snprintf(candidate, sizeof(candidate), "%s%d", full, n);
		int t = strlen(candidate) <= FULL_PATH_MAX ? path_taken(m, candidate) : 1;
		if (t < 0) {
			taken = t;
			break;
		}
		if (t == 0) {
			const char *slash = strrchr(candidate, '/');
			json_array_append_new(suggests, json_string(slash ? slash + 1 : candidate));
			break;
		}
	}
	if (taken < 0 || (ret != 0 && ret != -ENOENT)) {
		json_decref(suggests);
		http_reply_internal(r, "namespace lookup", taken < 0 ? taken : ret);
		return;
	}
	http_reply_json(r, MHD_HTTP_OK,
			json_pack("{s:b,s:o}", "exists", taken == 1, "suggests", suggests));
}
