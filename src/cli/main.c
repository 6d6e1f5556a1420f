/* depot: a package registry speaking GitLab's generic packages API. This file only picks
 * the subcommand, or the help asked for; each subcommand lives in a cli_*.c file. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* In the order `depot --help` lists them. */
static const struct cli_command *const commands[] = {
    &cli_serve_command,	   &cli_user_command,	    &cli_group_command,
    &cli_project_command,  &cli_member_command,	    &cli_token_command,
    &cli_settings_command, &cli_protection_command, &cli_cleanup_policy_command,
    &cli_cleanup_command,  &cli_gc_command,	    &cli_fsck_command,
    &cli_audit_command,	   &cli_routes_command,	    &cli_migrate_command,
    &cli_migrate_store_command, &cli_push_command, &cli_pull_command,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct cli_command *find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(name, commands[i]->name) == 0)
			return commands[i];
	return NULL;
}

static bool is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* Every command's synopsis: on stdout when asked for (exit 0), on stderr after a
 * mistake (exit 2). */
static int usage(FILE *f, int status)
{
	fputs("usage: depot COMMAND [ARGUMENTS] [--data DIR]\n\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		for (const char *l = commands[i]->synopsis; *l;) {
			size_t n = strcspn(l, "\n");
			fprintf(f, "  %.*s\n", (int)n, l);
			l += n + (l[n] == '\n');
		}
	fputs("\nEvery command but push and pull takes --data DIR (default $DEPOT_DATA or\n"
	      "./depot-data) and --meta URL (PostgreSQL; default $DEPOT_META, else SQLite in the\n"
	      "data directory); push and pull speak to a server over HTTP.\n"
	      "depot help COMMAND (or depot COMMAND --help) explains one; depot --version.\n",
	      f);
	return status;
}

static int unknown(const char *name)
{
	fprintf(stderr, "depot: unknown command '%s'\n", name);
	return usage(stderr, 2);
}

int main(int argc, char **argv)
{
	/* A fixed trim threshold: glibc's adaptive one hands freed heap back with madvise
	 * and faults it in again on the next request, which profiles of small GETs showed
	 * as the largest cost. A few MiB kept per arena is cheap. */
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	if (argc < 2)
		return usage(stderr, 2);
	if (strcmp(argv[1], "--version") == 0) {
		printf("depot %s\n", DEPOT_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 && argc >= 3) {
		const struct cli_command *c = find(argv[2]);
		if (!c)
			return unknown(argv[2]);
		cli_help(stdout, c);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || is_help(argv[1]))
		return usage(stdout, 0);
	const struct cli_command *c = find(argv[1]);
	if (!c)
		return unknown(argv[1]);
	/* --help anywhere wins, so it works after a verb and options as users type it. */
	for (int i = 2; i < argc; i++)
		if (is_help(argv[i])) {
			cli_help(stdout, c);
			return 0;
		}
	return c->run(argc - 2, argv + 2);
}
