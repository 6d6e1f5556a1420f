/* GitLab's token resources over REST: personal access tokens (/personal_access_tokens,
 * /users/:user_id/personal_access_tokens), project access tokens (/projects/:id/
 * access_tokens), deploy tokens (/deploy_tokens, /projects/:id/deploy_tokens,
 * /groups/:id/deploy_tokens), and depot's job tokens for CI systems other than GitLab
 * (POST /projects/:id/job_tokens). Secrets appear in creation and rotation answers only;
 * issuing and rotating are token_issue.c's, shared with the command line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "timeutil.h"
#include "token_issue.h"

#define DAY_MS 86400000LL
/* GitLab's defaults: a new token without expires_at lasts the maximum lifetime (365 days),
 * a rotated one a week. */
#define DEFAULT_LIFETIME_DAYS 365
#define ROTATED_LIFETIME_DAYS 7
/* Job tokens: seconds they last (depot's choice: a CI job's hour, at most a day). */
#define JOB_TTL_DEFAULT 3600
#define JOB_TTL_MAX 86400
/* GitLab's limits of a token's name and description. */
#define TOKEN_TEXT_MAX 255

static int64_t days_from_today(int days)
{
	return (now_ms() / DAY_MS + days) * DAY_MS;
}

/* ---- entities ---- */

static json_t *scopes_json(unsigned mask)
{
	const char *names[SCOPES_MAX];
	size_t n = scopes_names(mask, names, SCOPES_MAX);
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	return a;
}

/* "YYYY-MM-DD" or null. */
static json_t *date_json(int64_t ms)
{
	if (!ms)
		return json_null();
	char t[ISO8601_LEN + 1];
	iso8601_ms(ms, t);
	return json_stringn(t, 10);
}

static bool expired(const struct meta_token *t, int64_t now)
{
	return t->expires_at_ms != 0 && t->expires_at_ms <= now;
}

/* GitLab's PersonalAccessToken entity. */
static json_t *pat_json(const struct meta_token *t)
{
	int64_t now = now_ms();
	return json_pack("{s:I,s:s,s:b,s:o,s:o,s:o,s:I,s:o,s:b,s:o,s:b}", "id", (json_int_t)t->id,
			 "name", t->name, "revoked", t->revoked, "created_at",
			 api_time_json(t->created_at_ms), "description",
			 t->description[0] ? json_string(t->description) : json_null(), "scopes",
			 scopes_json(t->scopes), "user_id", (json_int_t)t->user_id, "last_used_at",
			 api_time_json(t->last_used_at_ms), "active",
			 !t->revoked && !expired(t, now), "expires_at", date_json(t->expires_at_ms),
			 "expired", expired(t, now));
}

/* ResourceAccessToken: the same with the bot's level in the project. */
static json_t *project_token_json(const struct meta_token *t, enum access_level level)
{
	json_t *o = pat_json(t);
	json_object_set_new(o, "access_level", json_integer(level));
	json_object_set_new(o, "resource_type", json_string("project"));
	json_object_set_new(o, "resource_id", json_integer(t->project_id));
	return o;
}

static json_t *deploy_token_json(const struct meta_token *t)
{
	return json_pack("{s:I,s:s,s:s,s:o,s:o,s:b,s:b}", "id", (json_int_t)t->id, "name",
			 t->name, "username", t->username, "expires_at",
			 api_time_json(t->expires_at_ms), "scopes", scopes_json(t->scopes),
			 "revoked", t->revoked, "expired", expired(t, now_ms()));
}

/* The creation and rotation answers: the entity and, this once, the secret. */
static json_t *with_secret(json_t *o, const char *secret)
{
	if (o)
		json_object_set_new(o, "token", json_string(secret));
	return o;
}

/* ---- parameters ---- */

/* The numeric capture cap: 1, or 0 having replied 400 {"error":"<name> is invalid"}. */
static int id_capture_or_reply(struct request *r, int cap, const char *name, int64_t *out)
{
	char v[32], *end;
	if (http_capture(r, cap, v, sizeof(v)) == 0 && v[0] >= '0' && v[0] <= '9') {
		long long n = strtoll(v, &end, 10);
		if (!*end) {
			*out = n;
			return 1;
		}
	}
	api_param_or_reply(r, name, "is invalid");
	return 0;
}

/* scopes, each among allowed: 1 (*out; 0 for an empty list), 0 absent, -1 having replied. */
static int scopes_param(struct request *r, unsigned allowed, unsigned *out)
{
	json_t *list;
	int got = api_param_list(r, "scopes", &list);
	if (got <= 0)
		return got;
	unsigned mask = 0;
	size_t i;
	json_t *item;
	json_array_foreach(list, i, item) {
		const char *s = json_string_value(item);
		unsigned bit = scope_bit(s, strlen(s));
		if (!(bit & allowed)) {
			json_decref(list);
			api_param_or_reply(r, "scopes", "does not have a valid value");
			return -1;
		}
		mask |= bit;
	}
	json_decref(list);
	*out = mask;
	return 1;
}

/* A date (PATs: midnight UTC of the day given) or, with datetime, a date-time: 1, 0
 * absent, -1 having replied 400 {"error":"<name> is invalid"}. */
static int time_param(struct request *r, const char *name, bool datetime, int64_t *out)
{
	const char *s;
	int got = api_param_str(r, name, &s);
	if (got <= 0)
		return got;
	int64_t ms;
	if (datetime_parse_ms(s, &ms) != 0) {
		api_param_or_reply(r, name, "is invalid");
		return -1;
	}
	*out = datetime ? ms : ms - ((ms % DAY_MS) + DAY_MS) % DAY_MS;
	return 1;
}

/* How each resource words a refused model: PATs 422 {"message":"<s>"}, project access
 * tokens 400 {"message":"400 Bad request - <s>"}, deploy tokens 400 {"message":"<s>"}. */
enum refusal_style { REFUSE_PAT, REFUSE_PROJECT, REFUSE_DEPLOY };

static void refuse(struct request *r, enum refusal_style style, const char *sentence)
{
	char msg[256];
	if (style == REFUSE_PROJECT) {
		snprintf(msg, sizeof(msg), "400 Bad request - %s", sentence);
		http_reply_message(r, MHD_HTTP_BAD_REQUEST, msg);
	} else {
		http_reply_message(r, style == REFUSE_PAT ? 422
							  : MHD_HTTP_BAD_REQUEST,
				   sentence);
	}
}

/* What creating any token takes: name and scopes (required), description, expires_at. */
struct token_params {
	const char *name;
	const char *description;
	unsigned scopes;
	bool has_expiry;
	int64_t expires_at_ms;
};

/* Reads them; Grape's 400s first, then the model's refusals in style. Returns 0, or -1
 * having replied. */
static int token_params_or_reply(struct request *r, unsigned allowed, bool datetime,
				 enum refusal_style style, struct token_params *tp)
{
	static const char *const required[] = {"name", "scopes", NULL};
	memset(tp, 0, sizeof(*tp));
	int got;
	if (api_missing_or_reply(r, required) != 0 || api_param_str(r, "name", &tp->name) < 0 ||
	    scopes_param(r, allowed, &tp->scopes) < 0 ||
	    api_param_str(r, "description", &tp->description) < 0 ||
	    (got = time_param(r, "expires_at", datetime, &tp->expires_at_ms)) < 0)
		return -1;
	tp->has_expiry = got > 0;
	if (strlen(tp->name) > TOKEN_TEXT_MAX) {
		refuse(r, style, "Name is too long (maximum is 255 characters)");
		return -1;
	}
	if (tp->description && strlen(tp->description) > TOKEN_TEXT_MAX) {
		refuse(r, style, "Description is too long (maximum is 255 characters)");
		return -1;
	}
	if (!tp->scopes) {
		refuse(r, style, "Scopes can't be blank");
		return -1;
	}
	return 0;
}

/* The listing filters: revoked, state (active|inactive), search; and the page. */
static int list_filters_or_reply(struct request *r, struct token_query *q, struct page *pg)
{
	static const char *const states[] = {"inactive", "active", NULL};
	bool revoked = false;
	int got, state = -1;
	const char *search = NULL;
	if ((got = api_param_bool(r, "revoked", &revoked)) < 0 ||
	    api_param_enum(r, "state", states, &state) < 0 ||
	    api_param_str(r, "search", &search) < 0 || api_page_or_reply(r, pg) != 0)
		return -1;
	q->revoked = got > 0 ? revoked : -1;
	q->active = state;
	q->now_ms = now_ms();
	q->search = search;
	q->limit = pg->per_page;
	q->offset = (pg->page - 1) * pg->per_page;
	return 0;
}

/* ---- listings ---- */

struct list_ctx {
	struct meta *m;
	json_t *items;
	enum { AS_PAT, AS_PROJECT, AS_DEPLOY } as;
};

static int list_item(void *ctx, const struct meta_token *t)
{
	struct list_ctx *lc = ctx;
	json_t *o;
	if (lc->as == AS_PROJECT) {
		enum access_level level = ACCESS_NONE;
		int ret = lc->m->ops->access_level(lc->m, t->user_id, t->project_id, &level);
		if (ret != 0)
			return ret;
		o = project_token_json(t, level);
	} else {
		o = lc->as == AS_PAT ? pat_json(t) : deploy_token_json(t);
	}
	return o && json_array_append_new(lc->items, o) == 0 ? 0 : -ENOMEM;
}

static void reply_list(struct request *r, const struct token_query *q, int as,
		       const struct page *pg)
{
	struct meta *m = r->app->meta;
	struct list_ctx lc = {m, json_array(), as};
	int64_t total = 0;
	int ret = lc.items ? m->ops->tokens_list(m, q, list_item, &lc, &total) : -ENOMEM;
	if (ret != 0) {
		json_decref(lc.items);
		http_reply_internal(r, "token listing failed", ret);
		return;
	}
	api_reply_page(r, lc.items, total, pg);
}

/* ---- personal access tokens ---- */

static bool is_pat(const struct meta_token *t)
{
	return t->kind == TOKEN_PERSONAL || t->kind == TOKEN_PROJECT;
}

void pat_list_done(struct request *r)
{
	struct abilities ab;
	if (api_instance_or_reply(r, &ab) != 0)
		return;
	struct meta *m = r->app->meta;
	struct token_query q = {.kind = TOKEN_PERSONAL, .also_kind = TOKEN_PROJECT};
	struct page pg;
	int64_t user_id = 0;
	int got = api_param_int(r, "user_id", &user_id);
	if (got < 0 || list_filters_or_reply(r, &q, &pg) != 0)
		return;
	bool admin = abilities_allow(&ab, ABILITY_INSTANCE_ADMIN);
	if (got > 0 && !auth_may_manage_tokens_of(&r->ident, user_id)) {
		http_reply_unauthorized(r);
		return;
	}
	if (got > 0 && admin) {
		struct meta_user u;
		int ret = m->ops->user_get(m, user_id, &u);
		if (ret == -ENOENT) {
			http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not Found");
			return;
		}
		if (ret != 0) {
			http_reply_internal(r, "user lookup failed", ret);
			return;
		}
	}
	/* without user_id: an admin sees every user's, anyone else their own */
	q.user_id = got > 0 ? user_id : admin ? 0 : r->ident.user.id;
	reply_list(r, &q, AS_PAT, &pg);
}

/* The token the request presents, for the .../self routes. */
static int self_or_reply(struct request *r)
{
	struct abilities ab;
	return api_instance_or_reply(r, &ab);
}

void pat_self_get_done(struct request *r)
{
	if (self_or_reply(r) == 0)
		http_reply_json(r, MHD_HTTP_OK, pat_json(&r->ident.token));
}

void pat_self_delete_done(struct request *r)
{
	if (self_or_reply(r) != 0)
		return;
	int ret = r->app->meta->ops->token_revoke(r->app->meta, r->ident.token.id);
	if (ret != 0 && ret != -ENOENT) {
		http_reply_internal(r, "token revocation failed", ret);
		return;
	}
	http_reply_no_content(r);
}

/* Rotates old and answers 200 with its successor (entity made by as). */
static void rotate_and_reply(struct request *r, const struct meta_token *old, bool has_expiry,
			     int64_t expires_at_ms, enum access_level level, bool as_project)
{
	char secret[TOKEN_SECRET_MAX + 1];
	struct meta_token t = {0};
	if (!has_expiry)
		expires_at_ms = days_from_today(ROTATED_LIFETIME_DAYS);
	int ret = token_rotate(r->app->meta, old, expires_at_ms, secret, &t);
	if (ret == -EALREADY) {
		http_reply_message(r, MHD_HTTP_BAD_REQUEST, "400 Bad request - Token already revoked");
		return;
	}
	if (ret != 0) {
		http_reply_internal(r, "token rotation failed", ret);
		return;
	}
	json_t *o = as_project ? project_token_json(&t, level) : pat_json(&t);
	http_reply_json(r, MHD_HTTP_OK, with_secret(o, secret));
	memset(secret, 0, sizeof(secret));
}

void pat_self_rotate_done(struct request *r)
{
	int64_t expires = 0;
	int got;
	if (self_or_reply(r) != 0 || (got = time_param(r, "expires_at", false, &expires)) < 0)
		return;
	rotate_and_reply(r, &r->ident.token, got > 0, expires, ACCESS_NONE, false);
}

/* The personal access token :token_id if the caller may manage it; else GitLab's answer
 * to non-admins (401) and to admins (404 "404 Not Found"). 0, or -1 having replied. */
static int managed_pat_or_reply(struct request *r, const struct abilities *ab,
				struct meta_token *t)
{
	int64_t id;
	if (!id_capture_or_reply(r, 0, "id", &id))
		return -1;
	int ret = r->app->meta->ops->token_get(r->app->meta, id, t);
	if (ret != 0 && ret != -ENOENT) {
		http_reply_internal(r, "token lookup failed", ret);
		return -1;
	}
	if (ret == 0 && is_pat(t) && auth_may_manage_tokens_of(&r->ident, t->user_id))
		return 0;
	if (abilities_allow(ab, ABILITY_INSTANCE_ADMIN))
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not Found");
	else
		http_reply_unauthorized(r);
	return -1;
}

void pat_get_done(struct request *r)
{
	struct abilities ab;
	struct meta_token t = {0};
	if (api_instance_or_reply(r, &ab) == 0 && managed_pat_or_reply(r, &ab, &t) == 0)
		http_reply_json(r, MHD_HTTP_OK, pat_json(&t));
}

void pat_delete_done(struct request *r)
{
	struct abilities ab;
	struct meta_token t = {0};
	int64_t id;
	if (api_instance_or_reply(r, &ab) != 0 || !id_capture_or_reply(r, 0, "id", &id))
		return;
	struct meta *m = r->app->meta;
	int ret = m->ops->token_get(m, id, &t);
	if (ret != 0 && ret != -ENOENT) {
		http_reply_internal(r, "token lookup failed", ret);
		return;
	}
	/* GitLab: PersonalAccessToken.find (404), then the revoke service's refusal (400) */
	if (ret == -ENOENT || !is_pat(&t)) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not found");
		return;
	}
	if (!auth_may_manage_tokens_of(&r->ident, t.user_id)) {
		http_reply_message(r, MHD_HTTP_BAD_REQUEST, "400 Bad request");
		return;
	}
	if ((ret = m->ops->token_revoke(m, t.id)) != 0 && ret != -ENOENT) {
		http_reply_internal(r, "token revocation failed", ret);
		return;
	}
	http_reply_no_content(r);
}

void pat_rotate_done(struct request *r)
{
	struct abilities ab;
	struct meta_token t = {0};
	int64_t expires = 0;
	int got;
	if (api_instance_or_reply(r, &ab) != 0 ||
	    (got = time_param(r, "expires_at", false, &expires)) < 0 ||
	    managed_pat_or_reply(r, &ab, &t) != 0)
		return;
	if (t.revoked) {
		http_reply_message(r, MHD_HTTP_BAD_REQUEST, "400 Bad request - Token already revoked");
		return;
	}
	enum access_level level = ACCESS_NONE;
	rotate_and_reply(r, &t, got > 0, expires, level, false);
}

void user_pat_create_done(struct request *r)
{
	struct abilities ab;
	struct token_params tp;
	int64_t user_id;
	if (api_instance_or_reply(r, &ab) != 0 || !id_capture_or_reply(r, 0, "user_id", &user_id) ||
	    token_params_or_reply(r, SCOPES_PERSONAL, false, REFUSE_PAT, &tp) != 0)
		return;
	struct meta *m = r->app->meta;
	struct meta_user u;
	int ret = m->ops->user_get(m, user_id, &u);
	if (ret == -ENOENT) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 User Not Found");
		return;
	}
	if (ret != 0) {
		http_reply_internal(r, "user lookup failed", ret);
		return;
	}
	struct token_request req = {.kind = TOKEN_PERSONAL, .user_id = u.id, .scopes = tp.scopes,
				    .name = tp.name, .description = tp.description,
				    .expires_at_ms = tp.has_expiry
							     ? tp.expires_at_ms
							     : days_from_today(DEFAULT_LIFETIME_DAYS)};
	char secret[TOKEN_SECRET_MAX + 1];
	struct meta_token t = {0};
	if ((ret = token_issue(m, &req, secret, &t)) != 0) {
		http_reply_internal(r, "token creation failed", ret);
		return;
	}
	http_reply_json(r, MHD_HTTP_CREATED, with_secret(pat_json(&t), secret));
	memset(secret, 0, sizeof(secret));
}

/* ---- project access tokens ---- */

/* Every project access token route: signed in (401), the project visible (404). */
static int token_project_or_reply(struct request *r, struct meta_project *p,
				  struct abilities *ab)
{
	if (api_identify_or_reply(r) != 0)
		return -1;
	if (!auth_is_person(&r->ident)) {
		http_reply_unauthorized(r);
		return -1;
	}
	return api_project_or_reply_as(r, 0, "404 Project Not Found", true, p, ab);
}

/* The project's access token :token_id (capture 1), or 404 "404 project Access Token Not
 * Found" (GitLab's words, lower-case "project"). */
static int project_token_or_reply(struct request *r, const struct meta_project *p,
				  struct meta_token *t, enum access_level *level)
{
	int64_t id;
	if (!id_capture_or_reply(r, 1, "token_id", &id))
		return -1;
	struct meta *m = r->app->meta;
	int ret = m->ops->token_get(m, id, t);
	if (ret == 0 && (t->kind != TOKEN_PROJECT || t->project_id != p->id))
		ret = -ENOENT;
	if (ret == 0)
		ret = m->ops->access_level(m, t->user_id, p->id, level);
	if (ret == -ENOENT) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 project Access Token Not Found");
		return -1;
	}
	if (ret != 0) {
		http_reply_internal(r, "token lookup failed", ret);
		return -1;
	}
	return 0;
}

void project_tokens_list_done(struct request *r)
{
	struct meta_project p;
	struct abilities ab;
	struct token_query q = {.kind = TOKEN_PROJECT, .also_kind = TOKEN_PROJECT};
	struct page pg;
	if (token_project_or_reply(r, &p, &ab) != 0)
		return;
	if (!abilities_allow(&ab, ABILITY_ADMIN_PROJECT)) {
		http_reply_unauthorized(r); /* GitLab: 401, not 403 */
		return;
	}
	if (list_filters_or_reply(r, &q, &pg) != 0)
		return;
	q.project_id = p.id;
	reply_list(r, &q, AS_PROJECT, &pg);
}

void project_token_get_done(struct request *r)
{
	struct meta_project p;
	struct abilities ab;
	struct meta_token t = {0};
	enum access_level level;
	if (token_project_or_reply(r, &p, &ab) != 0)
		return;
	if (!abilities_allow(&ab, ABILITY_ADMIN_PROJECT)) {
		http_reply_unauthorized(r);
		return;
	}
	if (project_token_or_reply(r, &p, &t, &level) == 0)
		http_reply_json(r, MHD_HTTP_OK, project_token_json(&t, level));
}

/* The host of the base URL, for bots' noreply addresses. */
static void email_host(struct request *r, char *out, size_t cap)
{
	char base[HTTP_BASE_URL_MAX + 1];
	http_base_url(r, base, sizeof(base));
	const char *h = strstr(base, "://");
	h = h ? h + 3 : base;
	size_t n = strcspn(h, h[0] == '[' ? "]/" : ":/");
	snprintf(out, cap, "%.*s", (int)n + (h[0] == '[' && h[n] == ']'), h);
}

void project_token_create_done(struct request *r)
{
	static const int levels[] = {ACCESS_GUEST, ACCESS_REPORTER, ACCESS_DEVELOPER,
				     ACCESS_MAINTAINER, ACCESS_OWNER};
	struct meta_project p;
	struct abilities ab;
	struct token_params tp;
	int64_t level = ACCESS_MAINTAINER;
	if (api_identify_or_reply(r) != 0 ||
	    token_params_or_reply(r, SCOPES_PROJECT, false, REFUSE_PROJECT, &tp) != 0 ||
	    api_param_int(r, "access_level", &level) < 0)
		return;
	bool known = false;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		known |= level == levels[i];
	if (!known) {
		api_param_or_reply(r, "access_level", "does not have a valid value");
		return;
	}
	if (token_project_or_reply(r, &p, &ab) != 0)
		return;
	if (!abilities_allow(&ab, ABILITY_ADMIN_PROJECT)) {
		refuse(r, REFUSE_PROJECT,
		       "User does not have permission to create project access token");
		return;
	}
	if (level == ACCESS_OWNER && !abilities_allow(&ab, ABILITY_OWNER)) {
		refuse(r, REFUSE_PROJECT, "Could not provision owner access to project access token");
		return;
	}
	if (level > ab.level) {
		refuse(r, REFUSE_PROJECT, "Access level of the token can't be greater the access "
					  "level of the user who created the token");
		return;
	}
	struct token_request req = {.kind = TOKEN_PROJECT, .scopes = tp.scopes, .name = tp.name,
				    .description = tp.description,
				    .expires_at_ms = tp.has_expiry
							     ? tp.expires_at_ms
							     : days_from_today(DEFAULT_LIFETIME_DAYS)};
	char secret[TOKEN_SECRET_MAX + 1], host[HTTP_BASE_URL_MAX + 1];
	struct meta_token t = {0};
	email_host(r, host, sizeof(host));
	int ret = token_issue_project(r->app->meta, &p, (enum access_level)level,
				      r->ident.user.id, host, &req, secret, &t, NULL);
	if (ret != 0) {
		http_reply_internal(r, "project token creation failed", ret);
		return;
	}
	http_reply_json(r, MHD_HTTP_CREATED,
			with_secret(project_token_json(&t, (enum access_level)level), secret));
	memset(secret, 0, sizeof(secret));
}

/* Revocation keeps the bot and its membership (GitLab's newest behaviour): the bot stays
 * listed as a member, and can do nothing, having no other token. */
void project_token_delete_done(struct request *r)
{
	struct meta_project p;
	struct abilities ab;
	struct meta_token t = {0};
	enum access_level level;
	if (token_project_or_reply(r, &p, &ab) != 0 || project_token_or_reply(r, &p, &t, &level) != 0)
		return;
	struct meta *m = r->app->meta;
	if (!abilities_allow(&ab, ABILITY_ADMIN_PROJECT)) {
		struct meta_user bot = {0};
		int ret = m->ops->user_get(m, t.user_id, &bot);
		if (ret != 0 && ret != -ENOENT) {
			http_reply_internal(r, "user lookup failed", ret);
			return;
		}
		char msg[2 * DISPLAY_NAME_MAX + 64];
		snprintf(msg, sizeof(msg), "400 Bad request - %s cannot delete %s",
			 r->ident.user.name[0] ? r->ident.user.name : r->ident.user.username,
			 bot.name[0] ? bot.name : bot.username);
		http_reply_message(r, MHD_HTTP_BAD_REQUEST, msg);
		return;
	}
	int ret = m->ops->token_revoke(m, t.id);
	if (ret != 0 && ret != -ENOENT) {
		http_reply_internal(r, "token revocation failed", ret);
		return;
	}
	http_reply_no_content(r);
}

void project_token_rotate_done(struct request *r)
{
	struct meta_project p;
	struct abilities ab;
	struct meta_token t = {0};
	enum access_level level;
	int64_t expires = 0;
	int got;
	if (token_project_or_reply(r, &p, &ab) != 0 ||
	    (got = time_param(r, "expires_at", false, &expires)) < 0)
		return;
	if (!abilities_allow(&ab, ABILITY_ADMIN_PROJECT)) {
		http_reply_unauthorized(r);
		return;
	}
	int64_t id;
	if (!id_capture_or_reply(r, 1, "token_id", &id))
		return;
	struct meta *m = r->app->meta;
	int ret = m->ops->token_get(m, id, &t);
	if (ret == 0 && (t.kind != TOKEN_PROJECT || t.project_id != p.id))
		ret = -ENOENT;
	if (ret == 0)
		ret = m->ops->access_level(m, t.user_id, p.id, &level);
	if (ret != 0 && ret != -ENOENT) {
		http_reply_internal(r, "token lookup failed", ret);
		return;
	}
	if (ret == -ENOENT) { /* GitLab tells only admins that the token does not exist */
		if (abilities_allow(&ab, ABILITY_INSTANCE_ADMIN))
			http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not Found");
		else
			http_reply_unauthorized(r);
		return;
	}
	if (t.revoked) {
		http_reply_message(r, MHD_HTTP_BAD_REQUEST, "400 Bad request - Token already revoked");
		return;
	}
	if (level > ab.level) {
		refuse(r, REFUSE_PROJECT,
		       "Not eligible to rotate token with access level higher than the user");
		return;
	}
	rotate_and_reply(r, &t, got > 0, expires, level, true);
}

void project_token_self_rotate_done(struct request *r)
{
	struct meta_project p;
	struct abilities ab;
	int64_t expires = 0;
	int got;
	if (token_project_or_reply(r, &p, &ab) != 0 ||
	    (got = time_param(r, "expires_at", false, &expires)) < 0)
		return;
	const struct meta_token *t = &r->ident.token;
	if (t->kind != TOKEN_PROJECT) {
		http_reply_message(r, 405, "405 Method Not Allowed");
		return;
	}
	if (t->project_id != p.id) {
		http_reply_unauthorized(r);
		return;
	}
	enum access_level level = ACCESS_NONE;
	int ret = r->app->meta->ops->access_level(r->app->meta, t->user_id, p.id, &level);
	if (ret != 0) {
		http_reply_internal(r, "access level lookup failed", ret);
		return;
	}
	rotate_and_reply(r, t, got > 0, expires, level, true);
}

/* ---- deploy tokens ---- */

void deploy_tokens_all_done(struct request *r)
{
	struct abilities ab;
	struct token_query q = {.kind = TOKEN_DEPLOY, .also_kind = TOKEN_DEPLOY, .revoked = -1};
	struct page pg;
	bool active = false;
	int got;
	if (api_instance_or_reply(r, &ab) != 0 || (got = api_param_bool(r, "active", &active)) < 0 ||
	    api_page_or_reply(r, &pg) != 0)
		return;
	q.active = got > 0 ? active : -1;
	q.now_ms = now_ms();
	q.limit = pg.per_page;
	q.offset = (pg.page - 1) * pg.per_page;
	reply_list(r, &q, AS_DEPLOY, &pg);
}

/* The subject of a deploy token route: a project (is_group false) or a group that is not
 * a personal namespace, with the route's ability. Fills q's owner. */
static int deploy_subject_or_reply(struct request *r, bool is_group, struct token_query *q)
{
	if (api_identify_or_reply(r) != 0)
		return -1;
	if (!is_group) {
		struct meta_project p;
		struct abilities ab;
		if (api_project_or_reply_as(r, 0, "404 Project Not Found", false, &p, &ab) != 0)
			return -1;
		q->project_id = p.id;
		return 0;
	}
	struct meta_group g;
	if (api_group_or_reply(r, 0, &g, NULL) != 0)
		return -1;
	q->group_id = g.id;
	return 0;
}

static void deploy_list(struct request *r, bool is_group)
{
	struct token_query q = {.kind = TOKEN_DEPLOY, .also_kind = TOKEN_DEPLOY, .revoked = -1};
	struct page pg;
	bool active = false;
	int got;
	if (deploy_subject_or_reply(r, is_group, &q) != 0 ||
	    (got = api_param_bool(r, "active", &active)) < 0 || api_page_or_reply(r, &pg) != 0)
		return;
	q.active = got > 0 ? active : -1;
	q.now_ms = now_ms();
	q.limit = pg.per_page;
	q.offset = (pg.page - 1) * pg.per_page;
	reply_list(r, &q, AS_DEPLOY, &pg);
}

/* GitLab's rule for a deploy token's custom username. */
static bool deploy_username_valid(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= USERNAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+_-") == n;
}

static void deploy_create(struct request *r, bool is_group)
{
	struct token_params tp;
	const char *username = NULL;
	if (api_identify_or_reply(r) != 0 ||
	    token_params_or_reply(r, SCOPES_DEPLOY, true, REFUSE_DEPLOY, &tp) != 0 ||
	    api_param_str(r, "username", &username) < 0)
		return;
	struct token_query q = {0};
	if (deploy_subject_or_reply(r, is_group, &q) != 0)
		return;
	if (username && username[0] && !deploy_username_valid(username)) {
		refuse(r, REFUSE_DEPLOY,
		       "Username can contain only letters, digits, '_', '-', '+', and '.'");
		return;
	}
	/* GitLab: no expires_at is "never" */
	struct token_request req = {.kind = TOKEN_DEPLOY, .project_id = q.project_id,
				    .group_id = q.group_id, .scopes = tp.scopes, .name = tp.name,
				    .username = username && username[0] ? username : NULL,
				    .expires_at_ms = tp.has_expiry ? tp.expires_at_ms : 0};
	char secret[TOKEN_SECRET_MAX + 1];
	struct meta_token t = {0};
	int ret = token_issue(r->app->meta, &req, secret, &t);
	if (ret != 0) {
		http_reply_internal(r, "deploy token creation failed", ret);
		return;
	}
	http_reply_json(r, MHD_HTTP_CREATED, with_secret(deploy_token_json(&t), secret));
	memset(secret, 0, sizeof(secret));
}

/* The subject's deploy token :token_id (capture 1), or 404 "404 Not found". */
static int deploy_token_or_reply(struct request *r, bool is_group, struct meta_token *t)
{
	struct token_query q = {0};
	int64_t id;
	if (deploy_subject_or_reply(r, is_group, &q) != 0 ||
	    !id_capture_or_reply(r, 1, "token_id", &id))
		return -1;
	int ret = r->app->meta->ops->token_get(r->app->meta, id, t);
	if (ret == 0 && (t->kind != TOKEN_DEPLOY || t->project_id != q.project_id ||
			 t->group_id != q.group_id))
		ret = -ENOENT;
	if (ret == -ENOENT) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not found");
		return -1;
	}
	if (ret != 0) {
		http_reply_internal(r, "token lookup failed", ret);
		return -1;
	}
	return 0;
}

static void deploy_get(struct request *r, bool is_group)
{
	struct meta_token t = {0};
	if (deploy_token_or_reply(r, is_group, &t) == 0)
		http_reply_json(r, MHD_HTTP_OK, deploy_token_json(&t));
}

/* GitLab destroys the row; the token stops working at once (an unknown deploy token is
 * no credential). */
static void deploy_delete(struct request *r, bool is_group)
{
	struct meta_token t = {0};
	if (deploy_token_or_reply(r, is_group, &t) != 0)
		return;
	int ret = r->app->meta->ops->token_delete(r->app->meta, t.id);
	if (ret != 0 && ret != -ENOENT) {
		http_reply_internal(r, "deploy token deletion failed", ret);
		return;
	}
	http_reply_no_content(r);
}

void project_deploy_tokens_list_done(struct request *r)
{
	deploy_list(r, false);
}

void project_deploy_token_create_done(struct request *r)
{
	deploy_create(r, false);
}

void project_deploy_token_get_done(struct request *r)
{
	deploy_get(r, false);
}

void project_deploy_token_delete_done(struct request *r)
{
	deploy_delete(r, false);
}

void group_deploy_tokens_list_done(struct request *r)
{
	deploy_list(r, true);
}

void group_deploy_token_create_done(struct request *r)
{
	deploy_create(r, true);
}

void group_deploy_token_get_done(struct request *r)
{
	deploy_get(r, true);
}

void group_deploy_token_delete_done(struct request *r)
{
	deploy_delete(r, true);
}

/* ---- job tokens (depot's extension) ---- */

/* A short-lived JOB-TOKEN for a CI system other than GitLab: it acts as the caller, in this
 * project only, until it expires. */
void job_token_create_done(struct request *r)
{
	int64_t ttl = JOB_TTL_DEFAULT;
	struct meta_project p;
	struct abilities ab;
	if (api_identify_or_reply(r) != 0 || api_param_int(r, "ttl", &ttl) < 0)
		return;
	if (ttl < 1 || ttl > JOB_TTL_MAX) {
		api_param_or_reply(r, "ttl", "does not have a valid value");
		return;
	}
	if (api_project_or_reply_as(r, 0, "404 Project Not Found", true, &p, &ab) != 0)
		return;
	struct token_request req = {.kind = TOKEN_JOB, .user_id = r->ident.user.id,
				    .project_id = p.id, .expires_at_ms = now_ms() + ttl * 1000,
				    .name = "job"};
	char secret[TOKEN_SECRET_MAX + 1];
	struct meta_token t = {0};
	int ret = token_issue(r->app->meta, &req, secret, &t);
	if (ret != 0) {
		http_reply_internal(r, "job token creation failed", ret);
		return;
	}
	http_reply_json(r, MHD_HTTP_CREATED,
			json_pack("{s:I,s:s,s:o}", "id", (json_int_t)t.id, "token", secret,
				  "expires_at", api_time_json(t.expires_at_ms)));
	memset(secret, 0, sizeof(secret));
}
