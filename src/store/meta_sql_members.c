/* The members area's SQL operations (meta_ops, members section): direct memberships of a
 * project or a group, listed with their users and creators, and the memberships inherited
 * from ancestor groups; adding, changing and removing direct ones. */
#include <errno.h>
#include <string.h>

#include "meta_sql.h"
#include "timeutil.h"

/* The subject is (?1 project, ?2 group), one of them 0; its ancestor groups, starting with
 * the project's namespace (or the group itself). A membership past its expiry date sorts
 * after every live one, then the highest level wins, then the direct one. */
static const struct stmt_text st_list = {
	"WITH RECURSIVE anc(id) AS (SELECT CASE WHEN ?1 != 0 THEN"
	" (SELECT group_id FROM projects WHERE id = ?1) ELSE ?2 END"
	" UNION SELECT g.parent_id FROM groups g JOIN anc ON g.id = anc.id"
	" WHERE g.parent_id IS NOT NULL),"
	" cand AS (SELECT mb.user_id, mb.project_id, mb.group_id, mb.access_level,"
	" mb.created_at, mb.created_by, mb.expires_at, ROW_NUMBER() OVER (PARTITION BY mb.user_id"
	" ORDER BY CASE WHEN mb.expires_at != 0 AND mb.expires_at <= ?5 THEN 1 ELSE 0 END,"
	" mb.access_level DESC,"
	" CASE WHEN mb.project_id = ?1 AND mb.group_id = ?2 THEN 0 ELSE 1 END) AS rn"
	" FROM members mb WHERE ((mb.project_id = ?1 AND mb.group_id = ?2) OR"
	" (?3 != 0 AND mb.project_id = 0 AND mb.group_id IN (SELECT id FROM anc)))"
	" AND (?4 = 0 OR mb.user_id = ?4))"
	" SELECT cand.user_id, cand.project_id, cand.group_id, cand.access_level,"
	" cand.created_at, cand.created_by, cand.expires_at,"
	" u.id, u.username, u.is_admin, u.name, u.email, u.bot, u.created_by, u.created_at,"
	" COALESCE(c.id, 0), COALESCE(c.username, ''), COALESCE(c.is_admin, 0),"
	" COALESCE(c.name, ''), COALESCE(c.email, ''), COALESCE(c.bot, 0),"
	" COALESCE(c.created_by, 0), COALESCE(c.created_at, 0)"
	" FROM cand JOIN users u ON u.id = cand.user_id"
	" LEFT JOIN users c ON c.id = cand.created_by AND cand.created_by != 0"
	" WHERE cand.rn = 1 ORDER BY cand.user_id",
	NULL};

static const struct stmt_text st_add = {
	"INSERT INTO members(user_id, project_id, group_id, access_level, created_at,"
	" created_by, expires_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	NULL};

static const struct stmt_text st_update = {
	"UPDATE members SET access_level = ?4, expires_at = ?5"
	" WHERE user_id = ?1 AND project_id = ?2 AND group_id = ?3",
	NULL};

static const struct stmt_text st_remove = {
	"DELETE FROM members WHERE user_id = ?1 AND project_id = ?2 AND group_id = ?3", NULL};

static const struct stmt_text st_owners = {
	"SELECT COUNT(*) FROM members WHERE project_id = 0 AND group_id = ?1"
	" AND access_level = 50 AND (expires_at = 0 OR expires_at > ?2)",
	NULL};

/* A user's columns from col on, in MSQL_USER_COLS order. */
static void decode_user_at(struct sql_rows *r, int col, struct meta_user *u)
{
	u->id = msql_col_int(r, col);
	msql_col_copy(r, col + 1, u->username, sizeof(u->username));
	u->is_admin = msql_col_int(r, col + 2) != 0;
	msql_col_copy(r, col + 3, u->name, sizeof(u->name));
	msql_col_copy(r, col + 4, u->email, sizeof(u->email));
	u->bot = msql_col_int(r, col + 5) != 0;
	u->created_by = msql_col_int(r, col + 6);
	u->created_at_ms = msql_col_int(r, col + 7);
}

struct list_ctx {
	meta_member_cb cb;
	void *ctx;
	/* one row's worth, kept off the stack of each call */
	struct meta_member mb;
	struct meta_user user, creator;
};

static int list_row(void *ctx, struct sql_rows *r)
{
	struct list_ctx *lc = ctx;
	lc->mb.user_id = msql_col_int(r, 0);
	lc->mb.project_id = msql_col_int(r, 1);
	lc->mb.group_id = msql_col_int(r, 2);
	lc->mb.level = (enum access_level)msql_col_int(r, 3);
	lc->mb.created_at_ms = msql_col_int(r, 4);
	lc->mb.created_by = msql_col_int(r, 5);
	lc->mb.expires_at_ms = msql_col_int(r, 6);
	decode_user_at(r, 7, &lc->user);
	decode_user_at(r, 15, &lc->creator);
	return lc->cb(lc->ctx, &lc->mb, &lc->user, &lc->creator);
}

int msql_members_list(struct meta *m, int64_t project_id, int64_t group_id, bool inherited,
		      int64_t user_id, meta_member_cb cb, void *ctx)
{
	struct list_ctx lc = {.cb = cb, .ctx = ctx};
	struct sql_arg a[] = {SQLI(project_id), SQLI(group_id), SQLI(inherited ? 1 : 0),
			      SQLI(user_id), SQLI(now_ms())};
	return msql_each(m, &st_list, a, SQLN(a), list_row, &lc);
}

int msql_member_add(struct meta *m, struct meta_member *mb)
{
	mb->created_at_ms = now_ms();
	struct sql_arg a[] = {SQLI(mb->user_id),       SQLI(mb->project_id), SQLI(mb->group_id),
			      SQLI(mb->level),	       SQLI(mb->created_at_ms),
			      SQLI(mb->created_by),    SQLI(mb->expires_at_ms)};
	return msql_exec(m, &st_add, a, SQLN(a), NULL);
}

int msql_member_update(struct meta *m, const struct meta_member *mb)
{
	struct sql_arg a[] = {SQLI(mb->user_id), SQLI(mb->project_id), SQLI(mb->group_id),
			      SQLI(mb->level), SQLI(mb->expires_at_ms)};
	int64_t changed = 0;
	int ret = msql_exec(m, &st_update, a, SQLN(a), &changed);
	return ret == 0 && changed == 0 ? -ENOENT : ret;
}

int msql_member_remove(struct meta *m, int64_t user_id, int64_t project_id, int64_t group_id)
{
	struct sql_arg a[] = {SQLI(user_id), SQLI(project_id), SQLI(group_id)};
	int64_t changed = 0;
	int ret = msql_exec(m, &st_remove, a, SQLN(a), &changed);
	return ret == 0 && changed == 0 ? -ENOENT : ret;
}

int msql_group_owners(struct meta *m, int64_t group_id, int64_t *out)
{
	struct sql_arg a[] = {SQLI(group_id), SQLI(now_ms())};
	return msql_int(m, &st_owners, a, SQLN(a), out);
}
