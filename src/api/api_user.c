/* GET /api/v4/user: the caller's own user, which GitLab clients (python-gitlab's CLI among
 * them) fetch to check their token before acting: GitLab's UserPublic, UserWithAdmin for
 * administrators. */
#include "api.h"

void api_user_done(struct request *r)
{
	if (api_identify_or_reply(r) != 0)
		return;
	if (r->ident.kind != IDENT_USER) {
		http_reply_unauthorized(r);
		return;
	}
	struct abilities ab;
	auth_instance_abilities(&r->ident, &ab);
	json_t *o;
	int ret = api_user_json(r, &r->ident.user,
				abilities_allow(&ab, ABILITY_INSTANCE_ADMIN) ? USER_ENTITY_ADMIN
									     : USER_ENTITY_PUBLIC,
				&o);
	if (ret != 0)
		http_reply_internal(r, "user entity", ret);
	else
		http_reply_json(r, MHD_HTTP_OK, o);
}
