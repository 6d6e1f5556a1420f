/* Admin subcommands for tokens: create (personal, project, deploy, job), list and revoke.
 * The secret is printed once and only its hash is stored; the listing shows neither. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "timeutil.h"

enum { O_USER, O_PROJECT, O_GROUP, O_ROLE, O_SCOPES, O_EXPIRES, O_NAME, O_USERNAME, O_TTL,
       O_JSON, O_COUNT };

/* Which options each kind takes; the rest are refused. */
static const char *const allowed[] = {
	[TOKEN_PERSONAL] = "user scopes expires name json",
	[TOKEN_PROJECT] = "project role scopes expires name json",
	[TOKEN_DEPLOY] = "project group scopes username expires name json",
	[TOKEN_JOB] = "project user ttl json",
};

static bool word_in(const char *word, const char *list)
{
	size_t n = strlen(word);
	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

static int print_token(const struct meta_token *t, const char *secret, const char *username,
		       bool as_json)
{
	if (!as_json) {
		printf("%s\n", secret);
		return 0;
	}
	char scopes[512], expires[ISO8601_LEN + 1];
	scopes_format(t->scopes, scopes, sizeof(scopes));
	if (t->expires_at_ms)
		iso8601_ms(t->expires_at_ms, expires);
	json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:o}", "id", (json_int_t)t->id, "token", secret,
			      "kind", token_kind_name(t->kind), "username", username, "scopes",
			      scopes, "expires_at",
			      t->expires_at_ms ? json_string(expires) : json_null());
	if (!o)
		return cli_fail("cannot format the token");
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		return cli_fail("cannot format the token");
	printf("%s\n", s);
	free(s);
	return 0;
}

static int token_create(struct meta *m, enum token_kind kind, struct cli_opt *o)
{
	struct token_request req = {.kind = kind, .name = o[O_NAME].value,
				    .username = o[O_USERNAME].value};
	struct meta_user user = {0};
	struct meta_project project = {0};
	struct meta_group group = {0};
	const char *who = "";

	if (o[O_USER].present && m->ops->user_find(m, o[O_USER].value, &user) != 0)
		return cli_fail("no user '%s'", o[O_USER].value);
	if (o[O_PROJECT].present && m->ops->project_find(m, o[O_PROJECT].value, &project) != 0)
		return cli_fail("no project '%s'", o[O_PROJECT].value);
	if (o[O_GROUP].present && m->ops->group_find(m, o[O_GROUP].value, &group) != 0)
		return cli_fail("no group '%s'", o[O_GROUP].value);
	if (o[O_EXPIRES].present && date_parse_ms(o[O_EXPIRES].value, &req.expires_at_ms) != 0)
		return cli_fail("--expires takes a date YYYY-MM-DD");
	if (kind != TOKEN_JOB) {
		if (!o[O_SCOPES].present || scopes_parse(o[O_SCOPES].value, &req.scopes) != 0)
			return cli_fail("--scopes takes a comma-separated list of known scopes");
		unsigned ok = kind == TOKEN_DEPLOY
				      ? SCOPE_READ_PACKAGE_REGISTRY | SCOPE_WRITE_PACKAGE_REGISTRY
				      : SCOPE_API | SCOPE_READ_API;
		if (req.scopes & ~ok)
			return cli_fail(kind == TOKEN_DEPLOY
						? "deploy tokens take read_package_registry and "
						  "write_package_registry"
						: "access tokens take api and read_api");
	}

	switch (kind) {
	case TOKEN_PERSONAL:
		if (!o[O_USER].present)
			return cli_fail("personal tokens need --user");
		req.user_id = user.id;
		who = user.username;
		break;
	case TOKEN_PROJECT: {
		enum access_level level;
		if (!o[O_PROJECT].present || !o[O_ROLE].present)
			return cli_fail("project tokens need --project and --role");
		if (access_level_parse(o[O_ROLE].value, &level) != 0 || level == ACCESS_ADMIN)
			return cli_fail("unknown role '%s'", o[O_ROLE].value);
		char secret[TOKEN_SECRET_MAX + 1];
		struct meta_token t = {0};
		if (token_issue_project(m, &project, level, 0, NULL, &req, secret, &t, &user) != 0)
			return cli_fail("cannot create the project's bot user and token");
		fprintf(stderr, "depot: created project token %lld\n", (long long)t.id);
		return print_token(&t, secret, user.username, o[O_JSON].present);
	}
	case TOKEN_DEPLOY:
		if (o[O_PROJECT].present == o[O_GROUP].present)
			return cli_fail("deploy tokens need one of --project and --group");
		req.project_id = project.id;
		req.group_id = group.id;
		break;
	case TOKEN_JOB: {
		if (!o[O_PROJECT].present || !o[O_USER].present)
			return cli_fail("job tokens need --project and --user");
		long long ttl = 3600;
		if (cli_number(&o[O_TTL], 1, 10LL * 365 * 86400, "a positive number of seconds",
			       &ttl) != 0)
			return 1;
		req.user_id = user.id;
		req.project_id = project.id;
		req.expires_at_ms = now_ms() + ttl * 1000;
		who = user.username;
		break;
	}
	}
	char secret[TOKEN_SECRET_MAX + 1];
	struct meta_token t = {0};
	int ret = token_issue(m, &req, secret, &t);
	if (ret == -EEXIST && kind == TOKEN_DEPLOY)
		return cli_fail("cannot store the token: username taken?");
	if (ret != 0)
		return cli_fail("cannot store the token: %s", strerror(-ret));
	fprintf(stderr, "depot: created %s token %lld\n", token_kind_name(kind), (long long)t.id);
	return print_token(&t, secret, kind == TOKEN_DEPLOY ? t.username : who, o[O_JSON].present);
}

/* What `token list` shows of a token: never its secret or hash. */
struct list_out {
	struct meta *m;
	json_t *rows; /* --json */
	int ret;
};

static json_t *opt_string(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

static json_t *opt_time(int64_t ms)
{
	char t[ISO8601_LEN + 1];
	if (!ms)
		return json_null();
	iso8601_ms(ms, t);
	return json_string(t);
}

/* A name as one cell of a line: control characters (a name comes from REST too) as '?'. */
static void cell(const char *in, char *out, size_t cap)
{
	snprintf(out, cap, "%s", in[0] ? in : "-");
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

static int list_one(void *ctx, const struct meta_token *t)
{
	struct list_out *lo = ctx;
	struct meta *m = lo->m;
	struct meta_user u = {0};
	struct meta_project p = {0};
	struct meta_group g = {0};
	int ret = 0;
	if (t->user_id && (ret = m->ops->user_get(m, t->user_id, &u)) != 0 && ret != -ENOENT)
		return ret;
	if (t->project_id && (ret = m->ops->project_get(m, t->project_id, &p)) != 0 &&
	    ret != -ENOENT)
		return ret;
	if (t->group_id && (ret = m->ops->group_get(m, t->group_id, &g)) != 0 && ret != -ENOENT)
		return ret;
	char scopes[512];
	scopes_format(t->scopes, scopes, sizeof(scopes));
	if (lo->rows) {
		json_t *o = json_pack("{s:I,s:s,s:s,s:o,s:o,s:o,s:s,s:o,s:o,s:o,s:b}", "id",
				      (json_int_t)t->id, "kind", token_kind_name(t->kind), "name",
				      t->name, "user", opt_string(u.username), "project",
				      opt_string(p.path), "group", opt_string(g.path), "scopes",
				      scopes, "created_at", opt_time(t->created_at_ms), "expires_at",
				      opt_time(t->expires_at_ms), "last_used_at",
				      opt_time(t->last_used_at_ms), "revoked", t->revoked);
		return o && json_array_append_new(lo->rows, o) == 0 ? 0 : -ENOMEM;
	}
	char expires[ISO8601_LEN + 1] = "-", used[ISO8601_LEN + 1] = "-";
	if (t->expires_at_ms)
		iso8601_ms(t->expires_at_ms, expires);
	if (t->last_used_at_ms)
		iso8601_ms(t->last_used_at_ms, used);
	const char *who = p.path[0] ? p.path : g.path[0] ? g.path : "-";
	char name[TOKEN_NAME_MAX + 1];
	cell(t->name, name, sizeof(name));
	printf("%lld\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", (long long)t->id, token_kind_name(t->kind),
	       name, u.username[0] ? u.username : "-", who,
	       scopes[0] ? scopes : "-", expires, used, t->revoked ? "revoked" : "-");
	return 0;
}

static int token_list(int argc, char **argv)
{
	enum { L_USER, L_PROJECT, L_JSON, L_COUNT };
	struct cli_opt o[L_COUNT] = {
		[L_USER] = {"user", true, NULL, false},
		[L_PROJECT] = {"project", true, NULL, false},
		[L_JSON] = {"json", false, NULL, false},
	};
	const char *data = NULL;
	if (cli_parse(argc, argv, o, L_COUNT, NULL, 0, &data) != 0)
		return 2;
	if (o[L_USER].present && o[L_PROJECT].present)
		return cli_fail("token list takes --user or --project, not both");
	struct meta *m = cli_open_meta(data, NULL);
	if (!m)
		return 1;
	struct token_query q = {.kind = -1, .also_kind = -1, .revoked = -1, .active = -1};
	int rc = 0;
	struct meta_user u;
	struct meta_project p;
	if (o[L_USER].present && m->ops->user_find(m, o[L_USER].value, &u) != 0)
		rc = cli_fail("no user '%s'", o[L_USER].value);
	else if (o[L_USER].present)
		q.user_id = u.id;
	if (o[L_PROJECT].present && m->ops->project_find(m, o[L_PROJECT].value, &p) != 0)
		rc = cli_fail("no project '%s'", o[L_PROJECT].value);
	else if (o[L_PROJECT].present)
		q.project_id = p.id;
	struct list_out lo = {m, o[L_JSON].present ? json_array() : NULL, 0};
	if (rc == 0 && !lo.rows)
		printf("ID\tKIND\tNAME\tUSER\tPROJECT/GROUP\tSCOPES\tEXPIRES\tLAST_USED\tREVOKED\n");
	int ret = rc == 0 ? m->ops->tokens_list(m, &q, list_one, &lo, NULL) : 0;
	m->ops->close(m);
	if (rc == 0 && ret != 0)
		rc = cli_fail("cannot list the tokens: %s", strerror(-ret));
	if (rc == 0 && lo.rows)
		return cli_print_json(lo.rows);
	json_decref(lo.rows);
	return rc;
}

int cli_token(int argc, char **argv)
{
	const char *data = NULL;
	if (argc >= 1 && strcmp(argv[0], "list") == 0)
		return token_list(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[0], "revoke") == 0) {
		const char *pos[1];
		if (cli_parse(argc - 1, argv + 1, NULL, 0, pos, 1, &data) != 0)
			return 2;
		char *end;
		long long id = strtoll(pos[0], &end, 10);
		if (*end || id <= 0)
			return cli_fail("token revoke takes a numeric token id");
		struct meta *m = cli_open_meta(data, NULL);
		if (!m)
			return 1;
		int ret = m->ops->token_revoke(m, id);
		m->ops->close(m);
		if (ret == -ENOENT)
			return cli_fail("no token %lld", id);
		return ret == 0 ? 0 : cli_fail("cannot revoke token %lld: %s", id, strerror(-ret));
	}
	enum token_kind kind;
	if (argc < 2 || strcmp(argv[0], "create") != 0 || token_kind_parse(argv[1], &kind) != 0)
		return cli_fail("usage: depot token create personal|project|deploy|job ... | "
				"depot token list ... | depot token revoke ID");
	struct cli_opt o[O_COUNT] = {
		[O_USER] = {"user", true, NULL, false},
		[O_PROJECT] = {"project", true, NULL, false},
		[O_GROUP] = {"group", true, NULL, false},
		[O_ROLE] = {"role", true, NULL, false},
		[O_SCOPES] = {"scopes", true, NULL, false},
		[O_EXPIRES] = {"expires", true, NULL, false},
		[O_NAME] = {"name", true, NULL, false},
		[O_USERNAME] = {"username", true, NULL, false},
		[O_TTL] = {"ttl", true, NULL, false},
		[O_JSON] = {"json", false, NULL, false},
	};
	if (cli_parse(argc - 2, argv + 2, o, O_COUNT, NULL, 0, &data) != 0)
		return 2;
	for (int i = 0; i < O_COUNT; i++)
		if (o[i].present && !word_in(o[i].name, allowed[kind]))
			return cli_fail("%s tokens do not take --%s", argv[1], o[i].name);
	struct meta *m = cli_open_meta(data, NULL);
	if (!m)
		return 1;
	int rc = token_create(m, kind, o);
	m->ops->close(m);
	return rc;
}

const struct cli_command cli_token_command = {
	.name = "token",
	.run = cli_token,
	.synopsis = "depot token create personal --user NAME --scopes SCOPES [COMMON]\n"
		    "depot token create project --project PATH --role ROLE --scopes SCOPES [COMMON]\n"
		    "depot token create deploy (--project PATH | --group PATH) --scopes SCOPES\n"
		    "                          [--username NAME] [COMMON]\n"
		    "depot token create job --project PATH --user NAME [--ttl SECONDS] [--json]\n"
		    "depot token list [--user NAME | --project PATH] [--json]\n"
		    "depot token revoke ID",
	.help = "  COMMON: [--expires YYYY-MM-DD] [--name NAME] [--json]\n"
		"  SCOPES, comma-separated: api, read_api for personal and project tokens;\n"
		"  read_package_registry, write_package_registry for deploy tokens.\n"
		"  Prints the secret (shown once; only its hash is stored), or with --json\n"
		"  {id, token, kind, username, scopes, expires_at}. A job token lasts --ttl\n"
		"  seconds (default 3600).\n"
		"  list: every token (or a user's, or a project's: its access, deploy and job\n"
		"  tokens), one a line: id, kind, name, user, project or group, scopes, expiry,\n"
		"  last use, revoked; --json: an array of {id, kind, name, user, project, group,\n"
		"  scopes, created_at, expires_at, last_used_at, revoked}. Never the secrets;\n"
		"  the id is what `token revoke` takes.\n",
};
