/* The push/pull client's shared engine: credentials and the package URL, many HTTP
 * transfers over one libcurl multi handle (one connection pool) with retries and backoff,
 * the progress display or one line per file, and the --json report. client_push.c and
 * client_pull.c build their jobs on it. */
#ifndef DEPOT_CLIENT_H
#define DEPOT_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "cli.h"

/* The options push and pull share, in this order at the start of their tables. */
#define CLIENT_OPTIONS                                                                      \
	{.name = "token-file", .has_value = true, .arg = "FILE",                            \
	 .help = "read the token (sent as PRIVATE-TOKEN) from FILE; default $DEPOT_TOKEN, " \
		 "else $CI_JOB_TOKEN (as JOB-TOKEN)"},                                      \
	{.name = "jobs", .has_value = true, .arg = "N",                                     \
	 .help = "-j N: transfers at once, over one connection pool", .def = "4"},          \
	{.name = "retries", .has_value = true, .arg = "N",                                  \
	 .help = "retries of a transfer after a connection error or a 5xx answer, with "    \
		 "backoff (never after a 4xx)",                                             \
	 .def = "5"},                                                                       \
	{.name = "limit-rate", .has_value = true, .arg = "BYTES",                           \
	 .help = "at most BYTES per second for each transfer (0: no limit)", .def = "0"},   \
	{.name = "dry-run", .help = "say what would be transferred; transfer nothing"},     \
	{.name = "json", .help = "print a JSON report on stdout (messages stay on stderr)"}
#define CLIENT_NOPTS 6
enum { OPT_TOKEN_FILE, OPT_JOBS, OPT_RETRIES, OPT_LIMIT_RATE, OPT_DRY_RUN, OPT_JSON };

/* One push or pull. */
struct client {
	CURLM *multi;
	char *base; /* ".../packages/generic/NAME/" (caller of client_init frees with release) */
	char *name, *version; /* decoded */
	char *auth_header;    /* "PRIVATE-TOKEN: ..." or "JOB-TOKEN: ..."; NULL: anonymous */
	long jobs, retries;
	long long limit_rate;
	bool dry_run, json, tty;
	/* progress */
	uint64_t start_ms, last_draw_ms;
	size_t files_total, files_done;
	uint64_t bytes_total, bytes_done;
	bool drawn; /* a progress line is on the terminal */
	char **argv; /* the arguments with -j spelled --jobs */
};

/* Parses the client's options (-j N and -jN are --jobs), credentials and the URL
 * (pos[0] or pos[1] per url_pos). Returns 0, 2 for a usage mistake, 1 for another failure,
 * having printed why. */
int client_init(struct client *c, int argc, char **argv, struct cli_opt *opts, size_t nopts,
		const char **pos, size_t maxpos, size_t *npos, size_t url_pos);
void client_release(struct client *c);

/* The URL of the version with `version` in place of the given one (a selector's choice),
 * with `rest` (already encoded) after it: caller frees. */
char *client_url(const struct client *c, const char *version, const char *rest);
/* Percent-encodes each segment of a relative path, keeping the slashes: caller frees. */
char *client_encode_path(const char *path);

/* A transfer. The engine calls setup before each attempt (set the method, body and
 * callbacks on the easy handle; the URL, credentials and common options are set), then,
 * once a whole answer came (any status below 500), finish: 0 done, -EAGAIN try again
 * (counts as a retry), another negative errno failed (err says why). Connection errors and
 * 5xx answers are retried by the engine itself, with backoff, up to --retries. */
struct client_job {
	char *url;			 /* owned */
	char *request;			 /* a POST's body (owned), or NULL */
	const char *label;		 /* for messages: the file name */
	int (*setup)(struct client_job *j, CURL *e);
	int (*finish)(struct client_job *j, long status);
	void (*attempt_end)(struct client_job *j); /* after every attempt; may be NULL */
	struct client *c;
	/* answer */
	long status;
	char *body; /* the answer's body when it is not a file's content (capped) */
	size_t body_len, body_cap;
	int attempts;
	bool failed, done;
	bool quiet; /* not a file: no line of its own, not counted in the progress */
	char err[256];
	/* engine's */
	CURL *easy;
	struct curl_slist *headers;
	uint64_t not_before_ms;
	char *redirect; /* where the last answer sent us (owned) */
	int redirects;
	uint64_t counted; /* bytes of this attempt added to the progress */
};

/* Initialises a job (url: owned from now on). */
void client_job_init(struct client_job *j, struct client *c, char *url, const char *label);
void client_job_release(struct client_job *j);
/* Appends a header for this attempt (the setup callback's). */
int client_job_header(struct client_job *j, const char *line);
/* A write callback that keeps the answer in j->body (up to the cap). */
size_t client_body_write(char *p, size_t size, size_t n, void *userdata);
/* Counts bytes sent or received for the progress display. */
void client_progress_add(struct client_job *j, uint64_t n);

/* Runs jobs, c->jobs at a time. Returns the number that failed. */
size_t client_run(struct client *c, struct client_job **jobs, size_t n);
/* One request run to completion through the engine (the listing, @publish). */
int client_request(struct client *c, struct client_job *j);

/* The "message" or "error" of a JSON error body, else the status: into buf. */
const char *client_error_text(const struct client_job *j, char *buf, size_t cap);

/* Messages: one line on stderr, above the progress line when there is one. */
__attribute__((format(printf, 2, 3))) void client_say(struct client *c, const char *fmt, ...);
/* Redraws the progress line now (a terminal only), and ends it before the summary. */
void client_progress(struct client *c, bool force);
void client_progress_end(struct client *c);

/* SHA-256 of a file, as hex. Returns 0 or a negative errno. */
int client_file_sha256(const char *path, char hex[65], uint64_t *size);

/* Finishes md into hex. Returns 0 or -EIO. */
int client_sha256_hex(EVP_MD_CTX *md, char hex[65]);

/* "1.5 MiB" */
void client_human_bytes(uint64_t n, char *buf, size_t cap);

/* Prints the report on stdout and frees it. */
void client_print_report(json_t *report);

#endif
