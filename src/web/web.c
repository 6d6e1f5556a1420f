/* The web interface's server side: the compiled-in assets, the page shell every page URL
 * answers with (GitLab's URL shapes; the pages themselves read the JSON API), and signing
 * in and out (web_session.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "app.h"
#include "log.h"
#include "timeutil.h"
#include "web_assets.h"
#include "web_session.h"

#define CSP "default-src 'self'; object-src 'none'; frame-ancestors 'self'"

enum { CAP_HASH, CAP_FILE };

void web_asset_done(struct request *r)
{
	char hash[32], name[128];
	if (http_capture(r, CAP_HASH, hash, sizeof(hash)) == 0 &&
	    strcmp(hash, web_assets_hash) == 0 && http_capture(r, CAP_FILE, name, sizeof(name)) == 0)
		for (size_t i = 0; i < web_assets_count; i++) {
			const struct web_asset *a = &web_assets[i];
			if (strcmp(a->name, name) != 0)
				continue;
			const char *h[] = {"Content-Type", a->content_type, "Cache-Control",
					   "public, max-age=31536000, immutable",
					   "Content-Security-Policy", CSP, NULL};
			http_reply_copy(r, MHD_HTTP_OK, (const char *)a->data, a->len, h);
			return;
		}
	/* an old page's asset after an upgrade, or none at all */
	const char *h[] = {"Content-Type", "text/plain; charset=utf-8", "Cache-Control", "no-store",
			   NULL};
	static const char msg[] = "404 Not Found\n";
	http_reply_copy(r, MHD_HTTP_NOT_FOUND, msg, sizeof(msg) - 1, h);
}

/* One path segment of a namespace or project path: not empty, not "." or "..", not "-". */
static bool name_segment(const char *s, size_t len)
{
	return len > 0 && !(len == 1 && (s[0] == '.' || s[0] == '-')) &&
	       !(len == 2 && s[0] == '.' && s[1] == '.');
}

static bool namespace_path(const char *s, size_t len)
{
	size_t start = 0;
	for (size_t i = 0; i <= len; i++)
		if (i == len || s[i] == '/') {
			if (!name_segment(s + start, i - start))
				return false;
			start = i + 1;
		}
	return true;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Is path (raw, after its leading '/') one of the pages' shapes? The pages find out
 * themselves whether the group, project or package exists. */
static bool page_shape(const char *path)
{
	if (!*path || strcmp(path, "-/sign_in") == 0 || strcmp(path, "-/sign_out") == 0)
		return true;
	const char *dash = strstr(path, "/-/");
	if (!dash)
		return namespace_path(path, strlen(path));
	if (!namespace_path(path, (size_t)(dash - path)))
		return false;
	const char *rest = dash + 3;
	if (strcmp(rest, "packages") == 0 || strcmp(rest, "settings/packages") == 0)
		return true;
	return strncmp(rest, "packages/", 9) == 0 && all_digits(rest + 9);
}

void web_page_done(struct request *r)
{
	/* the JSON API keeps answering JSON for what it does not know */
	if (strncmp(r->url, "/api/", 5) == 0 || strcmp(r->url, "/api") == 0) {
		http_reply_error(r, MHD_HTTP_NOT_FOUND, "404 Not Found");
		return;
	}
	char path[HTTP_TARGET_MAX + 1];
	snprintf(path, sizeof(path), "%s", r->url + 1);
	size_t len = strlen(path);
	if (len > 0 && path[len - 1] == '/') /* "/acme/" is "/acme" */
		path[len - 1] = '\0';
	/* Unknown shapes get the shell too, which shows its "not found" page. */
	unsigned status = page_shape(path) ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND;
	const char *h[] = {"Content-Type", "text/html; charset=utf-8", "Cache-Control", "no-cache",
			   "Content-Security-Policy", CSP, "Referrer-Policy", "same-origin", NULL};
	http_reply_copy(r, status, (const char *)web_index_html, web_index_html_len, h);
}

/* "depot_session=<value>; Path=/; ..." for a Set-Cookie header; an empty value clears it. */
static void cookie_header(const struct request *r, const char *value, char *out, size_t cap)
{
	bool secure = r->tls || (r->external_url && strncmp(r->external_url, "https://", 8) == 0);
	snprintf(out, cap, "%s=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Strict%s",
		 WEB_SESSION_COOKIE, value, *value ? WEB_SESSION_MAX_AGE_S : 0L,
		 secure ? "; Secure" : "");
}

static json_t *session_json(const struct request *r, const char *value)
{
	char csrf[WEB_CSRF_LEN + 1];
	web_session_csrf(r->app->session_key, value, csrf);
	const struct meta_user *u = &r->ident.user;
	char expires[ISO8601_LEN + 1] = "";
	if (r->ident.token.expires_at_ms)
		iso8601_ms(r->ident.token.expires_at_ms, expires);
	return json_pack("{s:b,s:{s:I,s:s,s:s,s:b},s:s,s:I,s:s?}", "signed_in", 1, "user", "id",
			 (json_int_t)u->id, "username", u->username, "name", u->name, "is_admin",
			 u->is_admin, "csrf_token", csrf, "token_id", (json_int_t)r->ident.token.id,
			 "token_expires_at", *expires ? expires : NULL);
}

static void reply_signed_out(struct request *r, unsigned status, json_t *body)
{
	char cookie[256];
	cookie_header(r, "", cookie, sizeof(cookie));
	const char *h[] = {"Set-Cookie", cookie, "Cache-Control", "no-store", NULL};
	http_reply_json_headers(r, status, body, h);
}

void web_session_get_done(struct request *r)
{
	const char *value = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND,
							WEB_SESSION_COOKIE);
	const char *no_store[] = {"Cache-Control", "no-store", NULL};
	if (!value || !r->app->session_key) {
		http_reply_json_headers(r, MHD_HTTP_OK, json_pack("{s:b}", "signed_in", 0), no_store);
		return;
	}
	enum auth_error err = web_session_identify(r, now_ms());
	if (err == AUTH_BACKEND || err == AUTH_UNAVAILABLE) {
		http_reply_auth_error(r, err);
		return;
	}
	if (err != AUTH_OK) { /* revoked, expired, or a key that changed: the page says so */
		reply_signed_out(r, MHD_HTTP_UNAUTHORIZED,
				 json_pack("{s:b,s:s}", "signed_in", 0, "message",
					   "401 Unauthorized - your session has ended"));
		return;
	}
	http_reply_json_headers(r, MHD_HTTP_OK, session_json(r, value), no_store);
}

/* What a failed sign-in costs: the failed-authentication limiter counts it. */
static void sign_in_refused(struct request *r, const char *why)
{
	const char *addr = http_client_addr(r);
	log_line("depot: sign-in refused from %s: %s", addr, why);
	if (r->app->auth_failures)
		ratelimit_fail(r->app->auth_failures, addr, now_ms());
	http_reply_message(r, MHD_HTTP_UNAUTHORIZED, "401 Unauthorized");
}

void web_sign_in_done(struct request *r)
{
	struct app *app = r->app;
	int64_t now = now_ms();
	int retry;
	r->web_client = true;
	const char *ctype = http_header(r, "Content-Type");
	/* JSON only: a cross-site form cannot send it without the browser asking first, so
	 * no other site can sign a visitor in as someone else. */
	if (!ctype || strncasecmp(ctype, "application/json", 16) != 0) {
		http_reply_message(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "415 Unsupported Media Type");
		return;
	}
	if (!app->session_key) {
		http_reply_message(r, MHD_HTTP_SERVICE_UNAVAILABLE, "503 Service Unavailable");
		return;
	}
	if (app->auth_failures && ratelimit_blocked(app->auth_failures, http_client_addr(r), now,
						    &retry)) {
		char v[16];
		snprintf(v, sizeof(v), "%d", retry);
		const char *h[] = {"Retry-After", v, NULL};
		http_reply_json_headers(r, MHD_HTTP_TOO_MANY_REQUESTS,
					json_pack("{s:s}", "message", "429 Too Many Requests"), h);
		return;
	}
	json_t *body = http_body_json(r);
	if (!body)
		return;
	const char *token = json_string_value(json_object_get(body, "token"));
	if (!token || !*token) {
		json_decref(body);
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "token is missing");
		return;
	}
	struct credentials c = {.private_token = token};
	enum auth_error err = auth_resolve(app->meta, &c, now, &r->ident);
	json_decref(body); /* token pointed into it */
	if (err == AUTH_BACKEND || err == AUTH_UNAVAILABLE) {
		http_reply_auth_error(r, err);
		return;
	}
	if (err != AUTH_OK || r->ident.kind != IDENT_USER || r->ident.token.kind != TOKEN_PERSONAL) {
		sign_in_refused(r, err == AUTH_OK ? "not a personal access token" : "invalid token");
		return;
	}
	char value[WEB_SESSION_VALUE_MAX + 1], cookie[256];
	web_session_value(app->session_key, r->ident.token.id,
			  web_session_second(&r->ident.token, now / 1000), value);
	cookie_header(r, value, cookie, sizeof(cookie));
	log_line("depot: signed in: %s, token %lld", r->ident.user.username,
		 (long long)r->ident.token.id);
	const char *h[] = {"Set-Cookie", cookie, "Cache-Control", "no-store", NULL};
	http_reply_json_headers(r, MHD_HTTP_OK, session_json(r, value), h);
}

void web_sign_out_done(struct request *r)
{
	/* A session that is still valid needs its CSRF token (no other site signs a visitor
	 * out); one that is not is cleared all the same. */
	int64_t now = now_ms();
	enum auth_error err = web_session_identify(r, now);
	if (err == AUTH_OK && r->via_session && web_csrf_or_reply(r) != 0)
		return;
	/* On the server too: a copy of the cookie (another tab's, a stolen one) must not
	 * outlive it. Every session of the token signed in until now ends with it. */
	struct meta *m = r->app->meta;
	const struct meta_token *t = &r->ident.token;
	int ret = err == AUTH_OK && r->via_session
			  ? m->ops->token_end_sessions(m, t->id, web_session_second(t, now / 1000))
			  : 0;
	if (ret != 0) {
		http_reply_internal(r, "cannot end the session", ret);
		return;
	}
	reply_signed_out(r, MHD_HTTP_OK, json_pack("{s:b}", "signed_in", 0));
}
