/* Issuing tokens (see token_issue.h). */
#include "token_issue.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "digest.h"

int token_issue(struct meta *m, const struct token_request *req, char *secret,
		struct meta_token *t)
{
	memset(t, 0, sizeof(*t));
	if (token_generate(req->kind, secret) != 0)
		return -EIO;
	t->kind = req->kind;
	token_hash_hex(secret, strlen(secret), t->hash);
	snprintf(t->name, sizeof(t->name), "%s", req->name ? req->name : "");
	snprintf(t->username, sizeof(t->username), "%s", req->username ? req->username : "");
	snprintf(t->description, sizeof(t->description), "%s",
		 req->description ? req->description : "");
	t->user_id = req->user_id;
	t->project_id = req->project_id;
	t->group_id = req->group_id;
	t->scopes = req->scopes;
	t->expires_at_ms = req->expires_at_ms;
	t->previous_id = req->previous_id;
	return m->ops->token_insert(m, t);
}

struct project_issue {
	const struct meta_project *p;
	enum access_level level;
	int64_t created_by;
	const char *email_host;
	struct token_request *req;
	char *secret;
	struct meta_token *out;
	struct meta_user bot;
};

static int project_issue_locked(struct meta *m, void *ctx)
{
	struct project_issue *pi = ctx;
	struct meta_user *bot = &pi->bot;
	unsigned char r[16];
	char hex[33];
	if (RAND_bytes(r, sizeof(r)) != 1)
		return -EIO;
	hex_encode(r, sizeof(r), hex);
	memset(bot, 0, sizeof(*bot));
	snprintf(bot->username, sizeof(bot->username), "project_%lld_bot_%s",
		 (long long)pi->p->id, hex);
	snprintf(bot->name, sizeof(bot->name), "%s", pi->req->name ? pi->req->name : "");
	if (!bot->name[0]) /* GitLab's fallback */
		snprintf(bot->name, sizeof(bot->name), "%.250s bot", pi->p->name);
	if (pi->email_host)
		snprintf(bot->email, sizeof(bot->email), "%.64s@noreply.%.180s", bot->username,
			 pi->email_host);
	bot->bot = true;
	bot->created_by = pi->created_by;
	int ret = m->ops->user_create(m, bot);
	if (ret == 0)
		ret = m->ops->member_set(m, bot->id, pi->p->id, 0, pi->level);
	if (ret != 0)
		return ret;
	pi->req->user_id = bot->id;
	pi->req->project_id = pi->p->id;
	return token_issue(m, pi->req, pi->secret, pi->out);
}

int token_issue_project(struct meta *m, const struct meta_project *p, enum access_level level,
			int64_t created_by, const char *email_host, struct token_request *req,
			char *secret, struct meta_token *out, struct meta_user *bot_out)
{
	struct project_issue pi = {p, level, created_by, email_host, req, secret, out, {0}};
	int ret = m->ops->locked(m, project_issue_locked, &pi);
	if (ret == 0 && bot_out)
		*bot_out = pi.bot;
	return ret;
}

struct rotation {
	const struct meta_token *old;
	int64_t expires_at_ms;
	char *secret;
	struct meta_token *out;
};

static int rotate_locked(struct meta *m, void *ctx)
{
	struct rotation *rot = ctx;
	const struct meta_token *old = rot->old;
	int ret = m->ops->token_revoke_active(m, old->id);
	if (ret == -ENOENT)
		return -EALREADY;
	if (ret != 0)
		return ret;
	struct token_request req = {.kind = old->kind, .user_id = old->user_id,
				    .project_id = old->project_id, .group_id = old->group_id,
				    .scopes = old->scopes, .expires_at_ms = rot->expires_at_ms,
				    .name = old->name, .username = old->username,
				    .description = old->description, .previous_id = old->id};
	return token_issue(m, &req, rot->secret, rot->out);
}

int token_rotate(struct meta *m, const struct meta_token *old, int64_t expires_at_ms,
		 char *secret, struct meta_token *out)
{
	struct rotation rot = {old, expires_at_ms, secret, out};
	return m->ops->locked(m, rotate_locked, &rot);
}
