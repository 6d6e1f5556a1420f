/* The groups and projects of GitLab's REST resources in the SQL stores: visible listings
 * with GitLab's filters, creation with the path and name checks, updates (a group's path
 * change carries its subgroups and projects along), and deletion, which marks the packages
 * pending destruction through the ordinary delete and renames the rows out of the way. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta_sql.h"
#include "timeutil.h"

/* A statement built at run time from fixed fragments (never from request text, which is
 * always bound); both dialects' texts side by side. */
struct built {
	char sql[4096];
	char pg[4096];
	size_t len, pg_len;
	bool overflow;
};

static void put2(struct built *b, const char *sql, const char *pg)
{
	size_t n = strlen(sql), k = strlen(pg ? pg : sql);
	if (b->len + n >= sizeof(b->sql) || b->pg_len + k >= sizeof(b->pg)) {
		b->overflow = true;
		return;
	}
	memcpy(b->sql + b->len, sql, n + 1);
	memcpy(b->pg + b->pg_len, pg ? pg : sql, k + 1);
	b->len += n;
	b->pg_len += k;
}

static void put(struct built *b, const char *s)
{
	put2(b, s, NULL);
}

static struct stmt_text built_text(const struct built *b)
{
	struct stmt_text st = {b->sql, b->pg};
	return st;
}

/* "%<s>%" with LIKE's own wildcards and the escape taken literally; NULL for no search.
 * Caller frees. */
static char *like_pattern(const char *s)
{
	if (!s || !*s)
		return NULL;
	size_t n = strlen(s);
	char *out = malloc(2 * n + 3), *p = out;
	if (!out)
		return NULL;
	*p++ = '%';
	for (const char *c = s; *c; c++) {
		if (*c == '%' || *c == '_' || *c == '\\')
			*p++ = '\\';
		*p++ = *c;
	}
	*p++ = '%';
	*p = '\0';
	return out;
}

/* The groups a user reaches through memberships: each member group and its descendants,
 * with the highest level held there (?1 the user). */
#define MEMBER_GROUPS                                                                       \
	"WITH RECURSIVE acc(id, lvl) AS (SELECT group_id, access_level FROM members"         \
	" WHERE user_id = ?1 AND project_id = 0 UNION ALL SELECT g.id, acc.lvl FROM groups g" \
	" JOIN acc ON g.parent_id = acc.id),"                                                \
	" eff(id, lvl) AS (SELECT id, MAX(lvl) FROM acc GROUP BY id)"
/* The subtree of group ?1 (the group itself included). */
#define SUBTREE                                                                             \
	"WITH RECURSIVE sub(id) AS (SELECT ?1 UNION SELECT g.id FROM groups g"               \
	" JOIN sub ON g.parent_id = sub.id) "
/* Case-insensitive: SQLite's LIKE is (for ASCII), PostgreSQL's ILIKE. */
#define LIKE(col, param) col " LIKE " param " ESCAPE '\\'"
#define ILIKE(col, param) col " ILIKE " param " ESCAPE '\\'"

struct list_ctx {
	union {
		meta_group_cb group;
		meta_project_cb project;
	} cb;
	void *ctx;
};

static int each_group(void *ctx, struct sql_rows *r)
{
	struct list_ctx *l = ctx;
	struct meta_group g;
	msql_decode_group(r, &g);
	return l->cb.group(l->ctx, &g);
}

static int each_project(void *ctx, struct sql_rows *r)
{
	struct list_ctx *l = ctx;
	struct meta_project p;
	msql_decode_project(r, &p);
	return l->cb.project(l->ctx, &p);
}

static const char *dir(bool desc)
{
	return desc ? " DESC" : " ASC";
}

/* A listing: "<ctes> SELECT COUNT(*) <from>" counts into *total, then
 * "<ctes> SELECT <cols> <from> ORDER BY <order>, <tie> LIMIT ?6 OFFSET ?7" walks each row. */
struct paged {
	const char *ctes;
	const char *cols;
	const struct built *from;
	const char *order;
	const char *tie;
	bool desc;
};

static int paged_run(struct meta *m, const struct paged *pq, const struct sql_arg *a, int n,
		     int (*each)(void *ctx, struct sql_rows *r), void *ctx, int64_t *total)
{
	struct built list = {0}, count = {0};
	put(&count, pq->ctes);
	put(&count, " SELECT COUNT(*)");
	put2(&count, pq->from->sql, pq->from->pg);
	put(&list, pq->ctes);
	put(&list, " SELECT ");
	put(&list, pq->cols);
	put2(&list, pq->from->sql, pq->from->pg);
	put(&list, " ORDER BY ");
	put(&list, pq->order);
	put(&list, dir(pq->desc));
	put(&list, ", ");
	put(&list, pq->tie);
	put(&list, dir(pq->desc));
	put(&list, " LIMIT ?6 OFFSET ?7");
	if (pq->from->overflow || list.overflow || count.overflow)
		return -E2BIG;
	struct stmt_text ct = built_text(&count), lt = built_text(&list);
	int ret = msql_int(m, &ct, a, n, total);
	return ret == 0 ? msql_each(m, &lt, a, n, each, ctx) : ret;
}

int msql_groups_list(struct meta *m, const struct group_query *q, meta_group_cb cb, void *ctx,
		     int64_t *total)
{
	struct built from = {0};
	put(&from, " FROM (SELECT groups.*, COALESCE(eff.lvl, 0) AS lvl FROM groups"
		   " LEFT JOIN eff ON eff.id = groups.id) g"
		   " WHERE g.owner_id = 0 AND g.pending_delete = 0"
		   " AND (?2 < 0 OR g.visibility = ?2) AND (?3 = 0 OR g.lvl >= ?3)"
		   " AND (?4 = 0 OR g.parent_id = ?4)");
	put2(&from, " AND (?5 IS NULL OR " LIKE("g.name", "?5") " OR " LIKE("g.path", "?5") ")",
	     " AND (?5 IS NULL OR " ILIKE("g.name", "?5") " OR " ILIKE("g.path", "?5") ")");
	if (!q->user_id)
		put(&from, " AND g.visibility = 20");
	else if (!(q->admin && q->all_available))
		put(&from, q->all_available ? " AND (g.visibility >= 10 OR g.lvl > 0)"
					    : " AND g.lvl > 0");
	if (q->top_level_only)
		put(&from, " AND g.parent_id IS NULL");
	if (q->owned)
		put(&from, " AND EXISTS (SELECT 1 FROM members o WHERE o.user_id = ?1"
			   " AND o.project_id = 0 AND o.group_id = g.id AND o.access_level >= 50)");
	static const char *const order[] = {"g.name", "g.path", "g.id"};
	char *pattern = like_pattern(q->search);
	if (q->search && *q->search && !pattern)
		return -ENOMEM;
	struct sql_arg a[] = {SQLI(q->user_id),	    SQLI(q->visibility), SQLI(q->min_access_level),
			      SQLI(q->parent_id),   SQLT(pattern),	 SQLI(q->limit),
			      SQLI(q->offset)};
	struct list_ctx l = {.cb.group = cb, .ctx = ctx};
	const struct paged pq = {MEMBER_GROUPS, MSQL_GROUP_COLS, &from, order[q->order], "g.id",
				 q->desc};
	int ret = paged_run(m, &pq, a, SQLN(a), each_group, &l, total);
	free(pattern);
	return ret;
}

int msql_projects_list(struct meta *m, const struct project_query *q, meta_project_cb cb,
		       void *ctx, int64_t *total)
{
	struct built from = {0};
	/* a project's level: its own membership, or the highest of its groups' */
	put(&from, " FROM (SELECT projects.*, ns.path AS ns_path, COALESCE((SELECT MAX(x) FROM"
		   " (SELECT access_level AS x FROM members WHERE user_id = ?1"
		   " AND project_id = projects.id AND group_id = 0 UNION ALL"
		   " SELECT lvl FROM eff WHERE eff.id = projects.group_id) t), 0) AS lvl"
		   " FROM projects JOIN groups ns ON ns.id = projects.group_id) p"
		   " WHERE p.pending_delete = 0 AND (?2 < 0 OR p.visibility = ?2)"
		   " AND (?4 = 0 OR p.group_id IN (SELECT id FROM sub))");
	put2(&from,
	     " AND (?3 IS NULL OR " LIKE("p.name", "?3") " OR " LIKE("p.description", "?3")
	     " OR " LIKE("substr(p.path, length(p.ns_path) + 2)", "?3") ")",
	     " AND (?3 IS NULL OR " ILIKE("p.name", "?3") " OR " ILIKE("p.description", "?3")
	     " OR " ILIKE("substr(p.path, length(p.ns_path) + 2)", "?3") ")");
	if (!q->user_id)
		put(&from, " AND p.visibility = 20");
	else if (!q->admin)
		put(&from, " AND (p.visibility >= 10 OR p.lvl > 0)");
	if (q->membership)
		put(&from, " AND p.lvl > 0");
	if (q->owned)
		put(&from, " AND p.lvl >= 50");
	static const char *const order[] = {"p.created_at", "p.id", "p.name", "p.path",
					    "p.updated_at"};
	/* the namespace's subtree (?4; its subgroups too when ?5 is 1) */
#define PROJECT_CTES                                                                        \
	MEMBER_GROUPS ", sub(id) AS (SELECT ?4 UNION SELECT g.id FROM groups g"              \
		      " JOIN sub ON g.parent_id = sub.id WHERE ?5 = 1)"
	char *pattern = like_pattern(q->search);
	if (q->search && *q->search && !pattern)
		return -ENOMEM;
	struct sql_arg a[] = {SQLI(q->user_id),	    SQLI(q->visibility),
			      SQLT(pattern),	    SQLI(q->group_id),
			      SQLI(q->include_subgroups ? 1 : 0),
			      SQLI(q->limit),	    SQLI(q->offset)};
	struct list_ctx l = {.cb.project = cb, .ctx = ctx};
	const struct paged pq = {PROJECT_CTES, MSQL_PROJECT_COLS, &from, order[q->order], "p.id",
				 q->desc};
	int ret = paged_run(m, &pq, a, SQLN(a), each_project, &l, total);
	free(pattern);
	return ret;
}

/* Is the full path a group's (a user's namespace included) or a project's, other than the
 * group except_group? Paths compare without case, as their unique indexes do. */
static int path_taken(struct meta *m, const char *path, int64_t except_group, bool *out)
{
	static const struct stmt_text st = {
		.sql = "SELECT (SELECT COUNT(*) FROM groups WHERE path = ?1 AND id != ?2)"
		" + (SELECT COUNT(*) FROM projects WHERE path = ?1)",
		.pg = "SELECT (SELECT COUNT(*) FROM groups WHERE lower(path) = lower(?1) AND id != ?2)"
		" + (SELECT COUNT(*) FROM projects WHERE lower(path) = lower(?1))"};
	struct sql_arg a[] = {SQLT(path), SQLI(except_group)};
	int64_t n = 0;
	int ret = msql_int(m, &st, a, SQLN(a), &n);
	*out = n > 0;
	return ret;
}

/* Another live project of the namespace with this name (any case)? */
static int name_taken(struct meta *m, int64_t group_id, const char *name, int64_t except,
		      bool *out)
{
	static const struct stmt_text st = {
		.sql = "SELECT COUNT(*) FROM projects WHERE group_id = ?1 AND lower(name) = lower(?2)"
		" AND id != ?3 AND pending_delete = 0"};
	struct sql_arg a[] = {SQLI(group_id), SQLT(name), SQLI(except)};
	int64_t n = 0;
	int ret = msql_int(m, &st, a, SQLN(a), &n);
	*out = n > 0;
	return ret;
}

static int group_add_tx(struct meta *m, struct meta_group *g, int64_t owner_user_id,
			unsigned *taken)
{
	static const struct stmt_text st = {
		.sql = "INSERT INTO groups(parent_id, path, visibility, name, description, owner_id,"
		" project_creation_level, subgroup_creation_level, created_at)"
		" VALUES(NULLIF(?1, 0), ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8) RETURNING id"};
	bool t;
	int ret = path_taken(m, g->path, 0, &t);
	if (ret != 0)
		return ret;
	if (t) {
		*taken |= META_TAKEN_PATH;
		return -EEXIST;
	}
	g->owner_id = 0;
	g->created_at_ms = now_ms();
	struct sql_arg a[] = {SQLI(g->parent_id),
			      SQLT(g->path),
			      SQLI(g->visibility),
			      SQLT(g->name),
			      SQLT(g->description),
			      SQLI(g->project_creation_level),
			      SQLI(g->subgroup_creation_level),
			      SQLI(g->created_at_ms)};
	if ((ret = msql_insert(m, &st, a, SQLN(a), &g->id)) != 0 || !owner_user_id)
		return ret;
	return m->ops->member_set(m, owner_user_id, 0, g->id, ACCESS_OWNER);
}

int msql_group_add(struct meta *m, struct meta_group *g, int64_t owner_user_id,
		   unsigned *taken)
{
	bool own;
	*taken = 0;
	int ret = msql_tx_begin(m, &own);
	if (ret == 0)
		ret = group_add_tx(m, g, owner_user_id, taken);
	return msql_tx_end(m, own, ret);
}

/* Gives the subtree of group id the path prefix new_prefix instead of its first old_len
 * characters (ASCII paths: bytes are characters); with pending, marks it deleted too. */
static int rename_tree(struct meta *m, int64_t id, size_t old_len, const char *new_prefix,
		       bool pending)
{
	static const struct stmt_text groups = {
		.sql = SUBTREE "UPDATE groups SET path = ?2 || substr(path, CAST(?3 AS INTEGER)),"
			" pending_delete = CASE WHEN ?4 = 1 THEN 1 ELSE pending_delete END"
			" WHERE id IN (SELECT id FROM sub)"};
	static const struct stmt_text projects = {
		.sql = SUBTREE "UPDATE projects SET path = ?2 || substr(path, CAST(?3 AS INTEGER)),"
			" pending_delete = CASE WHEN ?4 = 1 THEN 1 ELSE pending_delete END"
			" WHERE group_id IN (SELECT id FROM sub)"};
	struct sql_arg a[] = {SQLI(id), SQLT(new_prefix), SQLI((int64_t)old_len + 1),
			      SQLI(pending ? 1 : 0)};
	/* projects first: their paths are checked against the groups' old ones by nothing */
	int ret = msql_exec(m, &projects, a, SQLN(a), NULL);
	return ret ? ret : msql_exec(m, &groups, a, SQLN(a), NULL);
}

static int group_update_tx(struct meta *m, const struct meta_group *g, unsigned *taken)
{
	static const struct stmt_text st = {
		.sql = "UPDATE groups SET name = ?2, description = ?3, visibility = ?4,"
		" project_creation_level = ?5, subgroup_creation_level = ?6"
		" WHERE id = ?1 AND pending_delete = 0"};
	struct meta_group old;
	int ret = m->ops->group_get(m, g->id, &old);
	if (ret != 0)
		return ret;
	if (strcmp(old.path, g->path) != 0) {
		bool t;
		if ((ret = path_taken(m, g->path, g->id, &t)) != 0)
			return ret;
		if (t) {
			*taken |= META_TAKEN_PATH;
			return -EEXIST;
		}
		if ((ret = rename_tree(m, g->id, strlen(old.path), g->path, false)) != 0)
			return ret;
	}
	struct sql_arg a[] = {SQLI(g->id),
			      SQLT(g->name),
			      SQLT(g->description),
			      SQLI(g->visibility),
			      SQLI(g->project_creation_level),
			      SQLI(g->subgroup_creation_level)};
	return msql_exec(m, &st, a, SQLN(a), NULL);
}

int msql_group_update(struct meta *m, const struct meta_group *g, unsigned *taken)
{
	bool own;
	*taken = 0;
	int ret = msql_tx_begin(m, &own);
	if (ret == 0)
		ret = group_update_tx(m, g, taken);
	return msql_tx_end(m, own, ret);
}

int msql_group_children_visibility(struct meta *m, int64_t group_id, int *subgroups,
				   int *projects)
{
	static const struct stmt_text groups = {
		.sql = "SELECT COALESCE(MAX(visibility), -1) FROM groups WHERE parent_id = ?1"
		" AND pending_delete = 0"};
	static const struct stmt_text in = {
		.sql = "SELECT COALESCE(MAX(visibility), -1) FROM projects WHERE group_id = ?1"
		" AND pending_delete = 0"};
	struct sql_arg a[] = {SQLI(group_id)};
	int64_t g = -1, p = -1;
	int ret = msql_int(m, &groups, a, SQLN(a), &g);
	if (ret == 0)
		ret = msql_int(m, &in, a, SQLN(a), &p);
	*subgroups = (int)g;
	*projects = (int)p;
	return ret;
}

/* Package ids gathered before they are destroyed (a walk cannot run statements). */
struct ids {
	int64_t *v;
	size_t n, cap;
};

static int collect_id(void *ctx, struct sql_rows *r)
{
	struct ids *ids = ctx;
	if (ids->n == ids->cap) {
		size_t cap = ids->cap ? 2 * ids->cap : 64;
		int64_t *v = realloc(ids->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ids->v = v;
		ids->cap = cap;
	}
	ids->v[ids->n++] = msql_col_int(r, 0);
	return 0;
}

/* Every live package the statement names goes through the ordinary delete (pending
 * destruction: gc removes its contents). */
static int destroy_packages(struct meta *m, const struct stmt_text *st, int64_t id)
{
	struct ids ids = {0};
	struct sql_arg a[] = {SQLI(id)};
	int ret = msql_each(m, st, a, SQLN(a), collect_id, &ids);
	for (size_t i = 0; i < ids.n && ret == 0; i++) {
		ret = m->ops->package_destroy(m, ids.v[i]);
		if (ret == -ENOENT) /* a concurrent delete did it */
			ret = 0;
	}
	free(ids.v);
	return ret;
}

/* GitLab's mark for deletion: "<path>-deletion_scheduled-<id>". */
static void scheduled_name(char *out, size_t cap, const char *s, int64_t id)
{
	snprintf(out, cap, "%s-deletion_scheduled-%lld", s, (long long)id);
}

static int group_delete_tx(struct meta *m, int64_t group_id)
{
	static const struct stmt_text packages = {
		.sql = SUBTREE "SELECT p.id FROM packages p JOIN projects pr ON pr.id = p.project_id"
			" WHERE pr.group_id IN (SELECT id FROM sub) AND p.status != 4 ORDER BY p.id"};
	static const struct stmt_text tokens = {
		.sql = SUBTREE "UPDATE tokens SET revoked = 1 WHERE revoked = 0 AND (group_id IN"
			" (SELECT id FROM sub) OR project_id IN (SELECT id FROM projects"
			" WHERE group_id IN (SELECT id FROM sub)))"};
	struct meta_group g;
	int ret = m->ops->group_get(m, group_id, &g);
	if (ret != 0)
		return ret;
	char renamed[FULL_PATH_MAX + 64];
	scheduled_name(renamed, sizeof(renamed), g.path, g.id);
	struct sql_arg a[] = {SQLI(group_id)};
	if ((ret = destroy_packages(m, &packages, group_id)) == 0 &&
	    (ret = msql_exec(m, &tokens, a, SQLN(a), NULL)) == 0)
		ret = rename_tree(m, group_id, strlen(g.path), renamed, true);
	return ret;
}

int msql_group_delete(struct meta *m, int64_t group_id)
{
	bool own;
	int ret = msql_tx_begin(m, &own);
	if (ret == 0)
		ret = group_delete_tx(m, group_id);
	return msql_tx_end(m, own, ret);
}

static int project_add_tx(struct meta *m, struct meta_project *p, unsigned *taken)
{
	static const struct stmt_text st = {
		.sql = "INSERT INTO projects(group_id, path, visibility, name, description,"
		" packages_enabled, creator_id, created_at, updated_at)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) RETURNING id"};
	bool t = false;
	int ret = path_taken(m, p->path, 0, &t);
	if (ret == 0 && t)
		*taken |= META_TAKEN_PATH;
	if (ret == 0)
		ret = name_taken(m, p->group_id, p->name, 0, &t);
	if (ret == 0 && t)
		*taken |= META_TAKEN_NAME;
	if (ret != 0 || *taken)
		return ret ? ret : -EEXIST;
	p->created_at_ms = p->updated_at_ms = now_ms();
	struct sql_arg a[] = {SQLI(p->group_id),	 SQLT(p->path), SQLI(p->visibility),
			      SQLT(p->name),		 SQLT(p->description),
			      SQLI(p->packages_enabled), SQLI(p->creator_id),
			      SQLI(p->created_at_ms)};
	return msql_insert(m, &st, a, SQLN(a), &p->id);
}

int msql_project_add(struct meta *m, struct meta_project *p, unsigned *taken)
{
	bool own;
	*taken = 0;
	int ret = msql_tx_begin(m, &own);
	if (ret == 0)
		ret = project_add_tx(m, p, taken);
	return msql_tx_end(m, own, ret);
}

static int project_update_tx(struct meta *m, struct meta_project *p, unsigned *taken)
{
	static const struct stmt_text st = {
		.sql = "UPDATE projects SET name = ?2, description = ?3, visibility = ?4,"
		" packages_enabled = ?5, updated_at = ?6 WHERE id = ?1 AND pending_delete = 0"};
	bool t = false;
	int ret = name_taken(m, p->group_id, p->name, p->id, &t);
	if (ret != 0)
		return ret;
	if (t) {
		*taken |= META_TAKEN_NAME;
		return -EEXIST;
	}
	p->updated_at_ms = now_ms();
	struct sql_arg a[] = {SQLI(p->id),	     SQLT(p->name), SQLT(p->description),
			      SQLI(p->visibility), SQLI(p->packages_enabled),
			      SQLI(p->updated_at_ms)};
	int64_t changed = 0;
	ret = msql_exec(m, &st, a, SQLN(a), &changed);
	return ret == 0 && !changed ? -ENOENT : ret;
}

int msql_project_update(struct meta *m, struct meta_project *p, unsigned *taken)
{
	bool own;
	*taken = 0;
	int ret = msql_tx_begin(m, &own);
	if (ret == 0)
		ret = project_update_tx(m, p, taken);
	return msql_tx_end(m, own, ret);
}

static int project_delete_tx(struct meta *m, int64_t project_id)
{
	static const struct stmt_text packages = {
		.sql = "SELECT id FROM packages WHERE project_id = ?1 AND status != 4 ORDER BY id"};
	static const struct stmt_text tokens = {
		.sql = "UPDATE tokens SET revoked = 1 WHERE project_id = ?1 AND revoked = 0"};
	static const struct stmt_text mark = {
		.sql = "UPDATE projects SET path = ?2, name = ?3, pending_delete = 1, updated_at = ?4"
		" WHERE id = ?1 AND pending_delete = 0"};
	struct meta_project p;
	int ret = m->ops->project_get(m, project_id, &p);
	if (ret != 0)
		return ret;
	char path[FULL_PATH_MAX + 64], name[DISPLAY_NAME_MAX + 64];
	scheduled_name(path, sizeof(path), p.path, p.id);
	scheduled_name(name, sizeof(name), p.name, p.id);
	struct sql_arg a[] = {SQLI(project_id)};
	struct sql_arg b[] = {SQLI(project_id), SQLT(path), SQLT(name), SQLI(now_ms())};
	if ((ret = destroy_packages(m, &packages, project_id)) == 0 &&
	    (ret = msql_exec(m, &tokens, a, SQLN(a), NULL)) == 0)
		ret = msql_exec(m, &mark, b, SQLN(b), NULL);
	return ret;
}

int msql_project_delete(struct meta *m, int64_t project_id)
{
	bool own;
	int ret = msql_tx_begin(m, &own);
	if (ret == 0)
		ret = project_delete_tx(m, project_id);
	return msql_tx_end(m, own, ret);
}

int msql_project_levels(struct meta *m, int64_t user_id, int64_t project_id,
			enum access_level *direct, enum access_level *via_groups)
{
	static const struct stmt_text own = {
		.sql = "SELECT COALESCE(MAX(access_level), 0) FROM members WHERE user_id = ?1"
		" AND project_id = ?2 AND group_id = 0"};
	static const struct stmt_text groups = {
		.sql = "WITH RECURSIVE anc(id) AS (SELECT group_id FROM projects WHERE id = ?2"
		" UNION SELECT g.parent_id FROM groups g JOIN anc ON g.id = anc.id"
		" WHERE g.parent_id IS NOT NULL)"
		" SELECT COALESCE(MAX(access_level), 0) FROM members WHERE user_id = ?1"
		" AND project_id = 0 AND group_id IN (SELECT id FROM anc)"};
	struct sql_arg a[] = {SQLI(user_id), SQLI(project_id)};
	int64_t d = 0, g = 0;
	int ret = msql_int(m, &own, a, SQLN(a), &d);
	if (ret == 0)
		ret = msql_int(m, &groups, a, SQLN(a), &g);
	*direct = (enum access_level)d;
	*via_groups = (enum access_level)g;
	return ret;
}
