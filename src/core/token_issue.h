/* Issuing tokens, shared by the command line and the REST API: a new secret stored only as
 * its hash, a project access token's bot user and membership, and rotation. The secret goes
 * back to the caller once; it is never stored or logged. */
#ifndef DEPOT_TOKEN_ISSUE_H
#define DEPOT_TOKEN_ISSUE_H

#include <stdint.h>

#include "meta.h"

struct token_request {
	enum token_kind kind;
	int64_t user_id;
	int64_t project_id;
	int64_t group_id;
	unsigned scopes;
	int64_t expires_at_ms; /* 0: never */
	const char *name;
	const char *username;	 /* deploy tokens; NULL: gitlab+deploy-token-<id> */
	const char *description; /* NULL: none */
	int64_t previous_id;	 /* rotation: the token replaced */
};

/* Stores a new token for req. secret (TOKEN_SECRET_MAX + 1 bytes) receives the secret,
 * *out the stored row. Returns 0 or a negative errno. */
int token_issue(struct meta *m, const struct token_request *req, char *secret,
		struct meta_token *out);

/* A project access token, in one transaction: its bot user (GitLab's
 * project_<id>_bot_<32 hex>, named after the token, email <username>@noreply.<email_host>
 * unless email_host is NULL), the bot's membership of the project at level, and the token
 * (req->user_id and req->project_id are set here). bot_out (may be NULL) gets the bot. */
int token_issue_project(struct meta *m, const struct meta_project *p, enum access_level level,
			int64_t created_by, const char *email_host, struct token_request *req,
			char *secret, struct meta_token *out, struct meta_user *bot_out);

/* Rotation, in one transaction: revokes old (-EALREADY when it was revoked already, then
 * nothing changes) and issues its successor with the same kind, name, description, scopes,
 * user and subject, previous_id old->id, expiring at expires_at_ms (0: never). */
int token_rotate(struct meta *m, const struct meta_token *old, int64_t expires_at_ms,
		 char *secret, struct meta_token *out);

#endif
