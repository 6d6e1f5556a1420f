/* Helpers shared by the API handlers, and the route table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "conditional.h"
#include "log.h"
#include "policy.h"
#include "timeutil.h"
#include "web_session.h"

#define GENERIC "/api/v4/projects/:id/packages/generic/:name/:version"
#define PACKAGES "/api/v4/projects/:id/packages"
#define READ(method, pattern, done, need) \
	{method, pattern, api_defer_start, NULL, done, NULL, need, false, false}
#define BODY(method, pattern, done, need) \
	{method, pattern, api_defer_start, http_body_collect, done, NULL, need, false, false}
/* GitLab's REST resources: job and deploy tokens count as anonymous (route.rest). */
#define REST_READ(method, pattern, done, need) \
	{method, pattern, api_defer_start, NULL, done, NULL, need, true, false}
#define REST_BODY(method, pattern, done, need) \
	{method, pattern, api_defer_start, http_body_collect, done, NULL, need, true, false}
#define V4 "/api/v4"
/* The web interface (web.c): its own tests (test_web.py), not the access matrices. */
#define WEB_READ(pattern, done) \
	{HTTP_GET, pattern, api_defer_start, NULL, done, NULL, ABILITY_NONE, false, true}
#define WEB_BODY(method, pattern, done) \
	{method, pattern, api_defer_start, http_body_collect, done, NULL, ABILITY_NONE, false, true}

/* First match wins: the policy routes come before ".../packages/:package_id". Each names
 * the ability it requires on its subject; tests/integration/test_access_matrix.py walks
 * every route with every kind of credential. */
const struct route api_routes[] = {
	READ(HTTP_GET, "/-/health", health_done, ABILITY_NONE),
	READ(HTTP_GET, "/-/readiness", readiness_done, ABILITY_NONE),
	/* loopback and --metrics-allow only (metrics.c); no credentials asked */
	READ(HTTP_GET, "/-/metrics", metrics_done, ABILITY_NONE),
	READ(HTTP_GET, "/api/v4/user", api_user_done, ABILITY_NONE),
	WEB_READ("/", web_page_done),
	WEB_READ("/-/assets/:hash/*file", web_asset_done),
	WEB_READ("/-/session", web_session_get_done),
	WEB_BODY(HTTP_POST, "/-/sign_in", web_sign_in_done),
	WEB_BODY(HTTP_POST, "/-/sign_out", web_sign_out_done),
	/* ---- GitLab's REST resources (issue 11), each area in its own section; within one,
	 * the longer patterns before the ones they would shadow ---- */
	/* users, version, metadata, namespaces (api_users.c) */
	REST_READ(HTTP_GET, V4 "/version", version_done, ABILITY_SIGNED_IN),
	REST_READ(HTTP_GET, V4 "/metadata", version_done, ABILITY_SIGNED_IN),
	/* anonymous callers may look a user up by name: the handler decides */
	REST_READ(HTTP_GET, V4 "/users", users_list_done, ABILITY_NONE),
	REST_BODY(HTTP_POST, V4 "/users", users_create_done, ABILITY_INSTANCE_ADMIN),
	/* anonymous: 403, not 401 (the handler); a non-numeric id matches no route: 404 */
	REST_READ(HTTP_GET, V4 "/users/:user_id", user_get_done, ABILITY_NONE),
	REST_READ(HTTP_DELETE, V4 "/users/:user_id", user_delete_done, ABILITY_INSTANCE_ADMIN),
	REST_READ(HTTP_GET, V4 "/namespaces", namespaces_list_done, ABILITY_SIGNED_IN),
	REST_READ(HTTP_GET, V4 "/namespaces/:id", namespace_get_done, ABILITY_SIGNED_IN),
	REST_READ(HTTP_GET, V4 "/namespaces/:id/exists", namespace_exists_done, ABILITY_SIGNED_IN),

	/* groups and projects (api_projects.c) */
	REST_READ(HTTP_GET, V4 "/groups", groups_list_done, ABILITY_NONE),
	REST_BODY(HTTP_POST, V4 "/groups", groups_create_done, ABILITY_SIGNED_IN),
	REST_READ(HTTP_GET, V4 "/groups/:id/projects", group_projects_done, ABILITY_READ),
	REST_READ(HTTP_GET, V4 "/groups/:id/subgroups", group_subgroups_done, ABILITY_READ),
	REST_READ(HTTP_GET, V4 "/groups/:id", group_get_done, ABILITY_READ),
	REST_BODY(HTTP_PUT, V4 "/groups/:id", group_update_done, ABILITY_OWNER),
	REST_READ(HTTP_DELETE, V4 "/groups/:id", group_delete_done, ABILITY_OWNER),
	REST_READ(HTTP_GET, V4 "/projects", projects_list_done, ABILITY_NONE),
	REST_BODY(HTTP_POST, V4 "/projects", projects_create_done, ABILITY_SIGNED_IN),
	REST_READ(HTTP_GET, V4 "/projects/:id", project_get_done, ABILITY_READ),
	REST_BODY(HTTP_PUT, V4 "/projects/:id", project_update_done, ABILITY_ADMIN_PROJECT),
	REST_READ(HTTP_DELETE, V4 "/projects/:id", project_delete_done, ABILITY_OWNER),

	/* members (api_members.c); a group's ABILITY_ADMIN_PROJECT is its owners' */
	REST_READ(HTTP_GET, V4 "/projects/:id/members", project_members_list_done, ABILITY_READ),
	REST_READ(HTTP_GET, V4 "/projects/:id/members/all", project_members_all_done, ABILITY_READ),
	REST_READ(HTTP_GET, V4 "/projects/:id/members/all/:user_id", project_member_all_get_done,
		  ABILITY_READ),
	REST_READ(HTTP_GET, V4 "/projects/:id/members/:user_id", project_member_get_done, ABILITY_READ),
	REST_BODY(HTTP_POST, V4 "/projects/:id/members", project_member_add_done, ABILITY_ADMIN_PROJECT),
	REST_BODY(HTTP_PUT, V4 "/projects/:id/members/:user_id", project_member_update_done,
		  ABILITY_ADMIN_PROJECT),
	REST_READ(HTTP_DELETE, V4 "/projects/:id/members/:user_id", project_member_remove_done,
		  ABILITY_ADMIN_PROJECT),
	REST_READ(HTTP_GET, V4 "/groups/:id/members", group_members_list_done, ABILITY_READ),
	REST_READ(HTTP_GET, V4 "/groups/:id/members/all", group_members_all_done, ABILITY_READ),
	REST_READ(HTTP_GET, V4 "/groups/:id/members/all/:user_id", group_member_all_get_done,
		  ABILITY_READ),
	REST_READ(HTTP_GET, V4 "/groups/:id/members/:user_id", group_member_get_done, ABILITY_READ),
	REST_BODY(HTTP_POST, V4 "/groups/:id/members", group_member_add_done, ABILITY_ADMIN_PROJECT),
	REST_BODY(HTTP_PUT, V4 "/groups/:id/members/:user_id", group_member_update_done,
		  ABILITY_ADMIN_PROJECT),
	REST_READ(HTTP_DELETE, V4 "/groups/:id/members/:user_id", group_member_remove_done,
		  ABILITY_ADMIN_PROJECT),

	/* tokens (api_tokens.c): .../self before .../:token_id. The project access token
	 * routes need only "read" of the route: their refusals are GitLab's 401 and 400, not
	 * 403, so the handlers ask for admin_project themselves. */
	REST_READ(HTTP_GET, V4 "/personal_access_tokens", pat_list_done, ABILITY_SIGNED_IN),
	REST_READ(HTTP_GET, V4 "/personal_access_tokens/self", pat_self_get_done,
		  ABILITY_TOKEN_SELF),
	REST_READ(HTTP_DELETE, V4 "/personal_access_tokens/self", pat_self_delete_done,
		  ABILITY_TOKEN_SELF),
	REST_BODY(HTTP_POST, V4 "/personal_access_tokens/self/rotate", pat_self_rotate_done,
		  ABILITY_TOKEN_SELF_ROTATE),
	REST_READ(HTTP_GET, V4 "/personal_access_tokens/:token_id", pat_get_done,
		  ABILITY_SIGNED_IN),
	REST_READ(HTTP_DELETE, V4 "/personal_access_tokens/:token_id", pat_delete_done,
		  ABILITY_SIGNED_IN),
	REST_BODY(HTTP_POST, V4 "/personal_access_tokens/:token_id/rotate", pat_rotate_done,
		  ABILITY_SIGNED_IN),
	REST_BODY(HTTP_POST, V4 "/users/:user_id/personal_access_tokens", user_pat_create_done,
		  ABILITY_INSTANCE_ADMIN),
	REST_READ(HTTP_GET, V4 "/projects/:id/access_tokens", project_tokens_list_done,
		  ABILITY_READ),
	REST_BODY(HTTP_POST, V4 "/projects/:id/access_tokens", project_token_create_done,
		  ABILITY_READ),
	REST_BODY(HTTP_POST, V4 "/projects/:id/access_tokens/self/rotate",
		  project_token_self_rotate_done, ABILITY_TOKEN_SELF_ROTATE),
	REST_READ(HTTP_GET, V4 "/projects/:id/access_tokens/:token_id", project_token_get_done,
		  ABILITY_READ),
	REST_READ(HTTP_DELETE, V4 "/projects/:id/access_tokens/:token_id",
		  project_token_delete_done, ABILITY_READ),
	REST_BODY(HTTP_POST, V4 "/projects/:id/access_tokens/:token_id/rotate",
		  project_token_rotate_done, ABILITY_READ),
	REST_READ(HTTP_GET, V4 "/deploy_tokens", deploy_tokens_all_done, ABILITY_INSTANCE_ADMIN),
	REST_READ(HTTP_GET, V4 "/projects/:id/deploy_tokens", project_deploy_tokens_list_done,
		  ABILITY_READ_DEPLOY_TOKENS),
	REST_BODY(HTTP_POST, V4 "/projects/:id/deploy_tokens", project_deploy_token_create_done,
		  ABILITY_ADMIN_PROJECT),
	REST_READ(HTTP_GET, V4 "/projects/:id/deploy_tokens/:token_id",
		  project_deploy_token_get_done, ABILITY_READ_DEPLOY_TOKENS),
	REST_READ(HTTP_DELETE, V4 "/projects/:id/deploy_tokens/:token_id",
		  project_deploy_token_delete_done, ABILITY_ADMIN_PROJECT),
	REST_READ(HTTP_GET, V4 "/groups/:id/deploy_tokens", group_deploy_tokens_list_done,
		  ABILITY_READ_DEPLOY_TOKENS),
	REST_BODY(HTTP_POST, V4 "/groups/:id/deploy_tokens", group_deploy_token_create_done,
		  ABILITY_ADMIN_PROJECT),
	REST_READ(HTTP_GET, V4 "/groups/:id/deploy_tokens/:token_id", group_deploy_token_get_done,
		  ABILITY_READ_DEPLOY_TOKENS),
	REST_READ(HTTP_DELETE, V4 "/groups/:id/deploy_tokens/:token_id",
		  group_deploy_token_delete_done, ABILITY_ADMIN_PROJECT),
	/* depot's extension: a JOB-TOKEN for CI systems other than GitLab */
	REST_BODY(HTTP_POST, V4 "/projects/:id/job_tokens", job_token_create_done,
		  ABILITY_ADMIN_PROJECT),

	/* ---- end of the REST resources ---- */
	READ(HTTP_GET, "/api/v4/groups/:id/packages/settings", settings_get_done, ABILITY_READ),
	BODY(HTTP_PUT, "/api/v4/groups/:id/packages/settings", settings_put_done,
	     ABILITY_ADMIN_PACKAGES),
	READ(HTTP_GET, PACKAGES "/protection/rules", rules_list_done, ABILITY_ADMIN_PACKAGES),
	BODY(HTTP_POST, PACKAGES "/protection/rules", rules_create_done, ABILITY_ADMIN_PACKAGES),
	BODY(HTTP_PATCH, PACKAGES "/protection/rules/:rule_id", rules_update_done,
	     ABILITY_ADMIN_PACKAGES),
	READ(HTTP_DELETE, PACKAGES "/protection/rules/:rule_id", rules_delete_done,
	     ABILITY_ADMIN_PACKAGES),
	READ(HTTP_GET, PACKAGES "/cleanup_policy", cleanup_policy_get_done, ABILITY_ADMIN_PACKAGES),
	BODY(HTTP_PUT, PACKAGES "/cleanup_policy", cleanup_policy_put_done, ABILITY_ADMIN_PACKAGES),
	/* issue 14: archives and atomic publishing ('@' starts no file name) */
	READ(HTTP_GET, GENERIC "/@archive.zip", generic_archive_done, ABILITY_READ_PACKAGE),
	READ(HTTP_GET, GENERIC "/@archive.tar.gz", generic_archive_done, ABILITY_READ_PACKAGE),
	READ(HTTP_GET, GENERIC "/@archive.tar", generic_archive_done, ABILITY_READ_PACKAGE),
	{HTTP_POST, GENERIC "/@publish", api_defer_start, generic_publish_body, generic_publish_done,
	 generic_publish_free, ABILITY_CREATE_PACKAGE, false, false},
	READ(HTTP_GET, GENERIC "/files", generic_files_done, ABILITY_READ_PACKAGE),
	READ(HTTP_GET, GENERIC "/*file", generic_download_done, ABILITY_READ_PACKAGE),
	READ(HTTP_DELETE, GENERIC, generic_delete_version_done, ABILITY_DESTROY_PACKAGE),
	READ(HTTP_DELETE, GENERIC "/*file", generic_delete_file_done, ABILITY_DESTROY_PACKAGE),
	READ(HTTP_GET, PACKAGES, packages_list_done, ABILITY_READ_PACKAGE),
	READ(HTTP_GET, PACKAGES "/:package_id", packages_get_done, ABILITY_READ_PACKAGE),
	READ(HTTP_DELETE, PACKAGES "/:package_id", packages_delete_done, ABILITY_DESTROY_PACKAGE),
	READ(HTTP_GET, PACKAGES "/:package_id/package_files", package_files_list_done,
	     ABILITY_READ_PACKAGE),
	READ(HTTP_DELETE, PACKAGES "/:package_id/package_files/:file_id", package_file_delete_done,
	     ABILITY_DESTROY_PACKAGE),
	READ(HTTP_GET, PACKAGES "/:package_id/package_files/:file_id/download",
	     package_file_download_done, ABILITY_READ_PACKAGE),
	/* the group is read; each project's packages are listed as its read_package allows */
	READ(HTTP_GET, "/api/v4/groups/:id/packages", group_packages_list_done, ABILITY_READ),
	{HTTP_PUT, GENERIC "/*file", generic_upload_start, generic_upload_body,
	 generic_upload_done, generic_upload_free, ABILITY_CREATE_PACKAGE, false, false},
	/* KEEP LAST: every other GET is a web page (GitLab's URL shapes: /acme,
	 * /acme/app/-/packages/1, ...); under /api/ it answers the JSON 404 as before. */
	WEB_READ("/*path", web_page_done),
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
	return api_identify_at_or_reply(r, -1);
}

int api_identify_at_or_reply(struct request *r, int64_t known_epoch)
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
	enum auth_error err =
		auth_resolve_cached(app->auth_cache, app->meta, &r->creds, now, known_epoch, &r->ident);
	if (err == AUTH_OK && r->ident.kind == IDENT_ANONYMOUS && !presented(&r->creds))
		err = web_session_identify(r, now);
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
	if (r->route && r->route->rest && !auth_is_person(&r->ident)) {
		struct identity anonymous = {.kind = IDENT_ANONYMOUS};
		r->ident = anonymous;
	}
	if (web_csrf_or_reply(r) != 0)
		return -1;
	/* GitLab's authenticate_non_get!: no route lets an anonymous caller change anything. */
	if (!http_is_read(r) && r->ident.kind == IDENT_ANONYMOUS) {
		http_reply_unauthorized(r);
		return -1;
	}
	if (!auth_scope_allows_for(&r->ident, http_is_read(r),
				   r->route ? r->route->need : ABILITY_NONE)) {
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
		ret = auth_abilities_cached(r->app->auth_cache, m, &r->ident, project, now_ms(), ab);
	return api_project_decided_or_reply(r, ret, not_found, anonymous_401, ab);
}

int api_project_decided_or_reply(struct request *r, int ret, const char *not_found,
				 bool anonymous_401, const struct abilities *ab)
{
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
	return api_allowed_or_reply(r, ab);
}

int api_allowed_or_reply(struct request *r, const struct abilities *ab)
{
	if (abilities_allow(ab, r->route->need))
		return 0;
	http_reply_message(r, MHD_HTTP_FORBIDDEN, "403 Forbidden");
	return -1;
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
	/* GitLab with only_positive_pagination_values: no clamping up, a 400 */
	if (pg->page < 1)
		return api_param_or_reply(r, "page", "does not have a valid value");
	if (pg->per_page < 1)
		return api_param_or_reply(r, "per_page", "does not have a valid value");
	if (pg->per_page > 100)
		pg->per_page = 100;
	if (pg->page > INT64_MAX / pg->per_page)
		pg->page = INT64_MAX / pg->per_page;
	return 0;
}

/* The listings' own parameters: the only ones a Link carries (GitLab keeps them), each
 * decoded and encoded again; a value longer than any listing accepts is dropped. Anything
 * else, credentials included, stays out. With the request target's limit, this bounds the
 * Link header to a few KiB, well within what libmicrohttpd can send. */
static const struct {
	const char *name;
	size_t max;
} link_params[] = {
	{"package_name", PACKAGE_NAME_MAX}, {"package_version", PACKAGE_VERSION_MAX},
	{"package_type", 32}, {"status", 32}, {"order_by", 32}, {"sort", 32},
	{"include_versionless", 32}, {"exclude_subgroups", 32},
	/* the REST resources' listings */
	{"search", 255}, {"username", 255}, {"owned", 32}, {"membership", 32}, {"simple", 32},
	{"visibility", 32}, {"min_access_level", 32}, {"all_available", 32},
	{"top_level_only", 32}, {"owned_only", 32}, {"query", 255}, {"user_id", 32},
	{"revoked", 32}, {"state", 32}, {"active", 32}, {"include_subgroups", 32},
};
#define N_LINK_PARAMS (sizeof(link_params) / sizeof(link_params[0]))
_Static_assert(N_LINK_PARAMS <= 32, "link_query.seen has a bit for each");
_Static_assert(PACKAGE_VERSION_MAX <= PACKAGE_NAME_MAX, "link_param's buffer holds both");

/* Writes s[0..len) with every byte that is not unreserved (RFC 3986) or in keep
 * percent-encoded. */
static void put_encoded(FILE *f, const char *s, size_t len, const char *keep)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (c && strchr("-._~", c)) || (c && strchr(keep, c)))
			fputc(c, f);
		else
			fprintf(f, "%%%02X", c);
	}
}

struct link_query {
	FILE *f;
	unsigned seen; /* bit i: link_params[i] met (the first occurrence is the one used) */
};

static void link_param(void *ctx, const char *key, const char *value)
{
	struct link_query *lq = ctx;
	for (unsigned i = 0; i < N_LINK_PARAMS; i++) {
		if (strcmp(key, link_params[i].name) != 0 || (lq->seen & (1u << i)))
			continue;
		lq->seen |= 1u << i;
		char v[PACKAGE_NAME_MAX + 1];
		long n = value ? pct_decode(value, strlen(value), v, link_params[i].max + 1, true)
			       : -1;
		if (n < 0)
			return; /* absent, malformed or too long: nothing a listing would use */
		fprintf(lq->f, "%s=", key);
		put_encoded(lq->f, v, (size_t)n, "");
		fputc('&', lq->f);
		return;
	}
}

/* The request's path with each segment decoded and encoded again, so that what reaches
 * the Link is a plain URL path however the client escaped it (a %2F stays one). */
static int put_path(FILE *f, const char *path)
{
	size_t len = strlen(path);
	char *seg = malloc(len + 1);
	if (!seg)
		return -ENOMEM;
	for (const char *p = path; *p;) {
		const char *slash = strchr(p + 1, '/'), *end = slash ? slash : path + len;
		fputc('/', f);
		p += *p == '/';
		long n = pct_decode(p, (size_t)(end - p), seg, len + 1, false);
		if (n >= 0)
			put_encoded(f, seg, (size_t)n, "!$&'()*+,;=:@");
		else /* not a listing a route would have served; keep it inert */
			put_encoded(f, p, (size_t)(end - p), "");
		p = end;
	}
	free(seg);
	return 0;
}

/* "<base><path>?<known parameters>&" of this request; caller frees. */
static char *link_prefix(struct request *r)
{
	char base[HTTP_BASE_URL_MAX + 1], *out = NULL;
	size_t size;
	FILE *f = open_memstream(&out, &size);
	if (!f)
		return NULL;
	http_base_url(r, base, sizeof(base));
	fputs(base, f);
	int ret = put_path(f, r->url);
	fputc('?', f);
	struct link_query lq = {f, 0};
	http_query_each(r, link_param, &lq);
	if (fclose(f) != 0 || ret != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static void page_link(FILE *f, const char *prefix, int64_t page, int64_t per_page,
		      const char *rel)
{
	fprintf(f, "%s<%spage=%lld&per_page=%lld>; rel=\"%s\"", ftell(f) ? ", " : "", prefix,
		(long long)page, (long long)per_page, rel);
}

/* GitLab's Link header: prev, next, first, last; caller frees. Built whole, whatever its
 * length (the request target's limit bounds it). */
static char *page_links(struct request *r, const struct page *pg, int64_t pages)
{
	char *prefix = link_prefix(r), *out = NULL;
	size_t size;
	FILE *f = prefix ? open_memstream(&out, &size) : NULL;
	if (!f) {
		free(prefix);
		return NULL;
	}
	if (pg->page > 1)
		page_link(f, prefix, pg->page - 1, pg->per_page, "prev");
	if (pg->page < pages)
		page_link(f, prefix, pg->page + 1, pg->per_page, "next");
	page_link(f, prefix, 1, pg->per_page, "first");
	page_link(f, prefix, pages, pg->per_page, "last");
	free(prefix);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

void api_reply_page(struct request *r, json_t *items, int64_t total, const struct page *pg)
{
	api_reply_page_with(r, items, total, pg, NULL);
}

void api_reply_page_with(struct request *r, json_t *items, int64_t total, const struct page *pg,
			 const char *const *extra)
{
	int64_t pages = total > 0 ? (total + pg->per_page - 1) / pg->per_page : 1;
	/* GitLab sends X-Next-Page/X-Prev-Page empty on the last/first page; libmicrohttpd
	 * refuses empty values, and a lone space reads as empty to every HTTP parser. */
	char x_page[24], x_per[24], x_total[24], x_pages[24], x_next[24] = " ", x_prev[24] = " ";
	char *link = page_links(r, pg, pages);
	if (!link) {
		json_decref(items);
		http_reply_internal(r, "cannot build the Link header", -ENOMEM);
		return;
	}
	snprintf(x_page, sizeof(x_page), "%lld", (long long)pg->page);
	snprintf(x_per, sizeof(x_per), "%lld", (long long)pg->per_page);
	snprintf(x_total, sizeof(x_total), "%lld", (long long)total);
	snprintf(x_pages, sizeof(x_pages), "%lld", (long long)pages);
	if (pg->page > 1)
		snprintf(x_prev, sizeof(x_prev), "%lld", (long long)pg->page - 1);
	if (pg->page < pages)
		snprintf(x_next, sizeof(x_next), "%lld", (long long)pg->page + 1);
	const char *headers[32] = {"X-Page", x_page, "X-Per-Page", x_per, "X-Total", x_total,
				   "X-Total-Pages", x_pages, "X-Next-Page", x_next, "X-Prev-Page",
				   x_prev, "Link", link, NULL};
	for (size_t i = 14, k = 0; extra && extra[k] && i + 2 < 32; i += 2, k += 2) {
		headers[i] = extra[k];
		headers[i + 1] = extra[k + 1];
		headers[i + 2] = NULL;
	}
	http_reply_json_headers(r, MHD_HTTP_OK, items, headers);
	free(link);
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
	return blob_commit_content(m, pc->app->blobs, w, pc->p->digests->sha256);
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
	int ret = policy_protected(r->app->meta, ab, pkg->project_id, pkg->name, PROTECT_DELETE,
				   &blocked, NULL);
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

int api_unmodified_or_reply(struct request *r, int64_t updated_at_ms)
{
	const char *v = http_header(r, "If-Unmodified-Since");
	time_t since;
	/* GitLab's check_unmodified_since!: an unparsable date is ignored */
	if (!v || http_date_parse(v, &since) != 0 || updated_at_ms <= (int64_t)since * 1000)
		return 0;
	http_reply_message(r, MHD_HTTP_PRECONDITION_FAILED, "412 Precondition Failed");
	return -1;
}

int api_caller_or_reply(struct request *r)
{
	if (api_identify_or_reply(r) != 0)
		return -1;
	if (r->ident.kind == IDENT_DEPLOY) {
		memset(&r->ident, 0, sizeof(r->ident));
		if (!http_is_read(r)) {
			http_reply_unauthorized(r);
			return -1;
		}
	}
	return 0;
}

int api_group_or_reply(struct request *r, int cap, struct meta_group *g, struct abilities *out)
{
	struct meta *m = r->app->meta;
	char ref[FULL_PATH_MAX + 1], *end;
	int ret = -ENOENT;
	if (http_capture(r, cap, ref, sizeof(ref)) == 0 && ref[0]) {
		long long id = strtoll(ref, &end, 10);
		ret = *end ? m->ops->group_find(m, ref, g) : m->ops->group_get(m, id, g);
	}
	if (ret == 0 && g->owner_id)
		ret = -ENOENT; /* a user's namespace is no group */
	/* On a group a job token is an anonymous caller, for everything the request goes on
	 * to decide too (the group listing asks about each project). */
	if (r->ident.kind == IDENT_USER && r->ident.token.kind == TOKEN_JOB) {
		r->ident.kind = IDENT_ANONYMOUS;
		memset(&r->ident.user, 0, sizeof(r->ident.user));
	}
	struct abilities ab = {0};
	if (ret == 0)
		ret = auth_group_abilities(m, &r->ident, g, &ab);
	if (ret != 0 && ret != -ENOENT) {
		http_reply_internal(r, "group lookup failed", ret);
		return -1;
	}
	if (ret == -ENOENT || !ab.read_project) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Group Not Found");
		return -1;
	}
	if (out)
		*out = ab;
	return api_allowed_or_reply(r, &ab);
}

/* src (NULL: empty) into dst, cut to cap - 1 bytes: snprintf's "%s" without its
 * formatting machinery, for the audit event every download builds. */
static void copy_text(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
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
	copy_text(ev.action, sizeof(ev.action), action);
	copy_text(ev.username, sizeof(ev.username),
		  id->kind == IDENT_USER     ? id->user.username
		  : id->kind == IDENT_DEPLOY ? id->token.username
					     : "anonymous");
	copy_text(ev.token_kind, sizeof(ev.token_kind),
		  id->token.id ? token_kind_name(id->token.kind) : "");
	copy_text(ev.package, sizeof(ev.package), package);
	copy_text(ev.version, sizeof(ev.version), version);
	copy_text(ev.file_name, sizeof(ev.file_name), file_name);
	copy_text(ev.sha256, sizeof(ev.sha256), sha256);
	copy_text(ev.client, sizeof(ev.client), http_client_addr(r));
	copy_text(ev.detail, sizeof(ev.detail), detail);
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
