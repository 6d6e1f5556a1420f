/* Admin subcommands for publishing policies: duplicate settings, protection rules,
 * cleanup policies, and running the cleanup. Validation and JSON come from policy.c, as
 * for the REST endpoints. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cli.h"
#include "policy.h"
#include "timeutil.h"

/* Opens the store and finds --group or --project; NULL having printed why. */
static struct meta *open_with(const char *data, const char *group, struct meta_group *g,
			      const char *project, struct meta_project *p)
{
	struct meta *m = cli_open_meta(data, NULL);
	if (!m)
		return NULL;
	if (group && m->ops->group_find(m, group, g) != 0) {
		cli_fail("no group '%s'", group);
		m->ops->close(m);
		return NULL;
	}
	if (project && m->ops->project_find(m, project, p) != 0) {
		cli_fail("no project '%s'", project);
		m->ops->close(m);
		return NULL;
	}
	return m;
}

int cli_settings(int argc, char **argv)
{
	bool set = argc >= 1 && strcmp(argv[0], "set") == 0;
	if (argc < 1 || (!set && strcmp(argv[0], "show") != 0))
		return cli_fail("usage: depot settings set|show --group PATH [key=value ...]");
	struct cli_opt opts[] = {{.name = "group", .has_value = true}};
	const char *pos[CLI_MAX_POS], *data = NULL;
	size_t npos = 0;
	if (cli_parse_n(argc - 1, argv + 1, opts, 1, pos, set ? CLI_MAX_POS : 0, &npos, &data) != 0)
		return 2;
	if (!opts[0].present)
		return cli_fail("settings needs --group PATH");
	json_t *in = json_object();
	for (size_t i = 0; i < npos; i++) {
		const char *eq = strchr(pos[i], '=');
		size_t klen = eq ? (size_t)(eq - pos[i]) : 0;
		if (eq && strncmp(pos[i], "generic_duplicates_allowed", klen) == 0 && klen == 26 &&
		    (strcmp(eq + 1, "true") == 0 || strcmp(eq + 1, "false") == 0)) {
			json_object_set_new(in, "generic_duplicates_allowed",
					    json_boolean(strcmp(eq + 1, "true") == 0));
		} else if (eq && klen == 33 &&
			   strncmp(pos[i], "generic_duplicate_exception_regex", klen) == 0) {
			json_object_set_new(in, "generic_duplicate_exception_regex",
					    json_string(eq + 1));
		} else {
			json_decref(in);
			return cli_fail("expected generic_duplicates_allowed=true|false or "
					"generic_duplicate_exception_regex=REGEX, got '%s'", pos[i]);
		}
	}
	struct meta_group g = {0};
	struct meta *m = open_with(data, opts[0].value, &g, NULL, NULL);
	if (!m) {
		json_decref(in);
		return 1;
	}
	struct meta_dup_settings s;
	char err[256];
	int rc = 0, ret = m->ops->settings_get(m, g.id, &s);
	if (ret != 0)
		rc = cli_fail("cannot read the settings: %s", strerror(-ret));
	else if (!set)
		rc = cli_print_json(policy_settings_json(&s));
	else if (policy_settings_update(&s, in, err, sizeof(err)) != 0)
		rc = cli_fail("%s", err);
	else if ((ret = m->ops->settings_set(m, g.id, &s)) != 0)
		rc = cli_fail("cannot store the settings: %s", strerror(-ret));
	json_decref(in);
	m->ops->close(m);
	return rc;
}

static int print_rule(void *ctx, const struct meta_protection_rule *r)
{
	json_t *o = policy_rule_json(r);
	return o && json_array_append_new(ctx, o) == 0 ? 0 : -ENOMEM;
}

int cli_protection(int argc, char **argv)
{
	const char *verb = argc >= 1 ? argv[0] : "";
	bool add = strcmp(verb, "add") == 0, list = strcmp(verb, "list") == 0,
	     rm = strcmp(verb, "remove") == 0;
	if (!add && !list && !rm)
		return cli_fail("usage: depot protection add|list|remove --project PATH ...");
	struct cli_opt opts[] = {
		{.name = "project", .has_value = true},
		{.name = "pattern", .has_value = true},
		{.name = "push", .has_value = true},
		{.name = "delete", .has_value = true},
	};
	const char *pos[1], *data = NULL;
	if (cli_parse(argc - 1, argv + 1, opts, add ? 4 : 1, pos, rm ? 1 : 0, &data) != 0)
		return 2;
	if (!opts[0].present)
		return cli_fail("protection needs --project PATH");
	struct meta_project p = {0};
	struct meta *m = open_with(data, NULL, NULL, opts[0].value, &p);
	if (!m)
		return 1;
	int rc = 0, ret;
	if (add) {
		json_t *in = json_pack("{s:s?,s:s?,s:s?}", "package_name_pattern", opts[1].value,
				       "minimum_access_level_for_push", opts[2].value,
				       "minimum_access_level_for_delete", opts[3].value);
		struct meta_protection_rule r = {.project_id = p.id};
		char err[256];
		if (policy_rule_update(&r, in, err, sizeof(err)) != 0)
			rc = cli_fail("%s", err);
		else if ((ret = m->ops->rule_insert(m, &r)) == -EEXIST)
			rc = cli_fail("project '%s' already has a rule for '%s'", p.path, r.pattern);
		else if (ret != 0)
			rc = cli_fail("cannot store the rule: %s", strerror(-ret));
		else
			printf("%lld\n", (long long)r.id);
		json_decref(in);
	} else if (list) {
		json_t *arr = json_array();
		ret = m->ops->rules_list(m, p.id, print_rule, arr);
		if (ret != 0) {
			json_decref(arr);
			rc = cli_fail("cannot list the rules: %s", strerror(-ret));
		} else {
			rc = cli_print_json(arr);
		}
	} else {
		char *end;
		long long id = strtoll(pos[0], &end, 10);
		if (*end || end == pos[0])
			rc = cli_fail("protection remove takes a numeric rule id");
		else if ((ret = m->ops->rule_delete(m, p.id, id)) != 0)
			rc = cli_fail(ret == -ENOENT ? "no rule %lld in this project"
						     : "cannot remove rule %lld", id);
	}
	m->ops->close(m);
	return rc;
}

int cli_cleanup_policy(int argc, char **argv)
{
	bool set = argc >= 1 && strcmp(argv[0], "set") == 0;
	if (argc < 1 || (!set && strcmp(argv[0], "show") != 0))
		return cli_fail("usage: depot cleanup-policy set|show --project PATH [options]");
	struct cli_opt opts[] = {
		{.name = "project", .has_value = true},
		{.name = "keep-n-duplicated-package-files", .has_value = true},
		{.name = "keep-n-versions", .has_value = true},
		{.name = "older-than-days", .has_value = true},
		{.name = "not-downloaded-days", .has_value = true},
		{.name = "keep-regex", .has_value = true},
	};
	const char *data = NULL;
	if (cli_parse(argc - 1, argv + 1, opts, set ? 6 : 1, NULL, 0, &data) != 0)
		return 2;
	if (!opts[0].present)
		return cli_fail("cleanup-policy needs --project PATH");
	struct meta_project p = {0};
	struct meta *m = open_with(data, NULL, NULL, opts[0].value, &p);
	if (!m)
		return 1;
	struct meta_cleanup_policy pol;
	char err[256];
	int rc = 0, ret = m->ops->cleanup_get(m, p.id, &pol);
	/* The same field names as the REST body, so both validate alike. */
	static const char *const fields[] = {NULL, "keep_n_duplicated_package_files",
					     "keep_n_versions", "older_than_days",
					     "not_downloaded_days", "keep_regex"};
	json_t *in = json_object();
	for (int i = 1; i < 6; i++)
		if (opts[i].present)
			json_object_set_new(in, fields[i], json_string(opts[i].value));
	if (ret != 0)
		rc = cli_fail("cannot read the policy: %s", strerror(-ret));
	else if (!set)
		rc = cli_print_json(policy_cleanup_json(&pol));
	else if (policy_cleanup_update(&pol, in, err, sizeof(err)) != 0)
		rc = cli_fail("%s", err);
	else if ((ret = m->ops->cleanup_set(m, &pol)) != 0)
		rc = cli_fail("cannot store the policy: %s", strerror(-ret));
	json_decref(in);
	m->ops->close(m);
	return rc;
}

static void print_line(void *ctx, const char *line)
{
	(void)ctx;
	printf("%s\n", line);
}

int cli_cleanup(int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "run") != 0)
		return cli_fail("usage: depot cleanup run [--project PATH] [--dry-run]");
	struct cli_opt opts[] = {
		{.name = "project", .has_value = true},
		{.name = "dry-run"},
	};
	const char *data = NULL;
	if (cli_parse(argc - 1, argv + 1, opts, 2, NULL, 0, &data) != 0)
		return 2;
	struct meta_project p = {0};
	struct meta *m = open_with(data, NULL, NULL, opts[0].value, &p);
	if (!m)
		return 1;
	int64_t removed = 0;
	int ret = cleanup_run(m, p.id, opts[1].present, now_ms(), print_line, NULL, &removed);
	m->ops->close(m);
	if (ret != 0)
		return cli_fail("cleanup failed: %s", strerror(-ret));
	return 0;
}

const struct cli_command cli_settings_command = {
	.name = "settings",
	.run = cli_settings,
	.synopsis = "depot settings set --group PATH [generic_duplicates_allowed=true|false]\n"
		    "                    [generic_duplicate_exception_regex=REGEX]\n"
		    "depot settings show --group PATH",
	.help = "  The group's duplicate settings, as GitLab's group package settings.\n",
};

const struct cli_command cli_protection_command = {
	.name = "protection",
	.run = cli_protection,
	.synopsis = "depot protection add --project PATH --pattern PATTERN [--push ROLE]\n"
		    "                     [--delete ROLE]\n"
		    "depot protection list --project PATH\n"
		    "depot protection remove --project PATH ID",
	.help = "  Package protection rules: PATTERN matches package names ('*' wildcards);\n"
		"  --push maintainer|owner|admin, --delete owner|admin. add prints the rule's id.\n",
};

const struct cli_command cli_cleanup_policy_command = {
	.name = "cleanup-policy",
	.run = cli_cleanup_policy,
	.synopsis = "depot cleanup-policy set --project PATH [--keep-n-duplicated-package-files N]\n"
		    "                         [--keep-n-versions N] [--older-than-days N]\n"
		    "                         [--not-downloaded-days N] [--keep-regex REGEX]\n"
		    "depot cleanup-policy show --project PATH",
	.help = "  --keep-n-duplicated-package-files: all, 1, 10, 20, 30, 40 or 50; the\n"
		"  counts: 0 (off) to 1000000. Packages whose name --keep-regex matches are kept.\n",
};

const struct cli_command cli_cleanup_command = {
	.name = "cleanup",
	.run = cli_cleanup,
	.synopsis = "depot cleanup run [--project PATH] [--dry-run]",
	.help = "  Runs the cleanup policies now (the server also does, every\n"
		"  --cleanup-interval); --dry-run prints what would go.\n",
};
