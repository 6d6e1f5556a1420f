/* Admin subcommands for users, groups, projects and memberships, and reading the audit log. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "cli.h"
#include "timeutil.h"

/* GitLab-like path segments: [A-Za-z0-9_.-], starting with a letter, digit, '_' or '.',
 * never "." or "..". Nested paths join segments with '/'. */
static bool valid_namespace_path(const char *s, bool nested)
{
	size_t n = strlen(s);
	if (n == 0 || n > FULL_PATH_MAX)
		return false;
	const char *seg = s;
	for (;;) {
		size_t len = strcspn(seg, "/");
		if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && strncmp(seg, "..", 2) == 0) ||
		    seg[0] == '-')
			return false;
		for (size_t i = 0; i < len; i++) {
			char c = seg[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			      c == '_' || c == '.' || c == '-'))
				return false;
		}
		if (seg[len] == '\0')
			return true;
		if (!nested)
			return false;
		seg += len + 1;
	}
}

static int list_user(void *ctx, const struct meta_user *u)
{
	char created[ISO8601_LEN + 1];
	iso8601_ms(u->created_at_ms, created);
	if (!ctx) {
		printf("%lld\t%s\t%s\t%s\t%s\t%s\n", (long long)u->id, u->username, u->name,
		       u->is_admin ? "admin" : "-", u->bot ? "bot" : "-", created);
		return 0;
	}
	json_t *o = json_pack("{s:I,s:s,s:s,s:b,s:b,s:s}", "id", (json_int_t)u->id, "username",
			      u->username, "name", u->name, "admin", u->is_admin, "bot", u->bot,
			      "created_at", created);
	return o && json_array_append_new(ctx, o) == 0 ? 0 : -ENOMEM;
}

/* `depot user list [--json]`: every user, by id; a tab-separated line each (with a
 * header), or one JSON array. */
static int cli_user_list(int argc, char **argv)
{
	struct cli_opt opts[] = {{.name = "json"}};
	const char *data = NULL;
	if (cli_parse(argc, argv, opts, 1, NULL, 0, &data) != 0)
		return 2;
	struct meta *m = cli_open_meta(data, NULL);
	if (!m)
		return 1;
	struct user_query q = {.order = USER_ORDER_ID};
	json_t *arr = opts[0].present ? json_array() : NULL;
	if (!arr)
		printf("id\tusername\tname\tadmin\tbot\tcreated\n");
	int ret = m->ops->users_list(m, &q, list_user, arr, NULL);
	m->ops->close(m);
	if (ret != 0) {
		json_decref(arr);
		return cli_fail("cannot list the users: %s", strerror(-ret));
	}
	return arr ? cli_print_json(arr) : 0;
}

int cli_user(int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "list") == 0)
		return cli_user_list(argc - 1, argv + 1);
	if (argc < 1 || strcmp(argv[0], "create") != 0)
		return cli_fail("usage: depot user create NAME [--admin] | depot user list [--json]");
	struct cli_opt opts[] = {{.name = "admin"}};
	const char *pos[1], *data = NULL;
	if (cli_parse(argc - 1, argv + 1, opts, 1, pos, 1, &data) != 0)
		return 2;
	if (!valid_namespace_path(pos[0], false))
		return cli_fail("invalid user name '%s'", pos[0]);
	struct meta *m = cli_open_meta(data, NULL);
	if (!m)
		return 1;
	struct meta_user u = {.is_admin = opts[0].present};
	snprintf(u.username, sizeof(u.username), "%s", pos[0]);
	int ret = m->ops->user_create(m, &u);
	m->ops->close(m);
	if (ret == -EEXIST)
		return cli_fail("user or namespace '%s' already exists", pos[0]);
	if (ret != 0)
		return cli_fail("cannot create user '%s': %s", pos[0], strerror(-ret));
	fprintf(stderr, "depot: created user %s (id %lld)\n", pos[0], (long long)u.id);
	return 0;
}

static int parse_visibility(const char *v, enum visibility *out)
{
	*out = VIS_PRIVATE;
	if (v && visibility_parse(v, out) != 0)
		return cli_fail("unknown visibility '%s' (private, internal or public)", v);
	return 0;
}

struct cli_list {
	bool json;
	int64_t n;
};

static void created_text(int64_t ms, char out[ISO8601_LEN + 1])
{
	if (ms > 0)
		iso8601_ms(ms, out);
	else
		snprintf(out, ISO8601_LEN + 1, "-");
}

static int print_group(void *ctx, const struct meta_group *g)
{
	struct cli_list *l = ctx;
	char created[ISO8601_LEN + 1];
	created_text(g->created_at_ms, created);
	l->n++;
	if (l->json)
		return cli_print_json(json_pack("{s:I,s:s,s:s,s:s,s:s}", "id", (json_int_t)g->id,
						"path", g->path, "name", g->name, "visibility",
						visibility_name(g->visibility), "created_at",
						created));
	printf("%-6lld %-40s %-10s %s\n", (long long)g->id, g->path,
	       visibility_name(g->visibility), created);
	return 0;
}

static int print_project(void *ctx, const struct meta_project *p)
{
	struct cli_list *l = ctx;
	char created[ISO8601_LEN + 1];
	created_text(p->created_at_ms, created);
	l->n++;
	if (l->json)
		return cli_print_json(json_pack("{s:I,s:s,s:s,s:s,s:s,s:b}", "id",
						(json_int_t)p->id, "path", p->path, "name",
						p->name, "visibility",
						visibility_name(p->visibility), "created_at",
						created, "packages_enabled", p->packages_enabled));
	printf("%-6lld %-40s %-10s %-24s %s\n", (long long)p->id, p->path,
	       visibility_name(p->visibility), created,
	       p->packages_enabled ? "packages" : "no-packages");
	return 0;
}

/* `group list` and `project list`: every group (personal namespaces are users) or
 * project, by id, as the REST listings show an admin; pending deletions left out. */
static int cli_list(int argc, char **argv, bool projects)
{
	struct cli_opt opts[] = {{.name = "json"}};
	const char *data = NULL;
	if (cli_parse(argc - 1, argv + 1, opts, 1, NULL, 0, &data) != 0)
		return 2;
	struct meta *m = cli_open_meta(data, NULL);
	if (!m)
		return 1;
	struct cli_list l = {.json = opts[0].present};
	int64_t total = 0, offset = 0;
	int ret = 0;
	if (!l.json)
		printf(projects ? "%-6s %-40s %-10s %-24s %s\n" : "%-6s %-40s %-10s %s\n", "ID", "PATH",
		       "VISIBILITY", "CREATED", "PACKAGES");
	do { /* in pages, so no listing holds every row at once */
		int64_t before = l.n;
		if (projects) {
			struct project_query q = {.admin = true, .user_id = -1, .visibility = -1,
						  .order = PROJECT_ORDER_ID, .limit = 1000,
						  .offset = offset};
			ret = m->ops->projects_list(m, &q, print_project, &l, &total);
		} else {
			struct group_query q = {.admin = true, .all_available = true, .user_id = -1,
						.visibility = -1, .order = GROUP_ORDER_ID,
						.limit = 1000, .offset = offset};
			ret = m->ops->groups_list(m, &q, print_group, &l, &total);
		}
		if (l.n == before)
			break;
		offset = l.n;
	} while (ret == 0 && offset < total);
	m->ops->close(m);
	if (ret != 0)
		return cli_fail("cannot list the %s: %s", projects ? "projects" : "groups",
				strerror(-ret));
	return 0;
}

int cli_group(int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "list") == 0)
		return cli_list(argc, argv, false);
	if (argc < 1 || strcmp(argv[0], "create") != 0)
		return cli_fail("usage: depot group create PATH [--visibility private|internal|public]\n"
				"       depot group list [--json]");
	struct cli_opt opts[] = {{.name = "visibility", .has_value = true}};
	const char *pos[1], *data = NULL;
	enum visibility vis;
	if (cli_parse(argc - 1, argv + 1, opts, 1, pos, 1, &data) != 0)
		return 2;
	if (parse_visibility(opts[0].value, &vis) != 0)
		return 2;
	if (!valid_namespace_path(pos[0], true))
		return cli_fail("invalid group path '%s'", pos[0]);
	struct meta *m = cli_open_meta(data, NULL);
	if (!m)
		return 1;
	struct meta_group g = {.visibility = vis};
	snprintf(g.path, sizeof(g.path), "%s", pos[0]);
	int ret = m->ops->group_create(m, &g);
	int64_t id = g.id;
	m->ops->close(m);
	if (ret == -EEXIST)
		return cli_fail("a group or user '%s' already exists", pos[0]);
	if (ret == -EINVAL)
		return cli_fail("the parent group of '%s' does not exist", pos[0]);
	if (ret != 0)
		return cli_fail("cannot create group '%s': %s", pos[0], strerror(-ret));
	fprintf(stderr, "depot: created group %s (id %lld)\n", pos[0], (long long)id);
	return 0;
}

int cli_project(int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "list") == 0)
		return cli_list(argc, argv, true);
	if (argc < 1 || strcmp(argv[0], "create") != 0)
		return cli_fail("usage: depot project create GROUP/NAME [--visibility ...]\n"
				"       depot project list [--json]");
	struct cli_opt opts[] = {{.name = "visibility", .has_value = true}};
	const char *pos[1], *data = NULL;
	enum visibility vis;
	if (cli_parse(argc - 1, argv + 1, opts, 1, pos, 1, &data) != 0)
		return 2;
	if (parse_visibility(opts[0].value, &vis) != 0)
		return 2;
	if (!valid_namespace_path(pos[0], true) || !strchr(pos[0], '/'))
		return cli_fail("invalid project path '%s' (GROUP/NAME)", pos[0]);
	struct meta *m = cli_open_meta(data, NULL);
	if (!m)
		return 1;
	struct meta_project p = {.visibility = vis, .packages_enabled = true};
	snprintf(p.path, sizeof(p.path), "%s", pos[0]);
	int ret = m->ops->project_create(m, &p);
	int64_t id = p.id;
	m->ops->close(m);
	if (ret == -EEXIST)
		return cli_fail("project '%s' already exists", pos[0]);
	if (ret == -EINVAL)
		return cli_fail("the group or user of '%s' does not exist", pos[0]);
	if (ret != 0)
		return cli_fail("cannot create project '%s': %s", pos[0], strerror(-ret));
	printf("%lld\n", (long long)id);
	return 0;
}

int cli_member(int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "add") != 0)
		return cli_fail("usage: depot member add (--project PATH | --group PATH) --user NAME"
				" --role ROLE");
	struct cli_opt opts[] = {
		{.name = "project", .has_value = true},
		{.name = "group", .has_value = true},
		{.name = "user", .has_value = true},
		{.name = "role", .has_value = true},
	};
	const char *data = NULL;
	if (cli_parse(argc - 1, argv + 1, opts, 4, NULL, 0, &data) != 0)
		return 2;
	const char *project = opts[0].value, *group = opts[1].value;
	if (!!project == !!group || !opts[2].present || !opts[3].present)
		return cli_fail("member add needs one of --project/--group, and --user and --role");
	enum access_level level;
	if (access_level_parse(opts[3].value, &level) != 0 || level == ACCESS_ADMIN)
		return cli_fail("unknown role '%s' (guest, reporter, developer, maintainer, owner)",
				opts[3].value);
	struct meta *m = cli_open_meta(data, NULL);
	if (!m)
		return 1;
	int rc = 1;
	struct meta_user u;
	struct meta_project p = {0};
	struct meta_group g = {0};
	if (m->ops->user_find(m, opts[2].value, &u) != 0)
		cli_fail("no user '%s'", opts[2].value);
	else if (project && m->ops->project_find(m, project, &p) != 0)
		cli_fail("no project '%s'", project);
	else if (group && m->ops->group_find(m, group, &g) != 0)
		cli_fail("no group '%s'", group);
	else if (m->ops->member_set(m, u.id, p.id, g.id, level) != 0)
		cli_fail("cannot add the membership");
	else
		rc = 0;
	m->ops->close(m);
	return rc;
}

static int print_event(void *ctx, const struct audit_event *e)
{
	(void)ctx;
	char at[ISO8601_LEN + 1];
	iso8601_ms(e->at_ms, at);
	return cli_print_json(json_pack(
		"{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:I,s:s,s:s,s:s}", "at", at, "action",
		e->action, "user", e->username, "token_kind", e->token_kind, "token_id",
		(json_int_t)e->token_id, "project_id", (json_int_t)e->project_id, "package",
		e->package, "version", e->version, "file_name", e->file_name, "size",
		(json_int_t)e->size, "sha256", e->sha256, "client", e->client, "detail", e->detail));
}

int cli_audit(int argc, char **argv)
{
	struct cli_opt opts[] = {
		{.name = "project", .has_value = true},
		{.name = "package", .has_value = true},
		{.name = "user", .has_value = true},
		{.name = "limit", .has_value = true},
	};
	const char *data = NULL;
	if (cli_parse(argc, argv, opts, 4, NULL, 0, &data) != 0)
		return 2;
	struct meta *m = cli_open_meta(data, NULL);
	if (!m)
		return 1;
	struct audit_query q = {.package = opts[1].value, .username = opts[2].value,
				.limit = opts[3].present ? atoll(opts[3].value) : 0};
	struct meta_project p;
	int rc = 0;
	if (opts[0].present && m->ops->project_find(m, opts[0].value, &p) != 0) {
		rc = cli_fail("no project '%s'", opts[0].value);
	} else {
		q.project_id = opts[0].present ? p.id : 0;
		int ret = m->ops->audit_list(m, &q, print_event, NULL);
		if (ret != 0)
			rc = cli_fail("cannot read the audit log: %s", strerror(-ret));
	}
	m->ops->close(m);
	return rc;
}

/* `depot routes`: every endpoint and the ability it requires on its project or group, in
 * matching order; the access-matrix test reads it, so no route escapes the matrix. */
int cli_routes(int argc, char **argv)
{
	static const char *const methods[] = {"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"};
	const char *data;
	if (cli_parse(argc, argv, NULL, 0, NULL, 0, &data) != 0)
		return 2;
	for (size_t i = 0; i < api_routes_count; i++) {
		const struct route *rt = &api_routes[i];
		printf("%s %s %s%s\n", (unsigned)rt->method < 6 ? methods[rt->method] : "?",
		       rt->pattern, ability_name(rt->need), rt->rest ? " rest" : rt->web ? " web" : "");
	}
	return 0;
}

const struct cli_command cli_routes_command = {
	.name = "routes",
	.run = cli_routes,
	.synopsis = "depot routes",
	.help = "  Lists every HTTP route and the ability it requires on its project or group\n"
		"  (read, read_package, create_package, destroy_package, admin_packages).\n",
};

const struct cli_command cli_user_command = {
	.name = "user",
	.run = cli_user,
	.synopsis = "depot user create NAME [--admin]\n"
		    "depot user list [--json]",
	.help = "  --admin: an administrator, who may do anything in every project.\n"
		"  list: every user (id, username, name, admin, bot, created), one a line after\n"
		"  a header, tab-separated; --json: one JSON array instead.\n",
};

const struct cli_command cli_group_command = {
	.name = "group",
	.run = cli_group,
	.synopsis = "depot group create PATH [--visibility private|internal|public]\n"
		    "depot group list [--json]",
	.help = "  PATH is a name, or parent/name for a subgroup of an existing group.\n"
		"  --visibility: default private.\n"
		"  list: every group (id, path, visibility, created), one a line; --json: one\n"
		"  JSON object a line. Users' personal namespaces are not groups.\n",
};

const struct cli_command cli_project_command = {
	.name = "project",
	.run = cli_project,
	.synopsis = "depot project create GROUP/NAME [--visibility private|internal|public]\n"
		    "depot project list [--json]",
	.help = "  Prints the new project's id. --visibility: default private.\n"
		"  list: every project (id, path, visibility, created, whether its package\n"
		"  registry is on), one a line; --json: one JSON object a line.\n",
};

const struct cli_command cli_member_command = {
	.name = "member",
	.run = cli_member,
	.synopsis = "depot member add (--project PATH | --group PATH) --user NAME --role ROLE",
	.help = "  ROLE: guest, reporter, developer, maintainer or owner. A group's members\n"
		"  have their role in its subgroups and projects too.\n",
};

const struct cli_command cli_audit_command = {
	.name = "audit",
	.run = cli_audit,
	.synopsis = "depot audit [--project PATH] [--package NAME] [--user NAME] [--limit N]",
	.help = "  Prints the audit log (uploads, downloads, deletes), newest first, one JSON\n"
		"  object a line.\n",
};
