/* Who is asking and what may they do. Three steps, each testable alone:
 *   credentials_*  parse what the request presents (headers, Basic, Bearer, query);
 *   auth_resolve   turns credentials into an identity using the metadata store, with
 *                  GitLab's source order and its 401 rules (gitlab-behaviour.md 2.1, 2.3);
 *   auth_decide    the pure decision table: identity facts + project -> abilities (2.2). */
#ifndef DEPOT_AUTH_H
#define DEPOT_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "meta.h"
#include "roles.h"
#include "token.h"

#define BASIC_USER_MAX 255

/* What a request presented. Pointers are borrowed from the request (NULL: absent). */
struct credentials {
	const char *private_token; /* PRIVATE-TOKEN header or private_token parameter */
	const char *job_token;	   /* JOB-TOKEN header or job_token parameter */
	const char *deploy_token;  /* DEPLOY-TOKEN header */
	const char *bearer;	   /* Authorization: Bearer <t> */
	bool has_basic;		   /* Authorization: Basic, decoded below */
	char *basic_user;	   /* both point into basic_buf */
	char *basic_pass;
	char *basic_buf;	   /* owned; credentials_release frees it */
};

/* Parses an Authorization header value into c (Basic or Bearer; other schemes ignored).
 * Returns 0, or -1 for a malformed Basic value. */
int credentials_parse_authorization(const char *value, struct credentials *c);
void credentials_release(struct credentials *c);

enum identity_kind { IDENT_ANONYMOUS, IDENT_USER, IDENT_DEPLOY };

struct identity {
	enum identity_kind kind;
	struct meta_user user;	 /* IDENT_USER */
	struct meta_token token; /* the token used; token.id == 0 for none */
};

enum auth_error {
	AUTH_OK = 0,
	AUTH_INVALID = -1,     /* unknown or malformed token where GitLab raises: 401 */
	AUTH_EXPIRED = -2,     /* 401 invalid_token "Token is expired..." */
	AUTH_REVOKED = -3,     /* 401 invalid_token "Token was revoked..." */
	AUTH_BACKEND = -4,     /* store failure: 500 */
};

/* Resolves credentials to an identity (anonymous when nothing valid was presented and
 * GitLab would not refuse). now_ms decides expiry. */
enum auth_error auth_resolve(struct meta *m, const struct credentials *c, int64_t now_ms,
			     struct identity *out);

/* Does the token's scope allow this kind of request? Read requests (GET/HEAD) accept
 * api or read_api; others need api. Tokens without scopes (job tokens) always pass. */
bool auth_scope_allows(const struct identity *id, bool is_read);

/* Everything the decision needs about the caller and the project. */
struct access_facts {
	enum identity_kind kind;
	bool is_admin;
	enum access_level level;     /* the user's level on the project (ACCESS_NONE if none) */
	int64_t job_project_id;	     /* job tokens: their project; 0 otherwise */
	int64_t project_id;
	enum visibility visibility;
	bool deploy_covers_project;  /* a deploy token of this project or an ancestor group */
	unsigned scopes;	     /* deploy token scopes */
};

struct abilities {
	enum access_level level; /* the caller's level on the project; ACCESS_ADMIN for admins */
	bool read_project;
	bool read_package;
	bool create_package;
	bool destroy_package;
};

void auth_decide(const struct access_facts *f, struct abilities *out);

/* Gathers the facts for id on project from the store and decides. */
int auth_abilities(struct meta *m, const struct identity *id, const struct meta_project *project,
		   struct abilities *out);

#endif
