/* GET /api/v4/user: the caller's own user, which GitLab clients (python-gitlab's CLI among
 * them) fetch to check their token before acting. */
#include <stdio.h>
#include <string.h>

#include "api.h"

void api_user_done(struct request *r)
{
	if (api_identify_or_reply(r) != 0)
		return;
	if (r->ident.kind != IDENT_USER) {
		http_reply_unauthorized(r);
		return;
	}
	const struct meta_user *u = &r->ident.user;
	char web_url[512];
	http_base_url(r, web_url, sizeof(web_url));
	size_t n = strlen(web_url);
	snprintf(web_url + n, sizeof(web_url) - n, "/%s", u->username);
	http_reply_json(r, MHD_HTTP_OK,
			json_pack("{s:I,s:s,s:s,s:s,s:b,s:n,s:s,s:b}", "id", (json_int_t)u->id,
				  "username", u->username, "name", u->username, "state", "active",
				  "locked", 0, "avatar_url", "web_url", web_url, "is_admin",
				  u->is_admin));
}
