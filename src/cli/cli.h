/* The admin command line: a small option parser shared by the subcommands, and the
 * subcommands themselves (cli_admin.c, cli_token.c, cli_serve.c). Each subcommand returns
 * the process exit status; errors are one line on stderr, results exactly as documented on
 * stdout. */
#ifndef DEPOT_CLI_H
#define DEPOT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "meta.h"
#include "token_issue.h"

#define DEPOT_VERSION "0.1.0"

/* Every value of an option that may be given several times, in order. */
#define CLI_VALUES_MAX 16
struct cli_values {
	const char *v[CLI_VALUES_MAX];
	size_t n;
};

struct cli_opt {
	const char *name;  /* without the leading "--" */
	bool has_value;
	const char *value; /* filled by cli_parse */
	bool present;
	const char *arg;   /* --help: what the value is ("HOST:PORT") */
	const char *help;  /* --help: what the option does, one line */
	const char *def;   /* the value when the option is not given; --help shows it */
	/* Set by the caller for a repeatable option: cli_parse appends each value there
	 * (value keeps the last). */
	struct cli_values *all;
};

/* A subcommand: main.c runs it by name; `depot help NAME` and `depot NAME --help` print
 * its usage on stdout. */
struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *synopsis; /* its forms, one a line, each "depot NAME ..." */
	const char *help;     /* what the arguments and options mean, lines indented by two */
	/* The options from the parser's own table (serve), so none goes undocumented. */
	const struct cli_opt *opts;
	size_t nopts;
	/* A client of a server (push, pull): no data directory, no stores to choose. */
	bool remote;
};

extern const struct cli_command cli_serve_command, cli_gc_command, cli_fsck_command,
	cli_user_command, cli_group_command, cli_project_command, cli_member_command,
	cli_audit_command, cli_token_command, cli_settings_command, cli_protection_command,
	cli_cleanup_policy_command, cli_cleanup_command, cli_routes_command, cli_migrate_command,
	cli_migrate_store_command, cli_push_command, cli_pull_command;

/* Prints the command's usage: synopsis, then its options, --data last. */
void cli_help(FILE *f, const struct cli_command *c);

#define CLI_MAX_POS 4

/* Parses argv (after the subcommand words) against opts, whose values start as their
 * def; "--data" is always accepted.
 * Positional arguments go to pos. Returns 0, or -1 having printed the error. */
int cli_parse(int argc, char **argv, struct cli_opt *opts, size_t nopts, const char **pos,
	      size_t npos_expected, const char **data_dir);

/* The same with up to maxpos positional arguments; *npos tells how many came. */
int cli_parse_n(int argc, char **argv, struct cli_opt *opts, size_t nopts, const char **pos,
		size_t maxpos, size_t *npos, const char **data_dir);

/* Prints "depot: <message>" on stderr and returns 1, for `return cli_fail(...)`. */
__attribute__((format(printf, 1, 2))) int cli_fail(const char *fmt, ...);

/* Takes the data directory for this process (serve, fsck --repair) until it exits: batched
 * download times, the audit queue, group commit and the start-up gc assume that no other
 * server writes the directory. An exclusive fcntl lock on DIR/depot.lock, which then holds
 * "PID ROLE" (role: "serve", "fsck --repair"). The lock lasts until the process exits
 * (its descriptor is left open on purpose). Returns 0, or -1 having printed one line: who
 * holds it (its pid), then refusal.
 * The admin commands that only go through the metadata store's transactions (user,
 * token, gc, fsck without --repair, ...) do not take it: they are safe alongside a server.
 * A metadata store shared by design (PostgreSQL, --meta) lets several servers share it:
 * serve skips this call when that is the store configured. */
int cli_lock_data(const char *data_dir, const char *role, const char *refusal);

/* Opens the metadata store: PostgreSQL when --meta (or DEPOT_META) names one, else the
 * data directory's SQLite (creating the directory if needed). NULL on failure, having
 * printed why. *created tells whether the database is new (always false for PostgreSQL). */
struct meta *cli_open_meta(const char *data_dir, bool *created);

/* --meta as given (or DEPOT_META), NULL when the store is SQLite; set by cli_parse. */
const char *cli_meta_url(void);
/* The blob-store options of serve, gc and fsck: CLI_BLOB_NOPTS entries in their option
 * tables, in this order. Keys never come from the command line (process listings show
 * it): from the environment or a file. */
#define CLI_BLOB_OPTIONS                                                                   \
	{.name = "blobs", .has_value = true, .arg = "URL",                                 \
	 .help = "s3://BUCKET/PREFIX?endpoint=URL&region=NAME[&path_style=1][&ca=FILE]: "  \
		 "file contents in object storage; default $DEPOT_BLOBS, else DIR/blobs"}, \
	{.name = "s3-credentials", .has_value = true, .arg = "FILE",                       \
	 .help = "S3 keys: aws_access_key_id = ..., aws_secret_access_key = ... lines; "   \
		 "default $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY"},                 \
	{.name = "s3-part-size", .has_value = true, .arg = "BYTES",                        \
	 .help = "multipart part size, 5 MiB at least; smaller bodies go in one PUT",      \
	 .def = "16777216"}
#define CLI_BLOB_NOPTS 3

struct blob_store;
/* Opens the blob store the options (the CLI_BLOB_OPTIONS entries from opts[0]) or
 * $DEPOT_BLOBS choose, else the data directory's. NULL on failure, having printed why. */
struct blob_store *cli_open_blobs(const char *data_dir, const struct cli_opt *opts);
/* The object storage URL those choose; NULL for the data directory's. */
const char *cli_blobs_url(const struct cli_opt *opts);

/* A whole-number option in [min, max]: sets *out from its value (given, or its def; *out
 * keeps its value when it has neither). Returns 0, or -1 having printed "--NAME takes WHAT". */
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
int cli_migrate(int argc, char **argv);
int cli_migrate_store(int argc, char **argv);
int cli_push(int argc, char **argv);
int cli_pull(int argc, char **argv);
/* Prints a JSON value on stdout (compact, one line) and frees it; 1 if it is NULL. */
int cli_print_json(json_t *j);

#endif
