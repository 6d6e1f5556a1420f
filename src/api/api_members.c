/* GitLab's members API for projects and groups (gitlab-rest.md section 6): direct members,
 * members with those inherited from ancestor groups, and adding, changing and removing
 * direct ones. Every route wants a signed-in person (401), a visible source (404) and,
 * to change anything, the route's ability (403); giving or touching an Owner of a project
 * needs the owner ability, and a group keeps its last Owner. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "timeutil.h"

enum { CAP_ID, CAP_USER };

/* GitLab's limit on one request's users (Members::CreateService::DEFAULT_LIMIT). */
#define MULTI_MAX 100
/* Listing filters: at most this many ids each. */
#define IDS_MAX 100

/* The project or group whose members a request names. */
struct source {
	struct meta_project project;
	struct meta_group group;
	struct abilities ab;
	int64_t project_id; /* the memberships' key: (project, 0) or (0, group) */
	int64_t group_id;
};

/* GitLab's before { authenticate! } (401 for anonymous callers, public sources too), then
 * the source: 404 when invisible, 403 without the route's ability. A personal namespace is
 * no group here: 404. */
static int source_or_reply(struct request *r, bool is_group, struct source *s)
{
	memset(s, 0, sizeof(*s));
	if (api_identify_or_reply(r) != 0)
		return -1;
	if (!auth_is_person(&r->ident)) {
		http_reply_unauthorized(r);
		return -1;
	}
	if (!is_group) {
		if (api_project_or_reply_as(r, CAP_ID, "404 Project Not Found", false, &s->project,
					    &s->ab) != 0)
			return -1;
		s->project_id = s->project.id;
		return 0;
	}
	if (api_group_or_reply(r, CAP_ID, &s->group, &s->ab) != 0)
		return -1;
	s->group_id = s->group.id;
	return 0;
}

/* The :user_id capture: Grape's Integer (400 "user_id is invalid" otherwise). */
static int user_id_or_reply(struct request *r, int64_t *out)
{
	char v[32], *end;
	if (http_capture(r, CAP_USER, v, sizeof(v)) == 0 && v[0]) {
		errno = 0;
		long long id = strtoll(v, &end, 10);
		if (!*end && !errno) {
			*out = id;
			return 0;
		}
	}
	return api_param_or_reply(r, "user_id", "is invalid");
}

/* "YYYY-MM-DD", or null for never. */
static json_t *date_json(int64_t ms)
{
	if (ms <= 0)
		return json_null();
	char t[ISO8601_LEN + 1];
	iso8601_ms(ms, t);
	return json_stringn(t, 10);
}

/* GitLab's Member: UserBasic with the membership's level, creation and expiry. New. */
static json_t *member_json(struct request *r, const struct meta_member *mb,
			   const struct meta_user *user, const struct meta_user *creator)
{
	json_t *o = api_user_basic_json(r, user);
	if (!o)
		return NULL;
	json_object_set_new(o, "access_level", json_integer(mb->level));
	json_object_set_new(o, "created_at", api_time_json(mb->created_at_ms));
	if (creator && creator->id)
		json_object_set_new(o, "created_by", api_user_basic_json(r, creator));
	json_object_set_new(o, "expires_at", date_json(mb->expires_at_ms));
	json_object_set_new(o, "membership_state", json_string("active"));
	return o;
}

struct one_ctx {
	struct request *r;
	struct meta_member mb;
	json_t *json; /* with want_json */
	bool want_json;
	bool found;
};

static int one_row(void *ctx, const struct meta_member *mb, const struct meta_user *user,
		   const struct meta_user *creator)
{
	struct one_ctx *oc = ctx;
	oc->found = true;
	oc->mb = *mb;
	if (oc->want_json && !(oc->json = member_json(oc->r, mb, user, creator)))
		return -ENOMEM;
	return 0;
}

/* The user's membership of the source (direct, or the one that counts with inherited):
 * 0 with *oc filled, -ENOENT for none. */
static int member_fetch(struct request *r, const struct source *s, bool inherited,
			int64_t user_id, struct one_ctx *oc)
{
	struct meta *m = r->app->meta;
	oc->r = r;
	oc->found = false;
	int ret = m->ops->members_list(m, s->project_id, s->group_id, inherited, user_id, one_row,
				       oc);
	if (ret == 0 && !oc->found)
		ret = -ENOENT;
	return ret;
}

static bool expired(int64_t expires_at_ms)
{
	return expires_at_ms != 0 && expires_at_ms <= now_ms();
}

/* ---- listings ---- */

/* An integer list parameter: a JSON array, key[]=..., "1,2" or one integer. Returns 1
 * with n ids, 0 absent, -1 having replied 400 "<name> is invalid". */
static int ids_param(struct request *r, const char *name, int64_t *ids, size_t *n)
{
	json_t *params = api_params(r), *v;
	if (!params)
		return -1;
	v = json_object_get(params, name);
	*n = 0;
	if (!v || json_is_null(v))
		return 0;
	json_t *list = NULL;
	if (json_is_integer(v)) {
		ids[(*n)++] = json_integer_value(v);
		return 1;
	}
	if (json_is_array(v))
		list = json_incref(v);
	else if (api_param_list(r, name, &list) < 0)
		return -1;
	size_t i;
	json_t *item;
	int ret = 1;
	json_array_foreach(list, i, item) {
		int64_t id = 0;
		char *end;
		if (json_is_integer(item)) {
			id = json_integer_value(item);
		} else if (json_is_string(item) && json_string_value(item)[0]) {
			errno = 0;
			id = strtoll(json_string_value(item), &end, 10);
			if (*end || errno)
				ret = -1;
		} else {
			ret = -1;
		}
		if (ret < 0 || *n == IDS_MAX) {
			ret = -1;
			break;
		}
		ids[(*n)++] = id;
	}
	json_decref(list);
	if (ret < 0)
		api_param_or_reply(r, name, "is invalid");
	return ret;
}

static bool id_in(int64_t id, const int64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

struct list_ctx {
	struct request *r;
	json_t *items;
	const char *query; /* NULL: any */
	int64_t user_ids[IDS_MAX], skip[IDS_MAX];
	size_t nuser_ids, nskip;
	bool filter_ids; /* user_ids was given (an empty list matches nobody) */
	int64_t total, from, to; /* the page: rows [from, to) of the matches */
};

static int list_row(void *ctx, const struct meta_member *mb, const struct meta_user *user,
		    const struct meta_user *creator)
{
	struct list_ctx *lc = ctx;
	if (lc->filter_ids && !id_in(user->id, lc->user_ids, lc->nuser_ids))
		return 0;
	if (id_in(user->id, lc->skip, lc->nskip))
		return 0;
	/* GitLab searches names and usernames (and emails, which depot keeps private) */
	if (lc->query && lc->query[0] && !strcasestr(user->username, lc->query) &&
	    !strcasestr(user->name, lc->query))
		return 0;
	int64_t i = lc->total++;
	if (i < lc->from || i >= lc->to)
		return 0;
	json_t *o = member_json(lc->r, mb, user, creator);
	return o && json_array_append_new(lc->items, o) == 0 ? 0 : -ENOMEM;
}

static void members_list(struct request *r, bool is_group, bool inherited)
{
	struct source s;
	struct page pg;
	struct list_ctx *lc = calloc(1, sizeof(*lc));
	if (!lc) {
		http_reply_internal(r, "out of memory", -ENOMEM);
		return;
	}
	lc->r = r;
	int got;
	if (api_param_str(r, "query", &lc->query) < 0 ||
	    (got = ids_param(r, "user_ids", lc->user_ids, &lc->nuser_ids)) < 0 ||
	    ids_param(r, "skip_users", lc->skip, &lc->nskip) < 0 ||
	    api_page_or_reply(r, &pg) != 0 || source_or_reply(r, is_group, &s) != 0)
		goto out;
	lc->filter_ids = got > 0;
	lc->from = (pg.page - 1) * pg.per_page;
	lc->to = lc->from + pg.per_page;
	lc->items = json_array();
	struct meta *m = r->app->meta;
	int ret = m->ops->members_list(m, s.project_id, s.group_id, inherited, 0, list_row, lc);
	if (ret != 0) {
		json_decref(lc->items);
		http_reply_internal(r, "members listing failed", ret);
		goto out;
	}
	api_reply_page(r, lc->items, lc->total, &pg);
out:
	free(lc);
}

static void member_get(struct request *r, bool is_group, bool inherited)
{
	struct source s;
	int64_t user_id = 0;
	if (user_id_or_reply(r, &user_id) != 0 || source_or_reply(r, is_group, &s) != 0)
		return;
	struct one_ctx oc = {.want_json = true};
	int ret = member_fetch(r, &s, inherited, user_id, &oc);
	if (ret == -ENOENT)
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not found");
	else if (ret != 0)
		http_reply_internal(r, "member lookup failed", ret);
	else
		http_reply_json(r, MHD_HTTP_OK, oc.json);
	if (ret != 0)
		json_decref(oc.json);
}

/* ---- changes ---- */

/* Grape's messages, joined as it joins them. */
struct grape_errors {
	char text[512];
	size_t len;
};

/* Adds "<name> <what>". */
static void grape_add(struct grape_errors *e, const char *name, const char *what)
{
	if (e->len < sizeof(e->text))
		e->len += (size_t)snprintf(e->text + e->len, sizeof(e->text) - e->len, "%s%s %s",
					   e->len ? ", " : "", name, what);
}

static bool given(json_t *v)
{
	return v && !json_is_null(v);
}

/* A whole number, as a JSON integer or a string of one. */
static bool int_value(json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	const char *s = json_string_value(v);
	char *end;
	if (!s || !*s)
		return false;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	*out = n;
	return !*end && !errno;
}

/* What a POST or PUT asks for. */
struct change {
	int64_t level;
	bool expiry_given; /* PUT: absent keeps the current expiry */
	int64_t expires_at_ms; /* 0: never */
};

/* Reads access_level (required) and expires_at ("YYYY-MM-DD"; null or "": never),
 * adding Grape's messages to e. */
static void change_params(json_t *params, struct change *c, struct grape_errors *e)
{
	json_t *level = json_object_get(params, "access_level");
	json_t *exp = json_object_get(params, "expires_at");
	if (!given(level) || (json_is_string(level) && !json_string_length(level)))
		grape_add(e, "access_level", "is missing");
	else if (!int_value(level, &c->level))
		grape_add(e, "access_level", "is invalid");
	c->expiry_given = exp != NULL;
	c->expires_at_ms = 0;
	if (given(exp) && !(json_is_string(exp) && !json_string_length(exp)) &&
	    (!json_is_string(exp) || date_parse_ms(json_string_value(exp), &c->expires_at_ms) != 0))
		grape_add(e, "expires_at", "is invalid");
}

/* The member model's validation: 400 {"message":{"access_level":[...],"expires_at":[...]}}
 * (GitLab's inclusion in Gitlab::Access.all_values and its future-date rule, which lets
 * today through). Returns 0, or -1 having replied. */
static int model_or_reply(struct request *r, const struct change *c)
{
	static const int64_t levels[] = {10, 15, 20, 30, 40, 50};
	bool level_ok = false;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		level_ok |= c->level == levels[i];
	int64_t today = now_ms() / 86400000 * 86400000;
	bool date_ok = c->expires_at_ms == 0 || c->expires_at_ms >= today;
	if (level_ok && date_ok)
		return 0;
	json_t *msg = json_object();
	if (!level_ok)
		json_object_set_new(msg, "access_level",
				    json_pack("[s]", "is not included in the list"));
	if (!date_ok)
		json_object_set_new(msg, "expires_at", json_pack("[s]", "cannot be a date in the past"));
	http_reply_json(r, MHD_HTTP_BAD_REQUEST, json_pack("{s:o}", "message", msg));
	return -1;
}

/* Giving Owner on a project, or changing or removing an Owner of it, is the owners' (GitLab's
 * manage_owners); a group's members are its owners' already (the route's ability). */
static bool owner_rule_allows(const struct source *s, enum access_level level)
{
	return s->group_id || level != ACCESS_OWNER || abilities_allow(&s->ab, ABILITY_OWNER);
}

/* One user named by a POST: by id (a non-number finds nobody, as find_by_id) or name. */
static int user_resolve(struct meta *m, bool by_name, const char *v, struct meta_user *u)
{
	if (by_name)
		return m->ops->user_find(m, v, u);
	char *end;
	errno = 0;
	long long id = strtoll(v, &end, 10);
	if (!*v || *end || errno)
		return -ENOENT;
	return m->ops->user_get(m, id, u);
}

struct multi_ctx {
	struct request *r;
	const struct source *s;
	const struct change *c;
	json_t *names; /* the ids or usernames as given */
	bool by_name;
	json_t *errors; /* name -> reason */
};

/* Adds every user or none: an error for any one leaves the source as it was. */
static int multi_add_locked(struct meta *m, void *ctx)
{
	struct multi_ctx *mc = ctx;
	size_t i;
	json_t *item;
	json_array_foreach(mc->names, i, item) {
		const char *name = json_string_value(item);
		struct meta_user u;
		int ret = user_resolve(m, mc->by_name, name, &u);
		if (ret == -ENOENT) {
			json_object_set_new(mc->errors, name, json_string("User not found"));
			continue;
		}
		if (ret != 0)
			return ret;
		/* looked for first: on PostgreSQL a refused INSERT ends the transaction */
		struct one_ctx oc = {.want_json = false};
		ret = member_fetch(mc->r, mc->s, false, u.id, &oc);
		if (ret == 0) {
			json_object_set_new(mc->errors, name, json_string("Member already exists"));
			continue;
		}
		if (ret != -ENOENT)
			return ret;
		struct meta_member mb = {.user_id = u.id, .project_id = mc->s->project_id,
					 .group_id = mc->s->group_id,
					 .level = (enum access_level)mc->c->level,
					 .created_by = mc->r->ident.user.id,
					 .expires_at_ms = mc->c->expires_at_ms};
		if ((ret = m->ops->member_add(m, &mb)) != 0)
			return ret;
	}
	return json_object_size(mc->errors) ? -ECANCELED : 0;
}

/* Is s[0..len) in names already? (GitLab adds a user named twice once.) */
static bool name_in(json_t *names, const char *s, size_t len)
{
	size_t i;
	json_t *item;
	json_array_foreach(names, i, item) {
		if (json_string_length(item) == len && memcmp(json_string_value(item), s, len) == 0)
			return true;
	}
	return false;
}

static void multi_add(struct request *r, const struct source *s, const struct change *c,
		      const char *list, bool by_name)
{
	struct meta *m = r->app->meta;
	struct multi_ctx mc = {r, s, c, json_array(), by_name, json_object()};
	for (const char *p = list; *p;) {
		const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
		if (end > p && !name_in(mc.names, p, (size_t)(end - p)))
			json_array_append_new(mc.names, json_stringn(p, (size_t)(end - p)));
		p = comma ? comma + 1 : end;
	}
	int ret;
	if (json_array_size(mc.names) > MULTI_MAX) {
		char msg[64];
		snprintf(msg, sizeof(msg), "Too many users specified (limit is %d)", MULTI_MAX);
		http_reply_json(r, MHD_HTTP_BAD_REQUEST,
				json_pack("{s:s,s:s}", "status", "error", "message", msg));
	} else if ((ret = m->ops->locked(m, multi_add_locked, &mc)) == 0) {
		http_reply_json(r, MHD_HTTP_CREATED, json_pack("{s:s}", "status", "success"));
	} else if (ret == -ECANCELED) {
		http_reply_json(r, MHD_HTTP_BAD_REQUEST,
				json_pack("{s:s,s:O}", "status", "error", "message", mc.errors));
	} else {
		http_reply_internal(r, "adding members failed", ret);
	}
	json_decref(mc.names);
	json_decref(mc.errors);
}

static void reply_member(struct request *r, const struct source *s, int64_t user_id,
			 unsigned status)
{
	struct one_ctx oc = {.want_json = true};
	int ret = member_fetch(r, s, false, user_id, &oc);
	if (ret == 0) {
		http_reply_json(r, status, oc.json);
		return;
	}
	json_decref(oc.json);
	http_reply_internal(r, "member lookup failed", ret);
}

static void member_add(struct request *r, bool is_group)
{
	struct meta *m = r->app->meta;
	json_t *params = api_params(r);
	if (!params)
		return;
	struct grape_errors e = {.len = 0};
	struct change c = {0};
	change_params(params, &c, &e);
	json_t *uid = json_object_get(params, "user_id"), *uname = json_object_get(params, "username");
	if (given(uid) && !json_is_integer(uid) && !json_is_string(uid))
		grape_add(&e, "user_id", "is invalid");
	if (given(uname) && !json_is_string(uname))
		grape_add(&e, "username", "is invalid");
	if (given(uid) && given(uname))
		grape_add(&e, "user_id, username", "are mutually exclusive");
	else if (!given(uid) && !given(uname))
		grape_add(&e, "user_id, username",
			  "are missing, at least one parameter must be provided");
	if (e.len) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, e.text);
		return;
	}
	struct source s;
	if (source_or_reply(r, is_group, &s) != 0)
		return;
	char idtext[24];
	const char *v = json_string_value(given(uid) ? uid : uname);
	if (json_is_integer(uid)) {
		snprintf(idtext, sizeof(idtext), "%lld", (long long)json_integer_value(uid));
		v = idtext;
	}
	if (strchr(v, ',')) {
		if (!owner_rule_allows(&s, (enum access_level)c.level))
			http_reply_message(r, MHD_HTTP_FORBIDDEN, "403 Forbidden");
		else if (model_or_reply(r, &c) == 0)
			multi_add(r, &s, &c, v, given(uname));
		return;
	}
	struct meta_user u;
	int ret = user_resolve(m, given(uname), v, &u);
	struct one_ctx oc = {.want_json = false};
	if (ret == -ENOENT) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 User Not Found");
		return;
	}
	if (ret == 0) { /* GitLab looks for the membership before anything else */
		ret = member_fetch(r, &s, false, u.id, &oc);
		ret = ret == 0 ? -EEXIST : ret == -ENOENT ? 0 : ret;
	}
	if (ret == 0 && !owner_rule_allows(&s, (enum access_level)c.level)) {
		http_reply_message(r, MHD_HTTP_FORBIDDEN, "403 Forbidden");
		return;
	}
	if (ret == 0 && model_or_reply(r, &c) != 0)
		return;
	struct meta_member mb = {.user_id = u.id, .project_id = s.project_id,
				 .group_id = s.group_id, .level = (enum access_level)c.level,
				 .created_by = r->ident.user.id, .expires_at_ms = c.expires_at_ms};
	if (ret == 0)
		ret = m->ops->member_add(m, &mb);
	if (ret == -EEXIST)
		http_reply_message(r, MHD_HTTP_CONFLICT, "Member already exists");
	else if (ret != 0)
		http_reply_internal(r, "adding a member failed", ret);
	else
		reply_member(r, &s, u.id, MHD_HTTP_CREATED);
}

/* A change or removal of one direct membership, decided and done in one transaction so
 * that two owners removing each other cannot leave a group with none. */
struct edit_ctx {
	struct request *r;
	const struct source *s;
	int64_t user_id;
	const struct change *c; /* NULL: remove */
	bool invalid;		/* the model refused the change (replied) */
};

static int edit_locked(struct meta *m, void *ctx)
{
	struct edit_ctx *ec = ctx;
	struct one_ctx oc = {.want_json = false};
	int ret = member_fetch(ec->r, ec->s, false, ec->user_id, &oc);
	if (ret != 0)
		return ret;
	enum access_level level = ec->c ? (enum access_level)ec->c->level : ACCESS_NONE;
	if (!owner_rule_allows(ec->s, oc.mb.level) || !owner_rule_allows(ec->s, level))
		return -EPERM;
	if (ec->s->group_id && oc.mb.level == ACCESS_OWNER && !expired(oc.mb.expires_at_ms)) {
		int64_t owners = 0;
		if ((ret = m->ops->group_owners(m, ec->s->group_id, &owners)) != 0)
			return ret;
		if (owners <= 1)
			return -EPERM; /* GitLab's last_owner rule: no update, no removal */
	}
	if (!ec->c)
		return m->ops->member_remove(m, ec->user_id, ec->s->project_id, ec->s->group_id);
	struct meta_member mb = oc.mb;
	mb.level = level;
	if (ec->c->expiry_given)
		mb.expires_at_ms = ec->c->expires_at_ms;
	struct change checked = {.level = mb.level, .expires_at_ms = ec->c->expires_at_ms};
	if (model_or_reply(ec->r, &checked) != 0) {
		ec->invalid = true;
		return -EINVAL;
	}
	return m->ops->member_update(m, &mb);
}

static void member_edit(struct request *r, bool is_group, bool remove)
{
	struct meta *m = r->app->meta;
	struct change c = {0};
	int64_t user_id = 0;
	if (!remove) {
		json_t *params = api_params(r);
		if (!params)
			return;
		struct grape_errors e = {.len = 0};
		change_params(params, &c, &e);
		if (e.len) {
			http_reply_error(r, MHD_HTTP_BAD_REQUEST, e.text);
			return;
		}
	}
	struct source s;
	if (user_id_or_reply(r, &user_id) != 0 || source_or_reply(r, is_group, &s) != 0)
		return;
	struct edit_ctx ec = {r, &s, user_id, remove ? NULL : &c, false};
	int ret = m->ops->locked(m, edit_locked, &ec);
	if (ec.invalid)
		return;
	if (ret == -ENOENT)
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not found");
	else if (ret == -EPERM)
		http_reply_message(r, MHD_HTTP_FORBIDDEN, "403 Forbidden");
	else if (ret != 0)
		http_reply_internal(r, remove ? "removing a member failed" : "updating a member failed",
				    ret);
	else if (remove)
		http_reply_no_content(r);
	else
		reply_member(r, &s, user_id, MHD_HTTP_OK);
}

/* ---- the routes: each for projects and for groups ---- */

#define FOR_BOTH(name, call)                      \
	void project_##name(struct request *r) \
	{                                         \
		bool is_group = false;            \
		call;                             \
	}                                         \
	void group_##name(struct request *r)   \
	{                                         \
		bool is_group = true;             \
		call;                             \
	}

FOR_BOTH(members_list_done, members_list(r, is_group, false))
FOR_BOTH(members_all_done, members_list(r, is_group, true))
FOR_BOTH(member_all_get_done, member_get(r, is_group, true))
FOR_BOTH(member_get_done, member_get(r, is_group, false))
FOR_BOTH(member_add_done, member_add(r, is_group))
FOR_BOTH(member_update_done, member_edit(r, is_group, false))
FOR_BOTH(member_remove_done, member_edit(r, is_group, true))
