/* Admin subcommands for tokens: create (personal, project, deploy, job) and revoke. The
 * secret is printed once and only its hash is stored. */
#include <errno.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "digest.h"
#include "timeutil.h"

int cli_token_issue(struct meta *m, const struct token_request *req, char *secret,
		    struct meta_token *t)
{
	memset(t, 0, sizeof(*t));
	if (token_generate(req->kind, secret) != 0)
		return -EIO;
	t->kind = req->kind;
	token_hash_hex(secret, strlen(secret), t->hash);
	snprintf(t->name, sizeof(t->name), "%s", req->name ? req->name : "");
	snprintf(t->username, sizeof(t->username), "%s", req->username ? req->username : "");
	t->user_id = req->user_id;
	t->project_id = req->project_id;
	t->group_id = req->group_id;
	t->scopes = req->scopes;
	t->expires_at_ms = req->expires_at_ms;
	return m->ops->token_insert(m, t);
}

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
	char scopes[128], expires[ISO8601_LEN + 1];
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

/* Project access tokens act through a bot user that is a member of the project. */
static int project_bot(struct meta *m, const struct meta_project *p, enum access_level level,
		       struct meta_user *bot)
{
	unsigned char r[4];
	char hex[9];
	if (RAND_bytes(r, sizeof(r)) != 1)
		return -EIO;
	hex_encode(r, sizeof(r), hex);
	snprintf(bot->username, sizeof(bot->username), "project_%lld_bot_%s", (long long)p->id, hex);
	bot->bot = true;
	bot->is_admin = false;
	bot->name[0] = '\0';
	bot->email[0] = '\0';
	bot->created_by = 0;
	int ret = m->ops->user_create(m, bot);
	if (ret == 0)
		ret = m->ops->member_set(m, bot->id, p->id, 0, level);
	return ret;
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
		if (project_bot(m, &project, level, &user) != 0)
			return cli_fail("cannot create the project's bot user");
		req.user_id = user.id;
		req.project_id = project.id;
		who = user.username;
		break;
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
	struct meta_token t;
	int ret = cli_token_issue(m, &req, secret, &t);
	if (ret == -EEXIST && kind == TOKEN_DEPLOY)
		return cli_fail("cannot store the token: username taken?");
	if (ret != 0)
		return cli_fail("cannot store the token: %s", strerror(-ret));
	fprintf(stderr, "depot: created %s token %lld\n", token_kind_name(kind), (long long)t.id);
	return print_token(&t, secret, kind == TOKEN_DEPLOY ? t.username : who, o[O_JSON].present);
}

int cli_token(int argc, char **argv)
{
	const char *data = NULL;
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
				"depot token revoke ID");
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
		    "depot token revoke ID",
	.help = "  COMMON: [--expires YYYY-MM-DD] [--name NAME] [--json]\n"
		"  SCOPES, comma-separated: api, read_api for personal and project tokens;\n"
		"  read_package_registry, write_package_registry for deploy tokens.\n"
		"  Prints the secret (shown once; only its hash is stored), or with --json\n"
		"  {id, token, kind, username, scopes, expires_at}. A job token lasts --ttl\n"
		"  seconds (default 3600).\n",
};
