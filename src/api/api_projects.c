/* GitLab's REST resources for groups and projects: listings of what the caller may see,
 * details, creation, updates and deletion, with GitLab's entities (Group, GroupDetail,
 * Project, BasicProjectDetails), validation bodies and statuses. Who may do what is
 * auth_decide's; deletion marks the packages pending destruction, as a package delete does,
 * and gc removes their contents. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "timeutil.h"

#define MAX_PATH_SEGMENT 255
#define DESCRIPTION_LIMIT 2000 /* GitLab's projects.description limit */

static const char *const visibility_names[] = {"private", "internal", "public", NULL};
static const enum visibility visibility_values[] = {VIS_PRIVATE, VIS_INTERNAL, VIS_PUBLIC};
static const char *const project_creation_names[] = {"noone", "maintainer", "developer",
						     "administrator", NULL};
/* "noone" is level 0: auth_decide grants create_project to no member then */
static const enum access_level project_creation_values[] = {ACCESS_NONE, ACCESS_MAINTAINER,
							    ACCESS_DEVELOPER, ACCESS_ADMIN};
static const char *const subgroup_creation_names[] = {"owner", "maintainer", NULL};
static const enum access_level subgroup_creation_values[] = {ACCESS_OWNER, ACCESS_MAINTAINER};

#define PATH_RULE                                                                           \
	"can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in" \
	" '.git' or end in '.atom'"
#define GROUP_NAME_RULE                                                                     \
	"can contain only letters, digits, emoji, '_', '.', dash, space, parenthesis. It"   \
	" must start with letter, digit, emoji or '_'."
#define PROJECT_NAME_RULE                                                                   \
	"can contain only letters, digits, emoji, '_', '.', '+', dashes, or spaces. It must" \
	" start with a letter, digit, emoji, or '_'."

static const char *project_creation_name(enum access_level level)
{
	for (int i = 0; project_creation_names[i]; i++)
		if (project_creation_values[i] == level)
			return project_creation_names[i];
	return "maintainer";
}

static const char *subgroup_creation_name(enum access_level level)
{
	return level == ACCESS_OWNER ? "owner" : "maintainer";
}

/* ---- the caller ---- */

struct caller {
	int64_t user_id; /* 0: anonymous (job and deploy tokens too, on these routes) */
	bool admin;
};

static struct caller caller_of(const struct request *r)
{
	struct caller c = {0};
	if (auth_is_person(&r->ident)) {
		c.user_id = r->ident.user.id;
		c.admin = r->ident.user.is_admin;
	}
	return c;
}

/* ---- names and paths ---- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

static bool path_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

/* GitLab's path of one namespace or project: letters, digits, '_', '-', '.'; not
 * starting with '-', not "." or "..", not ending in ".git" or ".atom". */
static bool valid_path(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > MAX_PATH_SEGMENT || s[0] == '-' || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0 || ends_with(s, ".git") || ends_with(s, ".atom"))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!path_char(s[i]))
			return false;
	return true;
}

static bool name_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c >= 0x80; /* letters of other scripts and emoji */
}

/* GitLab's group and project names: a letter, digit, emoji or '_' first, then those,
 * '.', dashes, spaces and (groups) parentheses or (projects) '+'. */
static bool valid_name(const char *s, const char *extra)
{
	size_t n = strlen(s);
	if (n == 0 || n > DISPLAY_NAME_MAX || !name_start((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!name_start(c) && c != '.' && c != '-' && c != ' ' && !strchr(extra, c))
			return false;
	}
	return true;
}

/* A path from a name that is not a valid path: lower case, every run of other characters
 * a '-', no '-' or '.' at either end (GitLab's parameterize). */
static void parameterize(const char *name, char *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = name; *p && n + 1 < cap; p++) {
		char c = *p;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!path_char(c))
			c = '-';
		if (c == '-' && (n == 0 || out[n - 1] == '-'))
			continue;
		out[n++] = c;
	}
	while (n > 0 && (out[n - 1] == '-' || out[n - 1] == '.'))
		n--;
	out[n] = '\0';
}

/* ---- entities ---- */

/* "Parent / Child" of a group or namespace: its ancestors' names and its own. */
static void full_name(struct meta *m, const struct meta_group *g, char *out, size_t cap)
{
	enum { MAX_DEPTH = 20 }; /* GitLab's limit on nesting */
	char names[MAX_DEPTH][DISPLAY_NAME_MAX + 1];
	int depth = 0;
	struct meta_group up = *g;
	snprintf(names[depth++], sizeof(names[0]), "%s", g->name);
	while (up.parent_id && depth < MAX_DEPTH && m->ops->group_get(m, up.parent_id, &up) == 0)
		snprintf(names[depth++], sizeof(names[0]), "%s", up.name);
	size_t len = 0;
	out[0] = '\0';
	for (int i = depth - 1; i >= 0 && len < cap; i--) {
		int n = snprintf(out + len, cap - len, "%s%s", i == depth - 1 ? "" : " / ", names[i]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
}

static const char *last_segment(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* GitLab's Group entity. New reference; NULL when memory runs out. */
static json_t *group_json(struct request *r, const struct meta_group *g)
{
	char web_url[HTTP_BASE_URL_MAX + FULL_PATH_MAX + 16], name[1024];
	api_web_url(r, "/groups", g->path, web_url, sizeof(web_url));
	full_name(r->app->meta, g, name, sizeof(name));
	json_t *o = json_pack(
		"{s:I,s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:i,s:s,s:n,s:s,s:b,s:b,s:n,s:b,s:n,s:i,s:n,s:b,"
		"s:s,s:s,s:o,s:o,s:i,s:s,s:n,s:n,s:b}",
		"id", (json_int_t)g->id, "web_url", web_url, "name", g->name, "path",
		last_segment(g->path), "description", g->description, "visibility",
		visibility_name(g->visibility), "share_with_group_lock", 0,
		"require_two_factor_authentication", 0, "two_factor_grace_period", 48,
		"project_creation_level", project_creation_name(g->project_creation_level),
		"auto_devops_enabled", "subgroup_creation_level",
		subgroup_creation_name(g->subgroup_creation_level), "emails_disabled", 0,
		"emails_enabled", 1, "mentions_disabled", "lfs_enabled", 1, "default_branch",
		"default_branch_protection", 2, "avatar_url", "request_access_enabled", 1,
		"full_name", name, "full_path", g->path, "created_at",
		api_time_json(g->created_at_ms), "parent_id",
		g->parent_id ? json_integer(g->parent_id) : json_null(), "organization_id", 1,
		"shared_runners_setting", "enabled", "max_artifacts_size",
		"marked_for_deletion_on", "archived", 0);
	return o;
}

/* The host of the base URL, for ssh_url_to_repo. */
static void base_host(struct request *r, char *out, size_t cap)
{
	char base[HTTP_BASE_URL_MAX + 1];
	http_base_url(r, base, sizeof(base));
	const char *h = strstr(base, "://");
	h = h ? h + 3 : base;
	size_t n = strcspn(h, "/");
	const char *colon = memchr(h, ':', n);
	if (colon && h[0] != '[')
		n = (size_t)(colon - h);
	snprintf(out, cap, "%.*s", (int)n, h);
}

/* The caller's permissions on a project (ProjectWithAccess): its own membership and its
 * groups'; a personal namespace's owner holds the project itself, as on GitLab. */
static json_t *permissions_json(struct request *r, const struct meta_project *p,
				const struct meta_group *ns, const struct caller *c)
{
	enum access_level direct = ACCESS_NONE, via = ACCESS_NONE;
	if (r->app->meta->ops->project_levels(r->app->meta, c->user_id, p->id, &direct, &via) != 0)
		return json_null();
	if (ns->owner_id) {
		direct = direct > via ? direct : via;
		via = ACCESS_NONE;
	}
	json_t *pa = direct ? json_pack("{s:i,s:i}", "access_level", direct, "notification_level", 3)
			    : json_null();
	json_t *ga = via ? json_pack("{s:i,s:i}", "access_level", via, "notification_level", 3)
			 : json_null();
	return json_pack("{s:o,s:o}", "project_access", pa, "group_access", ga);
}

/* GitLab's Project entity, or with simple its BasicProjectDetails; permissions for a
 * signed-in caller. New reference; NULL on failure. */
static json_t *project_json(struct request *r, const struct meta_project *p, bool simple,
			    const struct caller *c)
{
	struct meta *m = r->app->meta;
	struct meta_group ns = {0};
	if (m->ops->group_get(m, p->group_id, &ns) != 0)
		return NULL;
	char base[HTTP_BASE_URL_MAX + 1], web_url[HTTP_BASE_URL_MAX + FULL_PATH_MAX + 8];
	char http_url[sizeof(web_url) + 8], ssh_url[HTTP_HOST_NAME_MAX + FULL_PATH_MAX + 16];
	char host[HTTP_HOST_NAME_MAX + 1], ns_name[1024], with_ns[1400];
	http_base_url(r, base, sizeof(base));
	api_web_url(r, "", p->path, web_url, sizeof(web_url));
	snprintf(http_url, sizeof(http_url), "%s.git", web_url);
	base_host(r, host, sizeof(host));
	snprintf(ssh_url, sizeof(ssh_url), "git@%s:%s.git", host, p->path);
	full_name(m, &ns, ns_name, sizeof(ns_name));
	snprintf(with_ns, sizeof(with_ns), "%s / %s", ns_name, p->name);
	json_t *o = json_pack(
		"{s:I,s:s,s:s,s:s,s:s,s:s,s:o,s:n,s:[],s:[],s:s,s:s,s:s,s:n,s:i,s:n,s:i,s:o,s:o}",
		"id", (json_int_t)p->id, "description", p->description, "name", p->name,
		"name_with_namespace", with_ns, "path", last_segment(p->path),
		"path_with_namespace", p->path, "created_at", api_time_json(p->created_at_ms),
		"default_branch", "tag_list", "topics", "ssh_url_to_repo", ssh_url,
		"http_url_to_repo", http_url, "web_url", web_url, "readme_url", "forks_count", 0,
		"avatar_url", "star_count", 0, "last_activity_at",
		api_time_json(p->updated_at_ms), "namespace", api_namespace_json(r, &ns));
	if (!o || simple)
		return o;
	char self[HTTP_BASE_URL_MAX + 64], link[HTTP_BASE_URL_MAX + 96];
	snprintf(self, sizeof(self), "%s/api/v4/projects/%lld", base, (long long)p->id);
	json_t *links = json_object();
	static const char *const rels[][2] = {
		{"issues", "/issues"},	       {"merge_requests", "/merge_requests"},
		{"repo_branches", "/repository/branches"},
		{"labels", "/labels"},	       {"events", "/events"},
		{"members", "/members"},       {"cluster_agents", "/cluster_agents"}};
	json_object_set_new(links, "self", json_string(self));
	for (size_t i = 0; i < sizeof(rels) / sizeof(rels[0]); i++) {
		snprintf(link, sizeof(link), "%s%s", self, rels[i][1]);
		json_object_set_new(links, rels[i][0], json_string(link));
	}
	const char *registry = p->packages_enabled ? "enabled" : "disabled";
	json_t *more = json_pack(
		"{s:s,s:b,s:b,s:b,s:s,s:o,s:I,s:o,s:b,s:b,s:b,s:b,s:b,s:s,s:s,s:s,s:s,s:s,s:i,"
		"s:n,s:n,s:[],s:b,s:b,s:b,s:s}",
		"visibility", visibility_name(p->visibility), "archived", 0, "empty_repo", 1,
		"packages_enabled", p->packages_enabled, "package_registry_access_level", registry,
		"updated_at", api_time_json(p->updated_at_ms), "creator_id",
		(json_int_t)p->creator_id, "_links", links, "issues_enabled", 0,
		"merge_requests_enabled", 0, "wiki_enabled", 0, "jobs_enabled", 0,
		"container_registry_enabled", 0, "issues_access_level", "disabled",
		"repository_access_level", "enabled", "merge_requests_access_level", "disabled",
		"builds_access_level", "disabled", "container_registry_access_level", "disabled",
		"open_issues_count", 0, "marked_for_deletion_at", "marked_for_deletion_on",
		"shared_with_groups", "request_access_enabled", 0, "lfs_enabled", 0,
		"shared_runners_enabled", 0, "import_status", "none");
	if (!more) {
		json_decref(o);
		return NULL;
	}
	json_object_update(o, more);
	json_decref(more);
	if (ns.owner_id) {
		struct meta_user u;
		if (m->ops->user_get(m, ns.owner_id, &u) == 0)
			json_object_set_new(o, "owner", api_user_basic_json(r, &u));
	}
	if (c->user_id)
		json_object_set_new(o, "permissions", permissions_json(r, p, &ns, c));
	return o;
}

/* GitLab's ProjectStatistics: depot holds packages only, what it does not have is 0. */
static json_t *statistics_json(int64_t packages_size)
{
	return json_pack("{s:i,s:I,s:i,s:i,s:i,s:i,s:i,s:I,s:i,s:i,s:i}", "commit_count", 0,
			 "storage_size", (json_int_t)packages_size, "repository_size", 0,
			 "wiki_size", 0, "lfs_objects_size", 0, "job_artifacts_size", 0,
			 "pipeline_artifacts_size", 0, "packages_size", (json_int_t)packages_size,
			 "snippets_size", 0, "uploads_size", 0, "container_registry_size", 0);
}

/* statistics=true shows them to Reporters and above (GitLab's read_statistics). */
static bool may_read_statistics(const struct abilities *ab)
{
	return ab->level >= ACCESS_REPORTER;
}

/* Sets "statistics" on items[i] for ids[i]: one query for them all. */
static int add_statistics(struct meta *m, json_t *const *items, const int64_t *ids, size_t n)
{
	int64_t sizes[100];
	if (n > sizeof(sizes) / sizeof(sizes[0]))
		return -EINVAL;
	int ret = n ? m->ops->projects_packages_size(m, ids, n, sizes) : 0;
	for (size_t i = 0; ret == 0 && i < n; i++) {
		json_t *st = statistics_json(sizes[i]);
		ret = st && json_object_set_new(items[i], "statistics", st) == 0 ? 0 : -ENOMEM;
	}
	return ret;
}

/* ---- loading the subject ---- */

static int project_or_reply(struct request *r, struct meta_project *p, struct abilities *ab)
{
	if (api_identify_or_reply(r) != 0)
		return -1;
	return api_project_or_reply_as(r, 0, "404 Project Not Found", false, p, ab);
}

/* ---- parameters ---- */

static int visibility_param(struct request *r, int *out)
{
	int i = -1, got = api_param_enum(r, "visibility", visibility_names, &i);
	if (got > 0)
		*out = (int)visibility_values[i];
	return got;
}

/* A Boolean parameter with a default; -1 having replied. */
static int bool_param(struct request *r, const char *name, bool def, bool *out)
{
	*out = def;
	return api_param_bool(r, name, out) < 0 ? -1 : 0;
}

/* order_by and sort: *order the index in orders, *desc. */
static int order_params(struct request *r, const char *const *orders, int def_order,
			bool def_desc, int *order, bool *desc)
{
	static const char *const sorts[] = {"asc", "desc", NULL};
	int s = def_desc ? 1 : 0;
	*order = def_order;
	if (api_param_enum(r, "order_by", orders, order) < 0 ||
	    api_param_enum(r, "sort", sorts, &s) < 0)
		return -1;
	*desc = s == 1;
	return 0;
}

/* 400 {"message":{"<attr>":["<msg>"]}}: GitLab's render_validation_error!. */
static void reply_invalid(struct request *r, const char *attr, const char *msg)
{
	http_reply_json(r, MHD_HTTP_BAD_REQUEST,
			json_pack("{s:{s:[s]}}", "message", attr, msg));
}

/* POST /groups' failure: the model's errors as a Ruby hash inside a string. */
static void reply_group_not_saved(struct request *r, const char *attr, const char *msg)
{
	char text[512];
	snprintf(text, sizeof(text), "Failed to save group {:%s=>[\"%s\"]}", attr, msg);
	http_reply_message(r, MHD_HTTP_BAD_REQUEST, text);
}

/* ---- listings ---- */

struct list_out {
	struct request *r;
	json_t *items;
	bool simple;
	struct caller c;
	bool statistics; /* statistics=true: the projects whose statistics the caller may read */
	size_t nstat;
	int64_t stat_ids[100]; /* per_page is at most 100 */
	json_t *stat_items[100];
};

static int add_group(void *ctx, const struct meta_group *g)
{
	struct list_out *l = ctx;
	json_t *o = group_json(l->r, g);
	return o && json_array_append_new(l->items, o) == 0 ? 0 : -ENOMEM;
}

static int add_project(void *ctx, const struct meta_project *p)
{
	struct list_out *l = ctx;
	json_t *o = project_json(l->r, p, l->simple, &l->c);
	if (!o || json_array_append_new(l->items, o) != 0)
		return -ENOMEM;
	struct abilities ab;
	if (!l->statistics || l->simple || l->nstat == sizeof(l->stat_ids) / sizeof(l->stat_ids[0]))
		return 0;
	int ret = auth_abilities(l->r->app->meta, &l->r->ident, p, &ab);
	if (ret == 0 && may_read_statistics(&ab)) {
		l->stat_ids[l->nstat] = p->id;
		l->stat_items[l->nstat++] = o;
	}
	return ret;
}

/* GET /groups and GET /groups/:id/subgroups (parent_id != 0). */
static void groups_list(struct request *r, int64_t parent_id)
{
	static const char *const orders[] = {"name", "path", "id", NULL};
	static const int64_t access_values[] = {5, 10, 15, 20, 30, 40, 50};
	struct page pg;
	struct caller c = caller_of(r);
	struct group_query q = {.user_id = c.user_id, .admin = c.admin, .parent_id = parent_id,
				.visibility = -1};
	int order;
	int64_t min = 0;
	bool all_default = c.admin || parent_id != 0;
	if (api_page_or_reply(r, &pg) != 0 || bool_param(r, "all_available", all_default,
							 &q.all_available) != 0 ||
	    bool_param(r, "owned", false, &q.owned) != 0 ||
	    bool_param(r, "top_level_only", false, &q.top_level_only) != 0 ||
	    api_param_str(r, "search", &q.search) < 0 || visibility_param(r, &q.visibility) < 0 ||
	    order_params(r, orders, 0, false, &order, &q.desc) != 0 ||
	    api_param_int(r, "min_access_level", &min) < 0)
		return;
	if (min) {
		bool known = false;
		for (size_t i = 0; i < sizeof(access_values) / sizeof(access_values[0]); i++)
			known |= access_values[i] == min;
		if (!known) {
			api_param_or_reply(r, "min_access_level", "does not have a valid value");
			return;
		}
	}
	q.min_access_level = (int)min;
	q.order = (enum group_order)order;
	q.limit = pg.per_page;
	q.offset = (pg.page - 1) * pg.per_page;
	struct list_out l = {.r = r, .items = json_array(), .c = c};
	int64_t total = 0;
	int ret = r->app->meta->ops->groups_list(r->app->meta, &q, add_group, &l, &total);
	if (ret != 0) {
		json_decref(l.items);
		http_reply_internal(r, "group listing failed", ret);
		return;
	}
	api_reply_page(r, l.items, total, &pg);
}

void groups_list_done(struct request *r)
{
	struct abilities ab;
	if (api_instance_or_reply(r, &ab) == 0)
		groups_list(r, 0);
}

void group_subgroups_done(struct request *r)
{
	struct meta_group g;
	struct abilities ab;
	if (api_identify_or_reply(r) == 0 && api_group_or_reply(r, 0, &g, &ab) == 0)
		groups_list(r, g.id);
}

/* GET /projects and GET /groups/:id/projects (group_id != 0). */
static void projects_list(struct request *r, int64_t group_id)
{
	static const char *const orders[] = {"created_at", "id", "name", "path", "updated_at",
					     "last_activity_at", NULL};
	struct page pg;
	struct caller c = caller_of(r);
	struct project_query q = {.user_id = c.user_id, .admin = c.admin, .group_id = group_id,
				  .visibility = -1};
	int order;
	bool simple, statistics;
	if (api_page_or_reply(r, &pg) != 0 || bool_param(r, "simple", false, &simple) != 0 ||
	    bool_param(r, "membership", false, &q.membership) != 0 ||
	    bool_param(r, "owned", false, &q.owned) != 0 ||
	    bool_param(r, "include_subgroups", false, &q.include_subgroups) != 0 ||
	    bool_param(r, "statistics", false, &statistics) != 0 ||
	    api_param_str(r, "search", &q.search) < 0 || visibility_param(r, &q.visibility) < 0 ||
	    order_params(r, orders, 0, true, &order, &q.desc) != 0)
		return;
	/* last_activity_at is updated_at here: nothing else happens to a project */
	q.order = order == 5 ? PROJECT_ORDER_UPDATED_AT : (enum project_order)order;
	q.limit = pg.per_page;
	q.offset = (pg.page - 1) * pg.per_page;
	struct list_out l = {.r = r, .items = json_array(), .simple = simple || !c.user_id,
			     .c = c, .statistics = statistics};
	int64_t total = 0;
	int ret = l.items ? r->app->meta->ops->projects_list(r->app->meta, &q, add_project, &l,
							     &total)
			  : -ENOMEM;
	if (ret == 0)
		ret = add_statistics(r->app->meta, l.stat_items, l.stat_ids, l.nstat);
	if (ret != 0) {
		json_decref(l.items);
		http_reply_internal(r, "project listing failed", ret);
		return;
	}
	api_reply_page(r, l.items, total, &pg);
}

void projects_list_done(struct request *r)
{
	struct abilities ab;
	if (api_instance_or_reply(r, &ab) == 0)
		projects_list(r, 0);
}

void group_projects_done(struct request *r)
{
	struct meta_group g;
	struct abilities ab;
	if (api_identify_or_reply(r) == 0 && api_group_or_reply(r, 0, &g, &ab) == 0)
		projects_list(r, g.id);
}

/* ---- groups ---- */

/* GroupDetail: the Group, shared_with_groups and, with projects, the group's own projects
 * the caller sees (at most 100, as GitLab). */
static void reply_group_detail(struct request *r, unsigned status, const struct meta_group *g,
			       bool with_projects)
{
	json_t *o = group_json(r, g);
	if (!o) {
		http_reply_internal(r, "out of memory", -ENOMEM);
		return;
	}
	json_object_set_new(o, "shared_with_groups", json_array());
	if (!g->parent_id)
		json_object_set_new(o, "prevent_sharing_groups_outside_hierarchy", json_false());
	if (with_projects) {
		struct caller c = caller_of(r);
		struct project_query q = {.user_id = c.user_id, .admin = c.admin,
					  .group_id = g->id, .visibility = -1, .limit = 100};
		struct list_out l = {.r = r, .items = json_array(), .c = c};
		int64_t total;
		int ret = r->app->meta->ops->projects_list(r->app->meta, &q, add_project, &l, &total);
		if (ret != 0) {
			json_decref(l.items);
			json_decref(o);
			http_reply_internal(r, "project listing failed", ret);
			return;
		}
		json_object_set_new(o, "projects", l.items);
		json_object_set_new(o, "shared_projects", json_array());
	}
	http_reply_json(r, status, o);
}

void group_get_done(struct request *r)
{
	struct meta_group g;
	struct abilities ab;
	bool with_projects;
	if (api_identify_or_reply(r) == 0 && api_group_or_reply(r, 0, &g, &ab) == 0 &&
	    bool_param(r, "with_projects", true, &with_projects) == 0)
		reply_group_detail(r, MHD_HTTP_OK, &g, with_projects);
}

/* The creation levels and visibility a POST or PUT gives; absent ones keep g's. */
static int group_levels_params(struct request *r, struct meta_group *g)
{
	int i = -1, vis = (int)g->visibility, got;
	if ((got = api_param_enum(r, "project_creation_level", project_creation_names, &i)) < 0)
		return -1;
	if (got)
		g->project_creation_level = project_creation_values[i];
	if ((got = api_param_enum(r, "subgroup_creation_level", subgroup_creation_names, &i)) < 0)
		return -1;
	if (got)
		g->subgroup_creation_level = subgroup_creation_values[i];
	if (visibility_param(r, &vis) < 0)
		return -1;
	g->visibility = (enum visibility)vis;
	return 0;
}

/* The description if given: 400 past GitLab's limit. 1 given, 0 absent, -1 replied. */
static int description_param(struct request *r, char *out, size_t cap, bool group)
{
	const char *s;
	int got = api_param_str(r, "description", &s);
	if (got <= 0)
		return got;
	if (strlen(s) > DESCRIPTION_LIMIT || strlen(s) >= cap) {
		const char *msg = "is too long (maximum is 2000 characters)";
		if (group)
			reply_group_not_saved(r, "description", msg);
		else
			reply_invalid(r, "description", msg);
		return -1;
	}
	snprintf(out, cap, "%s", s);
	return 1;
}

void groups_create_done(struct request *r)
{
	static const char *const required[] = {"name", "path", NULL};
	struct meta *m = r->app->meta;
	struct abilities ab;
	const char *name = NULL, *path = NULL;
	int64_t parent_id = 0;
	if (api_instance_or_reply(r, &ab) != 0 || api_missing_or_reply(r, required) != 0 ||
	    api_param_str(r, "name", &name) < 0 || api_param_str(r, "path", &path) < 0 ||
	    api_param_int(r, "parent_id", &parent_id) < 0)
		return;
	struct meta_group g = {.visibility = VIS_PRIVATE,
			       .project_creation_level = ACCESS_MAINTAINER,
			       .subgroup_creation_level = ACCESS_MAINTAINER};
	if (group_levels_params(r, &g) != 0 ||
	    description_param(r, g.description, sizeof(g.description), true) < 0)
		return;
	struct meta_group parent = {0};
	if (parent_id) {
		struct abilities pab = {0};
		int ret = m->ops->group_get(m, parent_id, &parent);
		if (ret == 0 && parent.owner_id)
			ret = -ENOENT; /* a user's namespace has no subgroups */
		if (ret == 0)
			ret = auth_group_abilities(m, &r->ident, &parent, &pab);
		if (ret != 0 && ret != -ENOENT) {
			http_reply_internal(r, "group lookup failed", ret);
			return;
		}
		if (ret == -ENOENT || !pab.read_project) {
			http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Group Not Found");
			return;
		}
		if (!abilities_allow(&pab, ABILITY_CREATE_SUBGROUP)) {
			http_reply_message(r, MHD_HTTP_FORBIDDEN, "403 Forbidden");
			return;
		}
	}
	if (!valid_path(path)) {
		reply_group_not_saved(r, "path", PATH_RULE);
		return;
	}
	if (!valid_name(name, "()")) {
		reply_group_not_saved(r, "name", GROUP_NAME_RULE);
		return;
	}
	int n = parent_id ? snprintf(g.path, sizeof(g.path), "%s/%s", parent.path, path)
			  : snprintf(g.path, sizeof(g.path), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(g.path)) {
		reply_group_not_saved(r, "path", "is too long (maximum is 255 characters)");
		return;
	}
	if (parent_id && g.visibility > parent.visibility) {
		char msg[160];
		snprintf(msg, sizeof(msg),
			 "%s is not allowed since the parent group has a %s visibility.",
			 visibility_name(g.visibility), visibility_name(parent.visibility));
		reply_group_not_saved(r, "visibility_level", msg);
		return;
	}
	snprintf(g.name, sizeof(g.name), "%s", name);
	g.parent_id = parent_id;
	unsigned taken = 0;
	/* the creator is its Owner, as on GitLab (admins too) */
	int ret = m->ops->group_add(m, &g, r->ident.user.id, &taken);
	if (ret == -EEXIST && taken) {
		reply_group_not_saved(r, "path", "has already been taken");
		return;
	}
	if (ret != 0) {
		http_reply_internal(r, "group creation failed", ret);
		return;
	}
	reply_group_detail(r, MHD_HTTP_CREATED, &g, false);
}

/* PUT's visibility: not above the parent's, not below its subgroups' or projects'. */
static int group_visibility_or_reply(struct request *r, const struct meta_group *g)
{
	struct meta *m = r->app->meta;
	char msg[160];
	const char *level = visibility_name(g->visibility);
	if (g->parent_id) {
		struct meta_group parent;
		int ret = m->ops->group_get(m, g->parent_id, &parent);
		if (ret != 0) {
			http_reply_internal(r, "group lookup failed", ret);
			return -1;
		}
		if (g->visibility > parent.visibility) {
			snprintf(msg, sizeof(msg),
				 "%s is not allowed since the parent group has a %s visibility.", level,
				 visibility_name(parent.visibility));
			reply_invalid(r, "visibility_level", msg);
			return -1;
		}
	}
	int subgroups = -1, projects = -1;
	int ret = m->ops->group_children_visibility(m, g->id, &subgroups, &projects);
	if (ret != 0) {
		http_reply_internal(r, "group lookup failed", ret);
		return -1;
	}
	if ((int)g->visibility < projects) {
		snprintf(msg, sizeof(msg),
			 "%s is not allowed since this group contains projects with higher"
			 " visibility.", level);
		reply_invalid(r, "visibility_level", msg);
		return -1;
	}
	if ((int)g->visibility < subgroups) {
		snprintf(msg, sizeof(msg),
			 "%s is not allowed since there are sub-groups with higher visibility.", level);
		reply_invalid(r, "visibility_level", msg);
		return -1;
	}
	return 0;
}

void group_update_done(struct request *r)
{
	struct meta *m = r->app->meta;
	struct meta_group g;
	struct abilities ab;
	const char *name = NULL, *path = NULL;
	int got_name, got_path;
	if (api_identify_or_reply(r) != 0 || api_group_or_reply(r, 0, &g, &ab) != 0 ||
	    (got_name = api_param_str(r, "name", &name)) < 0 ||
	    (got_path = api_param_str(r, "path", &path)) < 0)
		return;
	enum visibility old_vis = g.visibility;
	if (group_levels_params(r, &g) != 0 ||
	    description_param(r, g.description, sizeof(g.description), false) < 0)
		return;
	if (got_name && !valid_name(name, "()")) {
		reply_invalid(r, "name", GROUP_NAME_RULE);
		return;
	}
	if (got_path && !valid_path(path)) {
		reply_invalid(r, "path", PATH_RULE);
		return;
	}
	if (g.visibility != old_vis && group_visibility_or_reply(r, &g) != 0)
		return;
	if (got_name)
		snprintf(g.name, sizeof(g.name), "%s", name);
	if (got_path) {
		size_t keep = strlen(g.path) - strlen(last_segment(g.path));
		int n = snprintf(g.path + keep, sizeof(g.path) - keep, "%s", path);
		if (n < 0 || (size_t)n >= sizeof(g.path) - keep) {
			reply_invalid(r, "path", "is too long (maximum is 255 characters)");
			return;
		}
	}
	unsigned taken = 0;
	int ret = m->ops->group_update(m, &g, &taken);
	if (ret == -EEXIST && taken) {
		reply_invalid(r, "path", "has already been taken");
		return;
	}
	if (ret == 0)
		ret = m->ops->group_get(m, g.id, &g);
	if (ret != 0) {
		http_reply_internal(r, "group update failed", ret);
		return;
	}
	reply_group_detail(r, MHD_HTTP_OK, &g, true);
}

void group_delete_done(struct request *r)
{
	struct meta_group g;
	struct abilities ab;
	if (api_identify_or_reply(r) != 0 || api_group_or_reply(r, 0, &g, &ab) != 0)
		return;
	int ret = r->app->meta->ops->group_delete(r->app->meta, g.id);
	if (ret == -ENOENT) { /* a concurrent delete */
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Group Not Found");
		return;
	}
	if (ret != 0) {
		http_reply_internal(r, "group deletion failed", ret);
		return;
	}
	http_reply_message(r, MHD_HTTP_ACCEPTED, "202 Accepted");
}

/* ---- projects ---- */

/* The Project entity; with ab (GET) and statistics=true, its statistics for Reporters. */
static void reply_project_as(struct request *r, unsigned status, const struct meta_project *p,
			     const struct abilities *ab)
{
	struct caller c = caller_of(r);
	bool statistics = false;
	if (ab && bool_param(r, "statistics", false, &statistics) != 0)
		return;
	json_t *o = project_json(r, p, false, &c);
	int ret = o ? 0 : -ENOMEM;
	if (ret == 0 && statistics && may_read_statistics(ab))
		ret = add_statistics(r->app->meta, &o, &p->id, 1);
	if (ret != 0) {
		json_decref(o);
		http_reply_internal(r, "project entity failed", ret);
	} else {
		http_reply_json(r, status, o);
	}
}

static void reply_project(struct request *r, unsigned status, const struct meta_project *p)
{
	reply_project_as(r, status, p, NULL);
}

void project_get_done(struct request *r)
{
	struct meta_project p;
	struct abilities ab;
	/* anonymous callers of a public project get the whole entity too, as on GitLab */
	if (project_or_reply(r, &p, &ab) == 0)
		reply_project_as(r, MHD_HTTP_OK, &p, &ab);
}

/* The namespace POST /projects names (an id or a full path), or the caller's own. */
static int namespace_of(struct request *r, struct meta_group *ns)
{
	struct meta *m = r->app->meta;
	json_t *params = api_params(r);
	json_t *v = params ? json_object_get(params, "namespace_id") : NULL;
	if (!v || json_is_null(v)) {
		const struct meta_user *u = &r->ident.user;
		int ret = m->ops->group_find(m, u->username, ns);
		if (ret == 0 && ns->owner_id == u->id)
			return 0;
		/* a user whose name a group had when namespaces came: "<name>_<id>" */
		char alt[USERNAME_MAX + 24];
		snprintf(alt, sizeof(alt), "%s_%lld", u->username, (long long)u->id);
		ret = m->ops->group_find(m, alt, ns);
		return ret == 0 && ns->owner_id != u->id ? -ENOENT : ret;
	}
	const char *s = json_string_value(v);
	if (json_is_integer(v))
		return m->ops->group_get(m, json_integer_value(v), ns);
	if (!s || !*s)
		return -EINVAL;
	char *end;
	long long id = strtoll(s, &end, 10);
	return *end ? m->ops->group_find(m, s, ns) : m->ops->group_get(m, id, ns);
}

/* packages_enabled and package_registry_access_level (enabled, private and public keep the
 * registry on: depot has no members-only registry of its own). 1 given, 0 not, -1 replied. */
static int packages_params(struct request *r, bool *enabled)
{
	static const char *const levels[] = {"disabled", "private", "enabled", "public", NULL};
	int level = -1, got_level, got;
	bool b = *enabled;
	if ((got = api_param_bool(r, "packages_enabled", &b)) < 0 ||
	    (got_level = api_param_enum(r, "package_registry_access_level", levels, &level)) < 0)
		return -1;
	if (got)
		*enabled = b;
	if (got_level)
		*enabled = level != 0;
	return got || got_level;
}

void projects_create_done(struct request *r)
{
	struct meta *m = r->app->meta;
	struct abilities ab;
	const char *name = NULL, *path = NULL;
	int got_name, got_path;
	if (api_instance_or_reply(r, &ab) != 0 ||
	    (got_name = api_param_str(r, "name", &name)) < 0 ||
	    (got_path = api_param_str(r, "path", &path)) < 0)
		return;
	if ((!got_name || !*name) && (!got_path || !*path)) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST,
				 "name, path are missing, at least one parameter must be provided");
		return;
	}
	struct meta_project p = {.visibility = VIS_PRIVATE, .packages_enabled = true,
				 .creator_id = r->ident.user.id};
	int vis = VIS_PRIVATE;
	if (visibility_param(r, &vis) < 0 || packages_params(r, &p.packages_enabled) < 0 ||
	    description_param(r, p.description, sizeof(p.description), false) < 0)
		return;
	struct meta_group ns;
	int ret = namespace_of(r, &ns);
	struct abilities nab = {0};
	if (ret == 0)
		ret = auth_group_abilities(m, &r->ident, &ns, &nab);
	if (ret != 0 && ret != -ENOENT && ret != -EINVAL) {
		http_reply_internal(r, "namespace lookup failed", ret);
		return;
	}
	if (ret != 0 || !nab.read_project || !abilities_allow(&nab, ABILITY_CREATE_PROJECT)) {
		reply_invalid(r, "namespace", "is not valid");
		return;
	}
	/* only a path: the name is the path; only a name: the path is it, parameterized */
	char seg[FULL_PATH_MAX + 1];
	if (got_path && *path)
		snprintf(seg, sizeof(seg), "%s", path);
	else if (valid_path(name))
		snprintf(seg, sizeof(seg), "%s", name);
	else
		parameterize(name, seg, sizeof(seg));
	snprintf(p.name, sizeof(p.name), "%s", got_name && *name ? name : seg);
	json_t *errors = json_object();
	if (!valid_path(seg))
		json_object_set_new(errors, "path", json_pack("[s]", PATH_RULE));
	if (!valid_name(p.name, "+") || strlen(got_name && *name ? name : seg) >= sizeof(p.name))
		json_object_set_new(errors, "name", json_pack("[s]", PROJECT_NAME_RULE));
	int n = snprintf(p.path, sizeof(p.path), "%s/%s", ns.path, seg);
	if (!json_object_get(errors, "path") && (n < 0 || (size_t)n >= sizeof(p.path)))
		json_object_set_new(errors, "path",
				    json_pack("[s]", "is too long (maximum is 255 characters)"));
	if (json_object_size(errors)) {
		http_reply_json(r, MHD_HTTP_BAD_REQUEST, json_pack("{s:o}", "message", errors));
		return;
	}
	json_decref(errors);
	/* a project is never more visible than its namespace: lowered silently, as GitLab */
	p.visibility = (enum visibility)vis > ns.visibility ? ns.visibility : (enum visibility)vis;
	p.group_id = ns.id;
	unsigned taken = 0;
	ret = m->ops->project_add(m, &p, &taken);
	if (ret == -EEXIST && taken) {
		json_t *msg = json_object();
		if (taken & META_TAKEN_PATH)
			json_object_set_new(msg, "path", json_pack("[s]", "has already been taken"));
		if (taken & META_TAKEN_NAME)
			json_object_set_new(msg, "name", json_pack("[s]", "has already been taken"));
		http_reply_json(r, MHD_HTTP_BAD_REQUEST, json_pack("{s:o}", "message", msg));
		return;
	}
	if (ret != 0) {
		http_reply_internal(r, "project creation failed", ret);
		return;
	}
	reply_project(r, MHD_HTTP_CREATED, &p);
}

void project_update_done(struct request *r)
{
	struct meta *m = r->app->meta;
	struct meta_project p;
	struct abilities ab;
	const char *name = NULL;
	int got_name, got_desc, got_pkgs, vis = -1, got_vis;
	if (project_or_reply(r, &p, &ab) != 0 || (got_name = api_param_str(r, "name", &name)) < 0 ||
	    (got_desc = description_param(r, p.description, sizeof(p.description), false)) < 0 ||
	    (got_vis = visibility_param(r, &vis)) < 0 ||
	    (got_pkgs = packages_params(r, &p.packages_enabled)) < 0)
		return;
	if (!got_name && !got_desc && !got_vis && !got_pkgs) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST,
				 "name, description, visibility, packages_enabled,"
				 " package_registry_access_level are missing, at least one"
				 " parameter must be provided");
		return;
	}
	if (got_vis && (enum visibility)vis != p.visibility) {
		/* GitLab's change_visibility_level: owners */
		if (!abilities_allow(&ab, ABILITY_OWNER)) {
			http_reply_message(r, MHD_HTTP_FORBIDDEN, "403 Forbidden");
			return;
		}
		struct meta_group ns;
		int ret = m->ops->group_get(m, p.group_id, &ns);
		if (ret != 0) {
			http_reply_internal(r, "namespace lookup failed", ret);
			return;
		}
		if ((enum visibility)vis > ns.visibility) {
			char msg[128];
			snprintf(msg, sizeof(msg), "%s is not allowed in a %s group.",
				 visibility_name((enum visibility)vis), visibility_name(ns.visibility));
			reply_invalid(r, "visibility_level", msg);
			return;
		}
		p.visibility = (enum visibility)vis;
	}
	if (got_name) {
		if (!valid_name(name, "+")) {
			reply_invalid(r, "name", PROJECT_NAME_RULE);
			return;
		}
		snprintf(p.name, sizeof(p.name), "%s", name);
	}
	unsigned taken = 0;
	int ret = m->ops->project_update(m, &p, &taken);
	if (ret == -EEXIST && taken) {
		reply_invalid(r, "name", "has already been taken");
		return;
	}
	if (ret == -ENOENT) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Project Not Found");
		return;
	}
	if (ret != 0) {
		http_reply_internal(r, "project update failed", ret);
		return;
	}
	reply_project(r, MHD_HTTP_OK, &p);
}

void project_delete_done(struct request *r)
{
	struct meta_project p;
	struct abilities ab;
	if (project_or_reply(r, &p, &ab) != 0)
		return;
	int ret = r->app->meta->ops->project_delete(r->app->meta, p.id);
	if (ret == -ENOENT) { /* a concurrent delete */
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Project Not Found");
		return;
	}
	if (ret != 0) {
		http_reply_internal(r, "project deletion failed", ret);
		return;
	}
	api_audit(r, "project_delete", p.id, NULL, NULL, NULL, 0, NULL, p.path);
	http_reply_message(r, MHD_HTTP_ACCEPTED, "202 Accepted");
}
