/* The admin command line: a small option parser shared by the subcommands, and the
 * subcommands themselves (cli_admin.c, cli_token.c, cli_serve.c). Each subcommand returns
 * the process exit status; errors are one line on stderr, results exactly as documented on
 * stdout. */
#ifndef DEPOT_CLI_H
#define DEPOT_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "meta.h"

struct cli_opt {
	const char *name;  /* without the leading "--" */
	bool has_value;
	const char *value; /* filled by cli_parse */
	bool present;
};

#define CLI_MAX_POS 4

/* Parses argv (after the subcommand words) against opts; "--data" is always accepted.
 * Positional arguments go to pos. Returns 0, or -1 having printed the error. */
int cli_parse(int argc, char **argv, struct cli_opt *opts, size_t nopts, const char **pos,
	      size_t npos_expected, const char **data_dir);

/* The same with up to maxpos positional arguments; *npos tells how many came. */
int cli_parse_n(int argc, char **argv, struct cli_opt *opts, size_t nopts, const char **pos,
		size_t maxpos, size_t *npos, const char **data_dir);

/* Prints "depot: <message>" on stderr and returns 1, for `return cli_fail(...)`. */
__attribute__((format(printf, 1, 2))) int cli_fail(const char *fmt, ...);

/* Creates the data directory if needed and opens its metadata store. NULL on failure,
 * having printed why. *created tells whether the database is new. */
struct meta *cli_open_meta(const char *data_dir, bool *created);

/* A whole-number option in [min, max]: sets *out when given (it keeps its default
 * otherwise). Returns 0, or -1 having printed "--NAME takes WHAT". */
int cli_number(const struct cli_opt *o, long long min, long long max, const char *what,
	       long long *out);

int cli_user(int argc, char **argv);
int cli_group(int argc, char **argv);
int cli_project(int argc, char **argv);
int cli_member(int argc, char **argv);
int cli_token(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_gc(int argc, char **argv);
int cli_fsck(int argc, char **argv);
int cli_audit(int argc, char **argv);
int cli_settings(int argc, char **argv);
int cli_protection(int argc, char **argv);
int cli_cleanup_policy(int argc, char **argv);
int cli_cleanup(int argc, char **argv);
int cli_routes(int argc, char **argv);
/* Prints a JSON value on stdout (compact, one line) and frees it; 1 if it is NULL. */
int cli_print_json(json_t *j);

/* Shared by the admin commands and the demo bootstrap: creates a token and prints it
 * (alone, or as JSON). Returns 0 or an errno-style negative value. */
struct token_request {
	enum token_kind kind;
	int64_t user_id;
	int64_t project_id;
	int64_t group_id;
	unsigned scopes;
	int64_t expires_at_ms;
	const char *name;
	const char *username;
};
int cli_token_issue(struct meta *m, const struct token_request *req, char *secret_out,
		    struct meta_token *out);

#endif
