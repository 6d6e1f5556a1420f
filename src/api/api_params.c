/* What the REST resources' handlers share: parameters as GitLab's Grape merges them, the
 * entities several resources embed (UserBasic, NamespaceBasic), web URLs, and the check of
 * routes that have no subject. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "timeutil.h"

/* Adds one decoded parameter: "key[]" collects an array, a repeated plain key keeps its
 * first value. */
static int put_param(json_t *params, const char *key, size_t klen, const char *val,
		     size_t vlen)
{
	char k[256], v[HTTP_BODY_MAX];
	long kn = pct_decode(key, klen, k, sizeof(k), true);
	long vn = val ? pct_decode(val, vlen, v, sizeof(v), true) : 0;
	if (kn <= 0 || vn < 0)
		return -1;
	if (!val)
		v[0] = '\0';
	json_t *s = json_stringn(v, (size_t)vn);
	if (!s)
		return -1; /* not UTF-8 */
	if (kn > 2 && strcmp(k + kn - 2, "[]") == 0) {
		k[kn - 2] = '\0';
		json_t *arr = json_object_get(params, k);
		if (!json_is_array(arr)) {
			arr = json_array();
			json_object_set_new(params, k, arr);
		}
		return json_array_append_new(arr, s);
	}
	if (json_object_get(params, k)) {
		json_decref(s);
		return 0;
	}
	return json_object_set_new(params, k, s);
}

/* Splits a&b=c... (still encoded) into params. */
static int put_form(json_t *params, const char *form, size_t len)
{
	const char *end = form + len;
	for (const char *p = form; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		if (stop > p && put_param(params, p, (size_t)((eq ? eq : stop) - p), eq ? eq + 1 : NULL,
					  eq ? (size_t)(stop - eq - 1) : 0) != 0)
			return -1;
		p = stop + 1;
	}
	return 0;
}

struct query_ctx {
	json_t *params;
	int failed;
};

static void put_query(void *ctx, const char *key, const char *value)
{
	struct query_ctx *q = ctx;
	if (put_param(q->params, key, strlen(key), value, value ? strlen(value) : 0) != 0)
		q->failed = 1;
}

json_t *api_params(struct request *r)
{
	if (r->params)
		return r->params;
	json_t *params = json_object();
	struct query_ctx q = {params, 0};
	http_query_each(r, put_query, &q);
	const char *type = http_header(r, "Content-Type");
	int bad = q.failed;
	if (!bad && r->body && r->body_len) {
		if (type && strncasecmp(type, "application/json", 16) == 0) {
			json_error_t err;
			json_t *body = json_loadb(r->body, r->body_len, 0, &err);
			if (!json_is_object(body))
				bad = 1;
			else
				json_object_update(params, body); /* the body wins over the query */
			json_decref(body);
		} else if (!type ||
			   strncasecmp(type, "application/x-www-form-urlencoded", 33) == 0) {
			json_t *form = json_object();
			bad = put_form(form, r->body, r->body_len) != 0;
			json_object_update(params, form);
			json_decref(form);
		}
	}
	if (bad) {
		json_decref(params);
		http_reply_message(r, MHD_HTTP_BAD_REQUEST, "400 Bad request - malformed parameters");
		return NULL;
	}
	r->params = params;
	return params;
}

/* The parameter: 1 with *v, 0 absent or null, -1 having replied (a body that cannot be
 * read). */
static int param(struct request *r, const char *name, json_t **v)
{
	json_t *params = api_params(r);
	if (!params)
		return -1;
	*v = json_object_get(params, name);
	return *v && !json_is_null(*v) ? 1 : 0;
}

static int invalid(struct request *r, const char *name)
{
	api_param_or_reply(r, name, "is invalid");
	return -1;
}

int api_param_str(struct request *r, const char *name, const char **out)
{
	json_t *v;
	int got = param(r, name, &v);
	if (got <= 0)
		return got;
	if (!json_is_string(v))
		return invalid(r, name);
	*out = json_string_value(v);
	return 1;
}

int api_param_int(struct request *r, const char *name, int64_t *out)
{
	json_t *v;
	int got = param(r, name, &v);
	if (got <= 0)
		return got;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 1;
	}
	const char *s = json_string_value(v);
	char *end;
	if (!s || !*s)
		return invalid(r, name);
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (*end || errno)
		return invalid(r, name);
	*out = n;
	return 1;
}

int api_param_bool(struct request *r, const char *name, bool *out)
{
	json_t *v;
	int got = param(r, name, &v);
	if (got <= 0)
		return got;
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 1;
	}
	if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
		*out = json_integer_value(v) == 1;
		return 1;
	}
	/* Grape's Boolean coercion */
	static const char *const yes[] = {"true", "1", "t", "yes", "y", "on", NULL};
	static const char *const no[] = {"false", "0", "f", "no", "n", "off", NULL};
	const char *s = json_string_value(v);
	for (int i = 0; s && yes[i]; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 1;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 1;
		}
	}
	return invalid(r, name);
}

int api_param_list(struct request *r, const char *name, json_t **out)
{
	json_t *v;
	int got = param(r, name, &v);
	if (got <= 0)
		return got;
	json_t *list = json_array();
	if (json_is_array(v)) {
		size_t i;
		json_t *item;
		json_array_foreach(v, i, item) {
			if (!json_is_string(item)) {
				json_decref(list);
				return invalid(r, name);
			}
			json_array_append(list, item);
		}
	} else if (json_is_string(v)) { /* a comma-separated list */
		const char *s = json_string_value(v);
		while (*s) {
			const char *comma = strchr(s, ','), *end = comma ? comma : s + strlen(s);
			if (end > s)
				json_array_append_new(list, json_stringn(s, (size_t)(end - s)));
			s = comma ? comma + 1 : end;
		}
	} else {
		json_decref(list);
		return invalid(r, name);
	}
	*out = list;
	return 1;
}

int api_param_enum(struct request *r, const char *name, const char *const *values, int *out)
{
	const char *s;
	int got = api_param_str(r, name, &s);
	if (got <= 0)
		return got;
	for (int i = 0; values[i]; i++)
		if (strcmp(s, values[i]) == 0) {
			*out = i;
			return 1;
		}
	api_param_or_reply(r, name, "does not have a valid value");
	return -1;
}

int api_missing_or_reply(struct request *r, const char *const *required)
{
	json_t *params = api_params(r);
	if (!params)
		return -1;
	char msg[512] = "";
	size_t len = 0;
	for (int i = 0; required[i]; i++) {
		json_t *v = json_object_get(params, required[i]);
		if (v && !json_is_null(v) && !(json_is_string(v) && !json_string_length(v)))
			continue;
		len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s%s is missing",
					len ? ", " : "", required[i]);
		if (len >= sizeof(msg))
			break;
	}
	if (!msg[0])
		return 0;
	http_reply_error(r, MHD_HTTP_BAD_REQUEST, msg);
	return -1;
}

void api_web_url(struct request *r, const char *prefix, const char *path, char *out, size_t cap)
{
	char base[HTTP_BASE_URL_MAX + 1];
	http_base_url(r, base, sizeof(base));
	snprintf(out, cap, "%s%s/%s", base, prefix, path);
}

json_t *api_time_json(int64_t ms)
{
	if (ms <= 0)
		return json_null();
	char t[ISO8601_LEN + 1];
	iso8601_ms(ms, t);
	return json_string(t);
}

json_t *api_user_basic_json(struct request *r, const struct meta_user *u)
{
	char web_url[HTTP_BASE_URL_MAX + USERNAME_MAX + 8];
	api_web_url(r, "", u->username, web_url, sizeof(web_url));
	return json_pack("{s:I,s:s,s:s,s:s,s:b,s:n,s:s}", "id", (json_int_t)u->id, "username",
			 u->username, "name", u->name[0] ? u->name : u->username, "state", "active",
			 "locked", 0, "avatar_url", "web_url", web_url);
}

json_t *api_namespace_json(struct request *r, const struct meta_group *g)
{
	char web_url[HTTP_BASE_URL_MAX + FULL_PATH_MAX + 16];
	bool user = g->owner_id != 0;
	api_web_url(r, user ? "" : "/groups", g->path, web_url, sizeof(web_url));
	const char *slash = strrchr(g->path, '/');
	json_t *parent = g->parent_id ? json_integer(g->parent_id) : json_null();
	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:o,s:n,s:s}", "id", (json_int_t)g->id, "name",
			 g->name, "path", slash ? slash + 1 : g->path, "kind", user ? "user" : "group",
			 "full_path", g->path, "parent_id", parent, "avatar_url", "web_url", web_url);
}

int api_instance_or_reply(struct request *r, struct abilities *ab)
{
	if (api_identify_or_reply(r) != 0)
		return -1;
	auth_instance_abilities(&r->ident, ab);
	if (abilities_allow(ab, r->route->need))
		return 0;
	if (!auth_is_person(&r->ident))
		http_reply_unauthorized(r);
	else
		http_reply_message(r, MHD_HTTP_FORBIDDEN, "403 Forbidden");
	return -1;
}
