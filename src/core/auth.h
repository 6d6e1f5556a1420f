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
	/* The connection's last credentials and key (auth_cache.h), borrowed; NULL: none. */
	struct auth_key_memo *key_memo;
};

/* Parses an Authorization header value into c (Basic or Bearer; other schemes ignored).
 * Returns 0, or -1 for a malformed Basic value. */
int credentials_parse_authorization(const char *value, struct credentials *c);
void credentials_release(struct credentials *c);

enum identity_kind { IDENT_ANONYMOUS, IDENT_USER, IDENT_DEPLOY };

/* The auth epoch and this process's change count an identity was resolved under
 * (auth_cache.h); valid is false for an identity resolved without the cache. */
struct auth_stamp {
	int64_t epoch;
	uint64_t local;
	bool valid;
};

struct identity {
	enum identity_kind kind;
	struct meta_user user;	 /* IDENT_USER */
	struct meta_token token; /* the token used; token.id == 0 for none */
	struct auth_stamp stamp;
};

enum auth_error {
	AUTH_OK = 0,
	AUTH_INVALID = -1,     /* unknown or malformed token where GitLab raises: 401 */
	AUTH_EXPIRED = -2,     /* 401 invalid_token "Token is expired..." */
	AUTH_REVOKED = -3,     /* 401 invalid_token "Token was revoked..." */
	AUTH_BACKEND = -4,     /* store failure: 500 */
	AUTH_UNAVAILABLE = -5, /* the store cannot be reached: 503 */
};

/* Resolves credentials to an identity (anonymous when nothing valid was presented and
 * GitLab would not refuse). now_ms decides expiry. */
enum auth_error auth_resolve(struct meta *m, const struct credentials *c, int64_t now_ms,
			     struct identity *out);

/* auth_resolve through an identity cache (plain auth_resolve when ac is NULL): what was
 * presented is looked up by its SHA-256 under the stamp of this request (known_epoch: the
 * auth epoch this request read already, or -1), and what authenticated someone is kept. */
struct auth_cache;
enum auth_error auth_resolve_cached(struct auth_cache *ac, struct meta *m,
				    const struct credentials *c, int64_t now_ms,
				    int64_t known_epoch, struct identity *out);

/* Does the token's scope allow this kind of request? Read requests (GET/HEAD) accept
 * api or read_api; others need api. Tokens without scopes (job tokens) always pass. */
bool auth_scope_allows(const struct identity *id, bool is_read);

/* Everything the decision needs about the caller and the subject of a request: a project,
 * or a group (is_group) for the group endpoints. */
struct access_facts {
	enum identity_kind kind;
	bool is_admin;
	bool is_job;		     /* a CI job token: its user's rights in its project only */
	int64_t job_project_id;	     /* job tokens: their project */
	bool is_group;		     /* the subject is a group */
	int64_t project_id;	     /* the subject project (0 for a group) */
	enum visibility visibility;  /* the subject's */
	enum access_level level;     /* the user's level on the subject (ACCESS_NONE if none) */
	bool deploy_covers_project;  /* a deploy token of this project or an ancestor group */
	unsigned scopes;	     /* deploy token scopes */
	/* groups: the levels their project_creation_level and subgroup_creation_level ask */
	enum access_level project_creation_level;
	enum access_level subgroup_creation_level;
	bool personal;		     /* a user's personal namespace, or a project in one */
	bool packages_disabled;	     /* the project's packages_enabled is false */
};

/* What the caller may do on the subject. The one place access is decided: handlers ask
 * for these (through the route's required ability) and never read identity fields. */
struct abilities {
	/* the caller's level on the subject: ACCESS_ADMIN for admins, ACCESS_NONE for
	 * anonymous callers, deploy tokens and job tokens outside their project; protection
	 * rules compare their minimums with it */
	enum access_level level;
	bool read_project; /* see the subject (project or group) at all */
	bool read_package;
	bool create_package;
	bool destroy_package;
	/* protection rules and cleanup policy (maintainers of the project), duplicate
	 * settings (owners of the group); never job or deploy tokens */
	bool admin_packages;
	/* GitLab's REST resources, for people and their personal or project tokens only:
	 * admin_project: the project's settings, members and tokens (maintainers); of a group,
	 * its deploy tokens' listing (maintainers) */
	bool admin_project;
	/* owner: delete the project or group, change its visibility, add owners; a group's
	 * settings, members and tokens (owners) */
	bool owner;
	bool create_project;  /* in the group: its project_creation_level or above */
	bool create_subgroup; /* in the group: its subgroup_creation_level or above */
	/* see the deploy tokens of the project or group (maintainers of either) */
	bool read_deploy_tokens;
};

/* The abilities a route requires of its caller on its subject. */
enum ability {
	ABILITY_NONE,		/* no subject: the handler decides who it serves (GET /user) */
	ABILITY_READ,		/* see the project or group */
	ABILITY_READ_PACKAGE,
	ABILITY_CREATE_PACKAGE,
	ABILITY_DESTROY_PACKAGE,
	ABILITY_ADMIN_PACKAGES,
	ABILITY_ADMIN_PROJECT,
	ABILITY_OWNER,
	ABILITY_CREATE_PROJECT,
	ABILITY_CREATE_SUBGROUP,
	/* no subject: any signed-in person (401 otherwise), or an instance admin (403) */
	ABILITY_SIGNED_IN,
	ABILITY_INSTANCE_ADMIN,
	ABILITY_READ_DEPLOY_TOKENS,
	/* no subject: the personal or project access token the request presents, whatever
	 * its scopes (GET/DELETE .../self), or with api or self_rotate (.../self/rotate) */
	ABILITY_TOKEN_SELF,
	ABILITY_TOKEN_SELF_ROTATE,
};

/* The same for a route needing need: the token-self routes take their own scopes. */
bool auth_scope_allows_for(const struct identity *id, bool is_read, enum ability need);

void auth_decide(const struct access_facts *f, struct abilities *out);
bool abilities_allow(const struct abilities *ab, enum ability need);
const char *ability_name(enum ability need);

/* Gathers the facts for id on a project, or on a group, from the store and decides. */
int auth_abilities(struct meta *m, const struct identity *id, const struct meta_project *project,
		   struct abilities *out);
int auth_group_abilities(struct meta *m, const struct identity *id, const struct meta_group *group,
			 struct abilities *out);
/* auth_abilities with the user's level on the project from the cache, under the stamp the
 * identity was resolved under (from the store when it has none). */
int auth_abilities_cached(struct auth_cache *ac, struct meta *m, const struct identity *id,
			  const struct meta_project *project, int64_t now_ms,
			  struct abilities *out);
/* Routes without a subject: the abilities the caller has on the instance (level ADMIN and
 * every ability for admins, nothing for anyone else; signed_in below). */
void auth_instance_abilities(const struct identity *id, struct abilities *out);
/* Is the caller a person (a personal or project access token), not anonymous, a job or a
 * deploy token? */
bool auth_is_person(const struct identity *id);
/* May the caller see, revoke and rotate the personal access tokens of user user_id (its
 * own, or any as an admin)? */
bool auth_may_manage_tokens_of(const struct identity *id, int64_t user_id);

/* last_used_at is written at most once per this many ms per token. */
#define TOKEN_USE_RECORD_MS 60000

#endif
