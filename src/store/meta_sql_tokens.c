/* The tokens area's SQL operations (meta.h, tokens section): a token by id, listings with
 * GitLab's filters, revocation that only one caller wins, deletion, and the rare
 * last_used_at write. */
#include <errno.h>
#include <stdint.h>

#include "meta_sql.h"

/* ?1/?2 kinds (?1 -1: any), ?3 user, ?4 project, ?5 group, ?6 revoked, ?7 active at ?8, ?9 search */
#define WHERE(find)                                                                        \
	" FROM tokens WHERE (?1 < 0 OR kind = ?1 OR kind = ?2) AND (?3 = 0 OR user_id = ?3)"          \
	" AND (?4 = 0 OR project_id = ?4) AND (?5 = 0 OR group_id = ?5)"                     \
	" AND (?6 < 0 OR revoked = ?6) AND (?7 < 0 OR ?7 = CASE WHEN revoked = 0 AND"        \
	" (expires_at = 0 OR expires_at > ?8) THEN 1 ELSE 0 END)"                            \
	" AND (?9 = '' OR " find "(lower(name), lower(?9)) > 0)"

static const struct stmt_text st_get = {.sql = "SELECT " MSQL_TOKEN_COLS " FROM tokens WHERE id = ?1"};
static const struct stmt_text st_list = {
	"SELECT " MSQL_TOKEN_COLS WHERE("instr") " ORDER BY id LIMIT ?10 OFFSET ?11",
	"SELECT " MSQL_TOKEN_COLS WHERE("strpos") " ORDER BY id LIMIT ?10 OFFSET ?11"};
static const struct stmt_text st_count = {"SELECT COUNT(*)" WHERE("instr"),
					  "SELECT COUNT(*)" WHERE("strpos")};
static const struct stmt_text st_revoke = {
	.sql = "UPDATE tokens SET revoked = 1 WHERE id = ?1 AND revoked = 0"};
static const struct stmt_text st_delete = {.sql = "DELETE FROM tokens WHERE id = ?1"};
static const struct stmt_text st_touch = {
	.sql = "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1 AND last_used_at <= ?3"};

static const struct stmt_text st_end_sessions = {
	.sql = "UPDATE tokens SET sessions_after = ?2 WHERE id = ?1 AND sessions_after < ?2"};

int msql_token_get(struct meta *m, int64_t id, struct meta_token *out)
{
	struct sql_arg a[] = {SQLI(id)};
	return msql_one(m, &st_get, a, SQLN(a), msql_decode_token, out);
}

struct list_ctx {
	int (*cb)(void *ctx, const struct meta_token *t);
	void *ctx;
};

static int each_token(void *ctx, struct sql_rows *r)
{
	struct list_ctx *lc = ctx;
	struct meta_token t;
	msql_decode_token(r, &t);
	return lc->cb(lc->ctx, &t);
}

int msql_tokens_list(struct meta *m, const struct token_query *q,
		     int (*cb)(void *ctx, const struct meta_token *t), void *ctx, int64_t *total)
{
	struct sql_arg a[] = {SQLI(q->kind),
			      SQLI(q->also_kind),
			      SQLI(q->user_id),
			      SQLI(q->project_id),
			      SQLI(q->group_id),
			      SQLI(q->revoked),
			      SQLI(q->active),
			      SQLI(q->now_ms),
			      SQLT(q->search ? q->search : ""),
			      SQLI(q->limit > 0 ? q->limit : INT64_MAX),
			      SQLI(q->offset)};
	int ret = 0;
	if (total)
		ret = msql_int(m, &st_count, a, SQLN(a) - 2, total);
	struct list_ctx lc = {cb, ctx};
	if (ret == 0)
		ret = msql_each(m, &st_list, a, SQLN(a), each_token, &lc);
	return ret;
}

static int exec_one(struct meta *m, const struct stmt_text *st, const struct sql_arg *a, int n)
{
	int64_t changed = 0;
	int ret = msql_exec(m, st, a, n, &changed);
	return ret == 0 && changed == 0 ? -ENOENT : ret;
}

int msql_token_revoke_active(struct meta *m, int64_t id)
{
	struct sql_arg a[] = {SQLI(id)};
	return exec_one(m, &st_revoke, a, SQLN(a));
}

int msql_token_delete(struct meta *m, int64_t id)
{
	struct sql_arg a[] = {SQLI(id)};
	return exec_one(m, &st_delete, a, SQLN(a));
}

int msql_token_touch(struct meta *m, int64_t id, int64_t now_ms, int64_t since_ms)
{
	struct sql_arg a[] = {SQLI(id), SQLI(now_ms), SQLI(since_ms)};
	return msql_exec(m, &st_touch, a, SQLN(a), NULL);
}

int msql_token_end_sessions(struct meta *m, int64_t id, int64_t upto_s)
{
	struct sql_arg a[] = {SQLI(id), SQLI(upto_s)};
	return msql_exec(m, &st_end_sessions, a, SQLN(a), NULL);
}
