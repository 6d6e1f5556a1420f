/* Helpers shared by the API handlers, and the route table. */
#include <errno.h>
#include <stdio.h>

#include "api.h"
#include "app.h"
#include "timeutil.h"

#define GENERIC "/api/v4/projects/:id/packages/generic/:name/:version"

const struct route api_routes[] = {
	{HTTP_GET, "/api/v4/user", api_read_start, NULL, api_user_done, NULL},
	{HTTP_GET, GENERIC "/files", api_read_start, NULL, generic_files_done, NULL},
	{HTTP_GET, GENERIC "/*file", api_read_start, NULL, generic_download_done, NULL},
	{HTTP_PUT, GENERIC "/*file", generic_upload_start, generic_upload_body,
	 generic_upload_done, generic_upload_free},
};
const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);

void api_read_start(struct request *r)
{
	(void)r;
}

int api_identify_or_reply(struct request *r)
{
	enum auth_error err = auth_resolve(r->app->meta, &r->creds, now_ms(), &r->ident);
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
		if (r->ident.kind == IDENT_ANONYMOUS)
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
