/* depot: a package registry speaking GitLab's generic packages API. This file only picks
 * the subcommand; each lives in a cli_*.c file. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{"serve", cli_serve},	  {"user", cli_user},	{"group", cli_group},
	{"project", cli_project}, {"member", cli_member}, {"token", cli_token},
	{"gc", cli_gc},		  {"fsck", cli_fsck},	{"audit", cli_audit},		  {"settings", cli_settings},
	{"protection", cli_protection}, {"cleanup-policy", cli_cleanup_policy},
	{"cleanup", cli_cleanup},	  {"routes", cli_routes},
};

static int usage(void)
{
	fputs("usage: depot serve [--data DIR] [--listen HOST:PORT] [--max-file-size BYTES]\n"
	      "       depot user create NAME [--admin]\n"
	      "       depot group create PATH [--visibility private|internal|public]\n"
	      "       depot project create GROUP/NAME [--visibility ...]\n"
	      "       depot member add (--project PATH | --group PATH) --user NAME --role ROLE\n"
	      "       depot token create personal|project|deploy|job ... [--json]\n"
	      "       depot token revoke ID\n"
	      "       depot gc\n"
	      "       depot fsck [--repair]\n"
	      "       depot audit [--project PATH] [--package NAME] [--user NAME] [--limit N]\n"
	      "       depot settings set|show --group PATH [key=value ...]\n"
	      "       depot protection add|list|remove --project PATH ...\n"
	      "       depot cleanup-policy set|show --project PATH ...\n"
	      "       depot cleanup run [--project PATH] [--dry-run]\n"
	      "       depot routes\n"
	      "Every command takes --data DIR (default $DEPOT_DATA or ./depot-data).\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	/* A fixed trim threshold: glibc's adaptive one hands freed heap back with madvise
	 * and faults it in again on the next request, which profiles of small GETs showed
	 * as the largest cost. A few MiB kept per arena is cheap. */
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	if (argc < 2)
		return usage();
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 2, argv + 2);
	return usage();
}
