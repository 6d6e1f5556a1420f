/* Authentication and authorization (see auth.h). */
#include "auth.h"

#include "auth_cache.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int credentials_parse_authorization(const char *value, struct credentials *c)
{
	if (strncasecmp(value, "Bearer ", 7) == 0) {
		c->bearer = value + 7 + strspn(value + 7, " ");
		return 0;
	}
	if (strncasecmp(value, "Basic ", 6) != 0)
		return 0;
	const char *b64 = value + 6 + strspn(value + 6, " ");
	size_t n = strlen(b64);
	while (n > 0 && b64[n - 1] == ' ')
		n--;
	if (n == 0 || n % 4 != 0 || n > (BASIC_USER_MAX + TOKEN_PRESENTED_MAX + 1) / 3 * 4 + 4)
		return -1;
	unsigned char dec[(BASIC_USER_MAX + TOKEN_PRESENTED_MAX + 1) / 3 * 3 + 8];
	int len = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
	if (len < 0)
		return -1;
	/* EVP_DecodeBlock counts '=' padding as zero bytes; drop them. */
	if (n >= 1 && b64[n - 1] == '=')
		len--;
	if (n >= 2 && b64[n - 2] == '=')
		len--;
	const unsigned char *colon = memchr(dec, ':', (size_t)len);
	if (!colon || memchr(dec, '\0', (size_t)len))
		return -1;
	size_t ulen = (size_t)(colon - dec), plen = (size_t)len - ulen - 1;
	if (ulen > BASIC_USER_MAX || plen > TOKEN_PRESENTED_MAX)
		return -1;
	credentials_release(c);
	if (!(c->basic_buf = malloc(ulen + plen + 2)))
		return -1;
	c->basic_user = c->basic_buf;
	memcpy(c->basic_user, dec, ulen);
	c->basic_user[ulen] = '\0';
	c->basic_pass = c->basic_buf + ulen + 1;
	memcpy(c->basic_pass, colon + 1, plen);
	c->basic_pass[plen] = '\0';
	c->has_basic = true;
	return 0;
}

void credentials_release(struct credentials *c)
{
	free(c->basic_buf);
	c->basic_buf = c->basic_user = c->basic_pass = NULL;
	c->has_basic = false;
}

/* Looks a presented secret up by its hash. The stored hash is compared again in constant
 * time, so equality never rests on the index lookup alone. */
static int token_lookup(struct meta *m, const char *secret, struct meta_token *out)
{
	if (!secret)
		return -ENOENT;
	size_t n = strlen(secret);
	if (n == 0 || n > TOKEN_PRESENTED_MAX)
		return -ENOENT;
	char hash[TOKEN_HASH_HEX_LEN + 1];
	token_hash_hex(secret, n, hash);
	int ret = m->ops->token_find_by_hash(m, hash, out);
	if (ret == 0 && CRYPTO_memcmp(hash, out->hash, TOKEN_HASH_HEX_LEN) != 0)
		ret = -ENOENT;
	return ret;
}

/* A store failure: 503 when it cannot be reached (try again), 500 otherwise. */
static enum auth_error backend_error(int ret)
{
	return ret == -EAGAIN ? AUTH_UNAVAILABLE : AUTH_BACKEND;
}

static enum auth_error token_state(const struct meta_token *t, int64_t now)
{
	if (t->revoked)
		return AUTH_REVOKED;
	if (t->expires_at_ms != 0 && t->expires_at_ms <= now)
		return AUTH_EXPIRED;
	return AUTH_OK;
}

/* Records the use of a token that authenticated: a write only when the last recorded use
 * is older than TOKEN_USE_RECORD_MS (the row just read says so), and then a conditional
 * one, so concurrent requests or nodes write it once. A failure costs the request nothing. */
static void note_use(struct meta *m, const struct meta_token *t, int64_t now)
{
	if (t->kind == TOKEN_JOB || !m->ops->token_touch ||
	    t->last_used_at_ms > now - TOKEN_USE_RECORD_MS)
		return;
	(void)m->ops->token_touch(m, t->id, now, now - TOKEN_USE_RECORD_MS);
}

static enum auth_error become_user(struct meta *m, const struct meta_token *t, struct identity *out)
{
	int ret = m->ops->user_get(m, t->user_id, &out->user);
	if (ret == -ENOENT)
		return AUTH_INVALID;
	if (ret != 0)
		return backend_error(ret);
	out->kind = IDENT_USER;
	out->token = *t;
	return AUTH_OK;
}

static bool is_access_token(const struct meta_token *t)
{
	return t->kind == TOKEN_PERSONAL || t->kind == TOKEN_PROJECT;
}

/* A token that must exist (PRIVATE-TOKEN, JOB-TOKEN, Bearer): unknown means 401. */
static enum auth_error required_token(struct meta *m, const char *secret, int64_t now,
				      bool (*kind_ok)(const struct meta_token *),
				      struct identity *out)
{
	struct meta_token t;
	int ret = token_lookup(m, secret, &t);
	if (ret == -ENOENT || (ret == 0 && !kind_ok(&t)))
		return AUTH_INVALID;
	if (ret != 0)
		return backend_error(ret);
	enum auth_error st = token_state(&t, now);
	if (st != AUTH_OK) {
		out->token = t; /* for the log: which token failed */
		return t.kind == TOKEN_JOB ? AUTH_INVALID : st; /* a finished job is just unknown */
	}
	if (t.kind == TOKEN_DEPLOY) {
		out->kind = IDENT_DEPLOY;
		out->token = t;
		note_use(m, &t, now);
		return AUTH_OK;
	}
	enum auth_error err = become_user(m, &t, out);
	if (err == AUTH_OK)
		note_use(m, &t, now);
	return err;
}

static bool kind_job(const struct meta_token *t)
{
	return t->kind == TOKEN_JOB;
}

static bool kind_any(const struct meta_token *t)
{
	(void)t;
	return true;
}

enum auth_error auth_resolve(struct meta *m, const struct credentials *c, int64_t now,
			     struct identity *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = IDENT_ANONYMOUS;
	struct meta_token t;
	int ret;

	/* 1. Deploy token; a Basic password replaces the DEPLOY-TOKEN header. Unknown or
	 * inactive deploy tokens leave the request anonymous. */
	const char *deploy = c->has_basic ? c->basic_pass : c->deploy_token;
	if (deploy) {
		ret = token_lookup(m, deploy, &t);
		if (ret != 0 && ret != -ENOENT)
			return backend_error(ret);
		if (ret == 0 && t.kind == TOKEN_DEPLOY && token_state(&t, now) == AUTH_OK) {
			out->kind = IDENT_DEPLOY;
			out->token = t;
			note_use(m, &t, now);
			return AUTH_OK;
		}
	}
	/* 2. Bearer (job or access token), then PRIVATE-TOKEN, then the Basic password as an
	 * access token (unknown there falls through silently). */
	if (c->bearer)
		return required_token(m, c->bearer, now, kind_any, out);
	if (c->private_token)
		return required_token(m, c->private_token, now, is_access_token, out);
	if (c->has_basic && strcmp(c->basic_user, "gitlab-ci-token") != 0) {
		ret = token_lookup(m, c->basic_pass, &t);
		if (ret != 0 && ret != -ENOENT)
			return backend_error(ret);
		if (ret == 0 && is_access_token(&t)) {
			enum auth_error st = token_state(&t, now);
			out->token = t;
			if (st == AUTH_OK && (st = become_user(m, &t, out)) == AUTH_OK)
				note_use(m, &t, now);
			return st;
		}
	}
	/* 3. Job token: Basic as gitlab-ci-token (depot: for uploads too, as the seed page
	 * shows), then JOB-TOKEN. */
	if (c->has_basic && strcmp(c->basic_user, "gitlab-ci-token") == 0)
		return required_token(m, c->basic_pass, now, kind_job, out);
	if (c->job_token)
		return required_token(m, c->job_token, now, kind_job, out);
	return AUTH_OK;
}

bool auth_scope_allows(const struct identity *id, bool is_read)
{
	if (id->kind != IDENT_USER || !is_access_token(&id->token))
		return true;
	if (id->token.scopes & SCOPE_API)
		return true;
	return is_read && (id->token.scopes & SCOPE_READ_API);
}

bool auth_scope_allows_for(const struct identity *id, bool is_read, enum ability need)
{
	if (need == ABILITY_TOKEN_SELF)
		return true; /* GitLab: any scope may read or revoke itself */
	if (need == ABILITY_TOKEN_SELF_ROTATE && id->kind == IDENT_USER &&
	    (id->token.scopes & SCOPE_SELF_ROTATE))
		return true;
	return auth_scope_allows(id, is_read);
}

static void decide(const struct access_facts *f, struct abilities *out);

void auth_decide(const struct access_facts *f, struct abilities *out)
{
	decide(f, out);
	/* a project whose package registry is off: its package endpoints answer 403 to all */
	if (f->packages_disabled)
		out->read_package = out->create_package = out->destroy_package = false;
}

static void decide(const struct access_facts *f, struct abilities *out)
{
	memset(out, 0, sizeof(*out));
	enum identity_kind kind = f->kind;
	/* A job token acts for its user only in its own project; on any other project and on
	 * every group it is an anonymous caller. */
	if (kind == IDENT_USER && f->is_job && (f->is_group || f->job_project_id != f->project_id))
		kind = IDENT_ANONYMOUS;
	/* Package settings are managed by people (and their personal or project tokens),
	 * never by a CI job or a deploy token. */
	bool may_admin = kind == IDENT_USER && !f->is_job;

	if (kind == IDENT_USER && f->is_admin) {
		out->level = ACCESS_ADMIN;
		out->read_project = out->read_package = true;
		out->create_package = out->destroy_package = true;
		out->admin_packages = may_admin;
		out->admin_project = out->owner = may_admin;
		out->create_project = out->create_subgroup = may_admin;
		out->read_deploy_tokens = may_admin;
		return;
	}
	if (f->visibility == VIS_PUBLIC || (f->visibility == VIS_INTERNAL && kind == IDENT_USER))
		out->read_project = out->read_package = true;
	if (kind == IDENT_USER)
		out->level = f->level;
	if (kind == IDENT_USER && f->level >= ACCESS_GUEST) {
		out->read_project = out->read_package = true;
		out->create_package = f->level >= ACCESS_DEVELOPER;
		out->destroy_package = f->level >= ACCESS_MAINTAINER;
		out->admin_packages =
			may_admin && f->level >= (f->is_group ? ACCESS_OWNER : ACCESS_MAINTAINER);
		/* a group's members and tokens are its owners'; a project's its maintainers' */
		out->admin_project =
			may_admin && f->level >= (f->is_group ? ACCESS_OWNER : ACCESS_MAINTAINER);
		out->owner = may_admin && f->level >= ACCESS_OWNER;
		out->read_deploy_tokens = may_admin && f->level >= ACCESS_MAINTAINER;
		if (f->is_group) {
			out->create_project = may_admin && f->project_creation_level &&
					      f->level >= f->project_creation_level;
			out->create_subgroup = may_admin && !f->personal &&
					       f->subgroup_creation_level &&
					       f->level >= f->subgroup_creation_level;
		}
	}
	if (kind == IDENT_DEPLOY && !f->is_group && f->deploy_covers_project) {
		out->read_project = true;
		if (f->scopes & (SCOPE_READ_PACKAGE_REGISTRY | SCOPE_WRITE_PACKAGE_REGISTRY))
			out->read_package = true;
		if (f->scopes & SCOPE_WRITE_PACKAGE_REGISTRY)
			out->create_package = out->destroy_package = true;
	}
}

bool abilities_allow(const struct abilities *ab, enum ability need)
{
	switch (need) {
	case ABILITY_NONE:
		return true;
	case ABILITY_READ:
		return ab->read_project;
	case ABILITY_READ_PACKAGE:
		return ab->read_package;
	case ABILITY_CREATE_PACKAGE:
		return ab->create_package;
	case ABILITY_DESTROY_PACKAGE:
		return ab->destroy_package;
	case ABILITY_ADMIN_PACKAGES:
		return ab->admin_packages;
	case ABILITY_ADMIN_PROJECT:
		return ab->admin_project;
	case ABILITY_OWNER:
		return ab->owner;
	case ABILITY_CREATE_PROJECT:
		return ab->create_project;
	case ABILITY_CREATE_SUBGROUP:
		return ab->create_subgroup;
	case ABILITY_SIGNED_IN:
		return ab->read_project;
	case ABILITY_INSTANCE_ADMIN:
		return ab->level == ACCESS_ADMIN;
	case ABILITY_READ_DEPLOY_TOKENS:
		return ab->read_deploy_tokens;
	case ABILITY_TOKEN_SELF:
	case ABILITY_TOKEN_SELF_ROTATE:
		return ab->read_project; /* signed in; the handler checks the token's kind */
	}
	return false;
}

const char *ability_name(enum ability need)
{
	static const char *const names[] = {"none",	       "read",
					    "read_package",    "create_package",
					    "destroy_package", "admin_packages",
					    "admin_project",   "owner",
					    "create_project",  "create_subgroup",
					    "signed_in",       "instance_admin",
					    "read_deploy_tokens", "token_self",
					    "token_self_rotate"};
	return (unsigned)need < sizeof(names) / sizeof(names[0]) ? names[need] : "?";
}

/* The facts about the caller that do not depend on the subject. */
static struct access_facts caller_facts(const struct identity *id)
{
	struct access_facts f = {.kind = id->kind};
	if (id->kind == IDENT_USER) {
		f.is_admin = id->user.is_admin;
		f.is_job = id->token.kind == TOKEN_JOB && id->token.id != 0;
		f.job_project_id = f.is_job ? id->token.project_id : 0;
	} else if (id->kind == IDENT_DEPLOY) {
		f.scopes = id->token.scopes;
	}
	return f;
}

int auth_abilities(struct meta *m, const struct identity *id, const struct meta_project *project,
		   struct abilities *out)
{
	struct access_facts f = caller_facts(id);
	f.project_id = project->id;
	f.visibility = project->visibility;
	f.packages_disabled = !project->packages_enabled;
	int ret = 0;
	if (id->kind == IDENT_USER) {
		ret = m->ops->access_level(m, id->user.id, project->id, &f.level);
	} else if (id->kind == IDENT_DEPLOY) {
		if (id->token.project_id)
			f.deploy_covers_project = id->token.project_id == project->id;
		else
			ret = m->ops->project_in_group(m, project->id, id->token.group_id,
						       &f.deploy_covers_project);
	}
	if (ret != 0)
		return ret;
	auth_decide(&f, out);
	return 0;
}

int auth_group_abilities(struct meta *m, const struct identity *id, const struct meta_group *group,
			 struct abilities *out)
{
	struct access_facts f = caller_facts(id);
	f.is_group = true;
	f.visibility = group->visibility;
	f.project_creation_level = group->project_creation_level;
	f.subgroup_creation_level = group->subgroup_creation_level;
	f.personal = group->owner_id != 0;
	int ret = 0;
	if (id->kind == IDENT_USER && !f.is_job) /* a job token is anonymous on groups */
		ret = m->ops->group_access_level(m, id->user.id, group->id, &f.level);
	if (ret != 0)
		return ret;
	auth_decide(&f, out);
	return 0;
}

bool auth_is_person(const struct identity *id)
{
	return id->kind == IDENT_USER && !(id->token.kind == TOKEN_JOB && id->token.id != 0);
}

bool auth_may_manage_tokens_of(const struct identity *id, int64_t user_id)
{
	return auth_is_person(id) && (id->user.is_admin || id->user.id == user_id);
}

void auth_instance_abilities(const struct identity *id, struct abilities *out)
{
	memset(out, 0, sizeof(*out));
	if (!auth_is_person(id))
		return;
	/* signed in: "read" the instance */
	out->read_project = true;
	if (id->user.is_admin) {
		out->level = ACCESS_ADMIN;
		out->admin_project = out->owner = true;
		out->create_project = out->create_subgroup = true;
		out->read_deploy_tokens = true;
	}
}

/* ---- the identity cache (auth_cache.h) ---- */

/* Did the request present any credential at all? Anonymous requests need no cache. */
static bool presented_any(const struct credentials *c)
{
	return c->private_token || c->job_token || c->deploy_token || c->bearer || c->has_basic;
}

enum auth_error auth_resolve_cached(struct auth_cache *ac, struct meta *m,
				    const struct credentials *c, int64_t now,
				    int64_t known_epoch, struct identity *out)
{
	struct auth_stamp st;
	/* the stamp before anything is read: what is read after it is at least as new */
	if (!ac || !presented_any(c) || auth_cache_stamp(ac, m, known_epoch, &st) != 0)
		return auth_resolve(m, c, now, out);
	const char *parts[] = {c->private_token, c->job_token, c->deploy_token, c->bearer,
			       c->has_basic ? c->basic_user : NULL,
			       c->has_basic ? c->basic_pass : NULL};
	unsigned char key[AUTH_CACHE_KEY_LEN];
	auth_cache_key_memo(ac, c->key_memo, parts, sizeof(parts) / sizeof(parts[0]), key);
	if (auth_cache_identity_get(ac, &st, key, now, out)) {
		if (out->token.id && out->token.last_used_at_ms <= now - TOKEN_USE_RECORD_MS) {
			note_use(m, &out->token, now);
			auth_cache_identity_used(ac, key, now);
		}
		return AUTH_OK;
	}
	enum auth_error err = auth_resolve(m, c, now, out);
	if (err != AUTH_OK || out->kind == IDENT_ANONYMOUS)
		return err; /* failures are not kept: each is counted and logged */
	out->stamp = st;
	struct identity keep = *out;
	if (keep.token.last_used_at_ms <= now - TOKEN_USE_RECORD_MS)
		keep.token.last_used_at_ms = now; /* note_use has just recorded it */
	auth_cache_identity_put(ac, &st, key, &keep);
	return AUTH_OK;
}

int auth_abilities_cached(struct auth_cache *ac, struct meta *m, const struct identity *id,
			  const struct meta_project *project, int64_t now,
			  struct abilities *out)
{
	if (!ac || id->kind != IDENT_USER || !id->stamp.valid)
		return auth_abilities(m, id, project, out);
	struct access_facts f = caller_facts(id);
	f.project_id = project->id;
	f.visibility = project->visibility;
	f.packages_disabled = !project->packages_enabled;
	if (!auth_cache_level_get(ac, &id->stamp, id->user.id, project->id, now, &f.level)) {
		int64_t until = 0;
		int ret = m->ops->access_level_until(m, id->user.id, project->id, now, &f.level,
						     &until);
		if (ret != 0)
			return ret;
		auth_cache_level_put(ac, &id->stamp, id->user.id, project->id, f.level, until);
	}
	auth_decide(&f, out);
	return 0;
}
