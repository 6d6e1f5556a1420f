/* Helpers shared by the API handlers, and the route table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "log.h"
#include "policy.h"
#include "timeutil.h"

#define GENERIC "/api/v4/projects/:id/packages/generic/:name/:version"
#define PACKAGES "/api/v4/projects/:id/packages"
#define READ(method, pattern, done) {method, pattern, api_defer_start, NULL, done, NULL}

#define BODY(method, pattern, done) {method, pattern, api_defer_start, http_body_collect, done, NULL}

/* First match wins: the policy routes come before ".../packages/:package_id". */
const struct route api_routes[] = {
	READ(HTTP_GET, "/api/v4/user", api_user_done),
	READ(HTTP_GET, "/api/v4/groups/:id/packages/settings", settings_get_done),
	BODY(HTTP_PUT, "/api/v4/groups/:id/packages/settings", settings_put_done),
	READ(HTTP_GET, PACKAGES "/protection/rules", rules_list_done),
	BODY(HTTP_POST, PACKAGES "/protection/rules", rules_create_done),
	BODY(HTTP_PATCH, PACKAGES "/protection/rules/:rule_id", rules_update_done),
	READ(HTTP_DELETE, PACKAGES "/protection/rules/:rule_id", rules_delete_done),
	READ(HTTP_GET, PACKAGES "/cleanup_policy", cleanup_policy_get_done),
	BODY(HTTP_PUT, PACKAGES "/cleanup_policy", cleanup_policy_put_done),
	READ(HTTP_GET, GENERIC "/files", generic_files_done),
	READ(HTTP_GET, GENERIC "/*file", generic_download_done),
	READ(HTTP_DELETE, GENERIC, generic_delete_version_done),
	READ(HTTP_DELETE, GENERIC "/*file", generic_delete_file_done),
	READ(HTTP_GET, PACKAGES, packages_list_done),
	READ(HTTP_GET, PACKAGES "/:package_id", packages_get_done),
	READ(HTTP_DELETE, PACKAGES "/:package_id", packages_delete_done),
	READ(HTTP_GET, PACKAGES "/:package_id/package_files", package_files_list_done),
	READ(HTTP_DELETE, PACKAGES "/:package_id/package_files/:file_id", package_file_delete_done),
	READ(HTTP_GET, PACKAGES "/:package_id/package_files/:file_id/download",
	     package_file_download_done),
	READ(HTTP_GET, "/api/v4/groups/:id/packages", group_packages_list_done),
	{HTTP_PUT, GENERIC "/*file", generic_upload_start, generic_upload_body,
	 generic_upload_done, generic_upload_free},
};
const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);

void api_defer_start(struct request *r)
{
	(void)r;
}

/* Did the request present anything that could authenticate? */
static bool presented(const struct credentials *c)
{
	return c->private_token || c->job_token || c->deploy_token || c->bearer || c->has_basic;
}

int api_identify_or_reply(struct request *r)
{
	struct app *app = r->app;
	int64_t now = now_ms();
	int retry;
	const char *addr = http_client_addr(r);
	if (app->auth_failures && ratelimit_blocked(app->auth_failures, addr, now, &retry)) {
		char v[16];
		snprintf(v, sizeof(v), "%d", retry);
		const char *h[] = {"Retry-After", v, NULL};
		http_reply_json_headers(r, MHD_HTTP_TOO_MANY_REQUESTS,
					json_pack("{s:s}", "message", "429 Too Many Requests"), h);
		return -1;
	}
	enum auth_error err = auth_resolve(app->meta, &r->creds, now, &r->ident);
	/* A presented credential that authenticated nobody is a failure too (an unknown
	 * deploy token or Basic password leaves the request anonymous). */
	bool failed = err == AUTH_INVALID || err == AUTH_EXPIRED || err == AUTH_REVOKED ||
		      (err == AUTH_OK && r->ident.kind == IDENT_ANONYMOUS && presented(&r->creds));
	if (failed) {
		/* the secret never goes to the log; the token id does when the token is known */
		const char *why = err == AUTH_EXPIRED	? "expired token"
				  : err == AUTH_REVOKED ? "revoked token"
							: "unknown credentials";
		if (r->ident.token.id)
			log_line("depot: authentication failed from %s: %s, token %lld", addr, why,
				 (long long)r->ident.token.id);
		else
			log_line("depot: authentication failed from %s: %s", addr, why);
		if (app->auth_failures)
			ratelimit_fail(app->auth_failures, addr, now);
	}
	if (err != AUTH_OK) {
		http_reply_auth_error(r, err);
		return -1;
	}
	if (!auth_scope_allows(&r->ident, http_is_read(r))) {
		http_reply_json(r, MHD_HTTP_FORBIDDEN,
				json_pack("{s:s,s:s,s:s}", "error", "insufficient_scope",
					  "error_description",
					  "The request requires higher privileges than provided by "
					  "the access token.",
					  "scope", "api"));
		return -1;
	}
	return 0;
}

int api_project_or_reply(struct request *r, int cap, const char *not_found,
			 struct meta_project *project, struct abilities *ab)
{
	return api_project_or_reply_as(r, cap, not_found, true, project, ab);
}

int api_project_or_reply_as(struct request *r, int cap, const char *not_found, bool anonymous_401,
			    struct meta_project *project, struct abilities *ab)
{
	struct meta *m = r->app->meta;
	char ref[FULL_PATH_MAX + 1];
	int64_t id = 0;
	int ret = -ENOENT;
	if (http_capture(r, cap, ref, sizeof(ref)) == 0) {
		switch (project_ref_parse(ref, &id)) {
		case PROJECT_REF_ID:
			ret = m->ops->project_get(m, id, project);
			break;
		case PROJECT_REF_PATH:
			ret = m->ops->project_find(m, ref, project);
			break;
		case PROJECT_REF_NONE:
			break;
		}
	}
	if (ret == 0)
		ret = auth_abilities(m, &r->ident, project, ab);
	if (ret != 0 && ret != -ENOENT) {
		http_reply_internal(r, "project lookup failed", ret);
		return -1;
	}
	if (ret == -ENOENT || !ab->read_project) {
		if (anonymous_401 && r->ident.kind == IDENT_ANONYMOUS)
			http_reply_unauthorized(r);
		else
			http_reply_message(r, MHD_HTTP_NOT_FOUND, not_found);
		return -1;
	}
	return 0;
}

int api_param_or_reply(struct request *r, const char *param, const char *fragment)
{
	if (!fragment)
		return 0;
	char msg[128];
	snprintf(msg, sizeof(msg), "%s %s", param, fragment);
	http_reply_error(r, MHD_HTTP_BAD_REQUEST, msg);
	return -1;
}

/* A whole decimal number; -1 for anything else. */
static int parse_int64(const char *s, int64_t *out)
{
	char *end;
	if (!*s)
		return -1;
	long long v = strtoll(s, &end, 10);
	if (*end)
		return -1;
	*out = v;
	return 0;
}

int api_page_or_reply(struct request *r, struct page *pg)
{
	char v[32];
	int got;
	pg->page = 1;
	pg->per_page = 20;
	if ((got = http_query(r, "page", v, sizeof(v))) != 0 &&
	    (got < 0 || parse_int64(v, &pg->page) != 0))
		return api_param_or_reply(r, "page", "is invalid");
	if ((got = http_query(r, "per_page", v, sizeof(v))) != 0 &&
	    (got < 0 || parse_int64(v, &pg->per_page) != 0))
		return api_param_or_reply(r, "per_page", "is invalid");
	if (pg->page < 1)
		pg->page = 1;
	if (pg->per_page < 1)
		pg->per_page = 20;
	if (pg->per_page > 100)
		pg->per_page = 100;
	if (pg->page > INT64_MAX / pg->per_page)
		pg->page = INT64_MAX / pg->per_page;
	return 0;
}

/* Builds the query string of the current request without page and per_page. */
struct query_copy {
	char *buf;
	size_t len, cap;
};

static void query_copy_one(void *ctx, const char *key, const char *value)
{
	struct query_copy *q = ctx;
	if (strcmp(key, "page") == 0 || strcmp(key, "per_page") == 0)
		return;
	int n = snprintf(q->buf + q->len, q->cap - q->len, "%s%s%s", key, value ? "=" : "",
			 value ? value : "");
	if (n > 0 && (size_t)n + 1 < q->cap - q->len) {
		q->len += (size_t)n;
		q->buf[q->len++] = '&';
		q->buf[q->len] = '\0';
	}
}

static void page_link(char *out, size_t cap, const char *base, const char *path,
		      const char *query, int64_t page, int64_t per_page, const char *rel)
{
	size_t n = strlen(out);
	snprintf(out + n, cap - n, "%s<%s%s?%spage=%lld&per_page=%lld>; rel=\"%s\"", n ? ", " : "",
		 base, path, query, (long long)page, (long long)per_page, rel);
}

void api_reply_page(struct request *r, json_t *items, int64_t total, const struct page *pg)
{
	int64_t pages = total > 0 ? (total + pg->per_page - 1) / pg->per_page : 1;
	char base[512], query[2048] = "", link[8192] = "";
	/* GitLab sends X-Next-Page/X-Prev-Page empty on the last/first page; libmicrohttpd
	 * refuses empty values, and a lone space reads as empty to every HTTP parser. */
	char x_page[24], x_per[24], x_total[24], x_pages[24], x_next[24] = " ", x_prev[24] = " ";
	struct query_copy qc = {query, 0, sizeof(query)};
	http_base_url(r, base, sizeof(base));
	http_query_each(r, query_copy_one, &qc);
	snprintf(x_page, sizeof(x_page), "%lld", (long long)pg->page);
	snprintf(x_per, sizeof(x_per), "%lld", (long long)pg->per_page);
	snprintf(x_total, sizeof(x_total), "%lld", (long long)total);
	snprintf(x_pages, sizeof(x_pages), "%lld", (long long)pages);
	if (pg->page > 1) {
		snprintf(x_prev, sizeof(x_prev), "%lld", (long long)pg->page - 1);
		page_link(link, sizeof(link), base, r->url, query, pg->page - 1, pg->per_page, "prev");
	}
	if (pg->page < pages) {
		snprintf(x_next, sizeof(x_next), "%lld", (long long)pg->page + 1);
		page_link(link, sizeof(link), base, r->url, query, pg->page + 1, pg->per_page, "next");
	}
	page_link(link, sizeof(link), base, r->url, query, 1, pg->per_page, "first");
	page_link(link, sizeof(link), base, r->url, query, pages, pg->per_page, "last");
	const char *headers[] = {"X-Page", x_page, "X-Per-Page", x_per, "X-Total", x_total,
				 "X-Total-Pages", x_pages, "X-Next-Page", x_next, "X-Prev-Page",
				 x_prev, "Link", link, NULL};
	http_reply_json_headers(r, MHD_HTTP_OK, items, headers);
}

int api_enum_or_reply(struct request *r, const char *name, const char *const *values, int *out)
{
	char v[64];
	int got = http_query(r, name, v, sizeof(v));
	if (got == 0)
		return 0;
	for (int i = 0; got > 0 && values[i]; i++)
		if (strcmp(v, values[i]) == 0) {
			*out = i;
			return 0;
		}
	return api_param_or_reply(r, name, "does not have a valid value");
}

int api_bool_or_reply(struct request *r, const char *name, bool *out)
{
	char v[16];
	int got = http_query(r, name, v, sizeof(v));
	if (got == 0)
		return 0;
	if (got > 0 && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0))
		*out = true;
	else if (got > 0 && (strcmp(v, "false") == 0 || strcmp(v, "0") == 0))
		*out = false;
	else
		return api_param_or_reply(r, name, "is invalid");
	return 0;
}

struct publish_ctx {
	struct app *app;
	struct blob_writer *w;
	const struct meta_publish *p;
	struct meta_package_file *out;
};

/* Rows first, then the link: both become visible together at COMMIT, and a refused
 * duplicate links nothing. */
static int publish_locked(struct meta *m, void *ctx)
{
	struct publish_ctx *pc = ctx;
	int ret = m->ops->file_publish(m, pc->p, pc->out);
	if (ret != 0)
		return ret;
	struct blob_writer *w = pc->w;
	pc->w = NULL;
	return pc->app->blobs->ops->commit(w, pc->p->digests->sha256);
}

int api_publish(struct app *app, struct blob_writer *w, const struct meta_publish *p,
		struct meta_package_file *out)
{
	int ret = app->blobs->ops->sync(w);
	if (ret != 0) {
		app->blobs->ops->abort(w);
		return ret;
	}
	struct publish_ctx pc = {app, w, p, out};
	ret = app->meta->ops->locked(app->meta, publish_locked, &pc);
	app->blobs->ops->abort(pc.w); /* when the link was never reached */
	return ret;
}

int api_delete_allowed_or_reply(struct request *r, const struct abilities *ab,
				const struct meta_package *pkg)
{
	bool blocked = false;
	int ret = policy_protected(r->app->meta, &r->ident, ab, pkg->project_id, pkg->name,
				   PROTECT_DELETE, &blocked);
	if (ret != 0) {
		http_reply_internal(r, "protection lookup failed", ret);
		return -1;
	}
	if (blocked) {
		http_reply_message(r, MHD_HTTP_FORBIDDEN,
				   "403 Forbidden - Package is deletion protected.");
		return -1;
	}
	return 0;
}

int api_caller_or_reply(struct request *r)
{
	if (api_identify_or_reply(r) != 0)
		return -1;
	if (r->ident.kind == IDENT_DEPLOY)
		memset(&r->ident, 0, sizeof(r->ident));
	if (!http_is_read(r) && r->ident.kind == IDENT_ANONYMOUS) {
		http_reply_unauthorized(r);
		return -1;
	}
	return 0;
}

int api_group_or_reply(struct request *r, int cap, struct meta_group *g)
{
	struct meta *m = r->app->meta;
	char ref[FULL_PATH_MAX + 1], *end;
	int ret = -ENOENT;
	if (http_capture(r, cap, ref, sizeof(ref)) == 0 && ref[0]) {
		long long id = strtoll(ref, &end, 10);
		ret = *end ? m->ops->group_find(m, ref, g) : m->ops->group_get(m, id, g);
	}
	const struct identity *id = &r->ident;
	bool visible = false;
	if (ret == 0) {
		visible = g->visibility == VIS_PUBLIC ||
			  (id->kind == IDENT_USER && (g->visibility == VIS_INTERNAL || id->user.is_admin));
		if (!visible && id->kind == IDENT_USER) {
			enum access_level level = ACCESS_NONE;
			ret = m->ops->group_access_level(m, id->user.id, g->id, &level);
			visible = level >= ACCESS_GUEST;
		}
	}
	if (ret != 0 && ret != -ENOENT) {
		http_reply_internal(r, "group lookup failed", ret);
		return -1;
	}
	if (ret == -ENOENT || !visible) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Group Not Found");
		return -1;
	}
	return 0;
}

void api_audit(struct request *r, const char *action, int64_t project_id, const char *package,
	       const char *version, const char *file_name, int64_t size, const char *sha256,
	       const char *detail)
{
	if (!r->app->audit)
		return;
	struct audit_event ev; /* every field is set below: no 2 KiB memset per download */
	ev.at_ms = now_ms();
	ev.project_id = project_id;
	ev.size = size;
	ev.token_id = r->ident.token.id;
	const struct identity *id = &r->ident;
	snprintf(ev.action, sizeof(ev.action), "%s", action);
	snprintf(ev.username, sizeof(ev.username), "%s",
		 id->kind == IDENT_USER ? id->user.username
		 : id->kind == IDENT_DEPLOY ? id->token.username : "anonymous");
	snprintf(ev.token_kind, sizeof(ev.token_kind), "%s",
		 id->token.id ? token_kind_name(id->token.kind) : "");
	snprintf(ev.package, sizeof(ev.package), "%s", package ? package : "");
	snprintf(ev.version, sizeof(ev.version), "%s", version ? version : "");
	snprintf(ev.file_name, sizeof(ev.file_name), "%s", file_name ? file_name : "");
	snprintf(ev.sha256, sizeof(ev.sha256), "%s", sha256 ? sha256 : "");
	snprintf(ev.client, sizeof(ev.client), "%s", http_client_addr(r));
	snprintf(ev.detail, sizeof(ev.detail), "%s", detail ? detail : "");
	audit_record(r->app->audit, r->app->meta, &ev);
}

int api_file_json(void *array, const struct meta_package_file *f)
{
	char created[ISO8601_LEN + 1];
	iso8601_ms(f->created_at_ms, created);
	json_t *o = json_pack("{s:I,s:I,s:s,s:s,s:I,s:s,s:s,s:s}", "id", (json_int_t)f->id,
			      "package_id", (json_int_t)f->package_id, "created_at", created,
			      "file_name", f->file_name, "size", (json_int_t)f->size, "file_md5",
			      f->digests.md5, "file_sha1", f->digests.sha1, "file_sha256",
			      f->digests.sha256);
	return o && json_array_append_new(array, o) == 0 ? 0 : -ENOMEM;
}
