/* `depot serve`: opens the stores in the data directory, optionally seeds a demo on first
 * start, serves the API until SIGINT or SIGTERM. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>
#include <time.h>

#include "api.h"
#include "app.h"
#include "cli.h"
#include "cleanup.h"
#include "fsck.h"
#include "gc.h"
#include "timeutil.h"
#include "http.h"
#include "log.h"
#include "s3_sign.h"
#include "web_session.h"

/* "HOST:PORT", "[v6]:PORT" or ":PORT" into host and port. */
static int parse_listen(const char *s, char *host, size_t cap, unsigned *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon)
		return -1;
	const char *h = s;
	size_t hlen = (size_t)(colon - s);
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']')
		h++, hlen -= 2;
	if (hlen >= cap)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	char *end;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || p > 65535)
		return -1;
	*port = (unsigned)p;
	return 0;
}

struct demo {
	bool exists;
	int64_t project_id;
	char secret[TOKEN_SECRET_MAX + 1];
};

/* A user, a group, a project and a token to try the API with, in one transaction so that
 * a failure leaves none of it; nothing when the user demo exists. */
static int seed_demo(struct meta *m, void *ctx)
{
	struct demo *d = ctx;
	struct meta_user u = {.username = "demo"};
	int ret = m->ops->user_find(m, "demo", &u);
	if (ret != -ENOENT) {
		d->exists = ret == 0;
		return ret;
	}
	/* the project lives in demo's personal namespace, which demo owns */
	struct meta_project p = {.path = "demo/project", .visibility = VIS_PRIVATE,
				 .packages_enabled = true};
	if ((ret = m->ops->user_create(m, &u)) != 0)
		return ret;
	p.creator_id = u.id;
	if ((ret = m->ops->project_create(m, &p)) != 0)
		return ret;
	d->project_id = p.id;
	struct token_request req = {.kind = TOKEN_PERSONAL, .user_id = u.id, .scopes = SCOPE_API,
				    .name = "demo"};
	struct meta_token t;
	return token_issue(m, &req, d->secret, &t);
}

/* --demo, once the listener is bound, so that a start which cannot bind makes nothing and
 * the next one shows the token. Later starts say how to get another: it is shown once. */
static void demo(struct meta *m, const char *data, const char *host, unsigned port)
{
	struct demo d = {0};
	int ret = m->ops->locked(m, seed_demo, &d);
	if (ret == 0 && d.exists) {
		printf("depot: the demo exists (user demo, project demo/project); a new token: "
		       "depot token create personal --user demo --scopes api --data %s\n", data);
	} else if (ret == 0) {
		char listen[300];
		snprintf(listen, sizeof(listen), "%s:%u", host, port);
		printf("depot: first start, created a demo to try the API with:\n"
		       "  user demo, project demo/project in their namespace (id %lld)\n"
		       "  personal access token (shown once): %s\n\n"
		       "  echo hello > file.txt\n"
		       "  curl --header \"PRIVATE-TOKEN: %s\" --upload-file file.txt \\\n"
		       "       \"http://%s/api/v4/projects/%lld/packages/generic/my_package/1.0.0/"
		       "file.txt\"\n\n",
		       (long long)d.project_id, d.secret, d.secret, listen, (long long)d.project_id);
	} else {
		log_line("depot: cannot create the demo (is the group demo taken?): %s",
			 strerror(-ret));
	}
	fflush(stdout);
}

/* Maintenance runs on its own thread so it never delays a request: every second it writes
 * the batched download times; every gc_s seconds the gc sweep, every cleanup_s seconds
 * the cleanup policies (0: never). */
struct maint {
	struct app *app;
	int64_t gc_s;
	int64_t cleanup_s;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	bool audit_due; /* the audit queue is half full: write it before the next tick */
	pthread_t thread;
};

static void maint_wake_audit(void *ctx)
{
	struct maint *t = ctx;
	pthread_mutex_lock(&t->lock);
	t->audit_due = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
}

static void maint_tick(struct maint *t, int64_t *next_gc, int64_t *next_cleanup)
{
	struct app *app = t->app;
	int64_t now = now_ms(), removed;
	int ret = touch_log_flush(app->touches, app->meta);
	if (ret != 0)
		log_line("depot: cannot record download times: %s", strerror(-ret));
	if ((ret = audit_flush(app->audit, app->meta)) != 0)
		log_line("depot: cannot write the audit log: %s", strerror(-ret));
	if (t->cleanup_s && now >= *next_cleanup) {
		if ((ret = cleanup_run(app->meta, 0, false, now, NULL, NULL, &removed)) != 0)
			log_line("depot: cleanup failed: %s", strerror(-ret));
		*next_cleanup = now + t->cleanup_s * 1000;
	}
	if (t->gc_s && now >= *next_gc) {
		struct gc_stats st;
		if ((ret = gc_run(app->meta, app->blobs, 3600, &st)) != 0)
			log_line("depot: gc failed: %s", strerror(-ret));
		*next_gc = now + t->gc_s * 1000;
	}
}

/* Worker threads when --threads is not given. A request on local stores never waits on
 * the network, and threads beyond the cores only lengthen the run queue: on 2 cores, 2
 * served 113k small GETs/s with a p99 of 4.4 ms, 4 served 96k with 5.2 ms. Over
 * PostgreSQL or object storage requests wait on round trips: more threads keep the
 * cores busy meanwhile. */
static long long default_threads(const struct cli_opt *blobs)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	bool networked = cli_meta_url() || cli_blobs_url(blobs);
	long long n = (cpus > 0 ? cpus : 1) * (networked ? 2 : 1), least = networked ? 4 : 2;
	return n < least ? least : n > 256 ? 256 : n;
}

static void *maint_loop(void *arg)
{
	struct maint *t = arg;
	int64_t next_gc = now_ms() + t->gc_s * 1000, next_cleanup = now_ms() + t->cleanup_s * 1000;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		while (!t->stop && !t->audit_due &&
		       pthread_cond_timedwait(&t->wake, &t->lock, &until) == 0)
			;
		if (t->stop)
			break;
		bool audit_only = t->audit_due; /* woken early: the tick stays on time */
		t->audit_due = false;
		pthread_mutex_unlock(&t->lock);
		int ret;
		if (audit_only && (ret = audit_flush(t->app->audit, t->app->meta)) != 0)
			log_line("depot: cannot write the audit log: %s", strerror(-ret));
		if (!audit_only) {
			maint_tick(t, &next_gc, &next_cleanup);
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
		}
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* Both stores, for the offline commands; -1 having said why. blob_opts: the
 * CLI_BLOB_OPTIONS entries of the command's table. */
static int open_stores(const char *data, const struct cli_opt *blob_opts, struct meta **m,
		       struct blob_store **bs)
{
	if (!(*m = cli_open_meta(data, NULL)))
		return -1;
	if (!(*bs = cli_open_blobs(data, blob_opts))) {
		(*m)->ops->close(*m);
		return -1;
	}
	return 0;
}

/* Staged uploads (and, on object storage, objects no row maps) younger than --min-age
 * may be uploads under way, on this machine or another node. */
#define MIN_AGE_OPTION                                                                     \
	{.name = "min-age", .has_value = true, .arg = "SECONDS",                           \
	 .help = "leave staged uploads (and unmapped objects) younger than this alone",    \
	 .def = "3600"}

static const struct cli_opt gc_options[] = {MIN_AGE_OPTION, CLI_BLOB_OPTIONS};
#define GC_NOPTS (1 + CLI_BLOB_NOPTS)

int cli_gc(int argc, char **argv)
{
	struct cli_opt opts[GC_NOPTS];
	memcpy(opts, gc_options, sizeof(opts));
	const char *data = NULL;
	long long min_age = 3600;
	if (cli_parse(argc, argv, opts, GC_NOPTS, NULL, 0, &data) != 0 ||
	    cli_number(&opts[0], 0, LLONG_MAX, "seconds", &min_age) != 0)
		return 2;
	struct meta *m;
	struct blob_store *bs;
	if (open_stores(data, opts + 1, &m, &bs) != 0)
		return 1;
	struct gc_stats st;
	int ret = gc_run(m, bs, min_age, &st);
	bs->ops->close(bs);
	m->ops->close(m);
	if (ret != 0)
		return cli_fail("gc failed: %s", strerror(-ret));
	fprintf(stderr, "depot: gc removed %lld blob(s) of deleted files, %lld orphan blob(s)\n",
		(long long)st.swept, (long long)st.orphans);
	return 0;
}

/* A whole (small) file as a NUL-terminated string; NULL with errno set on failure. */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(1 << 20);
	size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
	int failed = ferror(f) || !buf;
	fclose(f);
	if (failed) {
		free(buf);
		errno = EIO;
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* Points stderr, where every log line goes, at the log file (again, after a SIGHUP, so
 * rotated logs are let go). */
static int reopen_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	int ret = dup2(fd, STDERR_FILENO) < 0 ? -1 : 0;
	close(fd);
	return ret;
}

static void print_problem(void *ctx, const char *line)
{
	(void)ctx;
	printf("%s\n", line);
}

static const struct cli_opt fsck_options[] = {
	{.name = "repair", .help = "remove what is safe to remove (no server may run)"},
	MIN_AGE_OPTION, CLI_BLOB_OPTIONS};
#define FSCK_NOPTS (2 + CLI_BLOB_NOPTS)

int cli_fsck(int argc, char **argv)
{
	struct cli_opt opts[FSCK_NOPTS];
	memcpy(opts, fsck_options, sizeof(opts));
	const char *data = NULL;
	long long min_age = 3600;
	if (cli_parse(argc, argv, opts, FSCK_NOPTS, NULL, 0, &data) != 0 ||
	    cli_number(&opts[1], 0, LLONG_MAX, "seconds", &min_age) != 0)
		return 2;
	/* Repairs remove staged uploads, which a running server may be writing. */
	if (opts[0].present && cli_lock_data(data, "fsck --repair", "stop it before fsck --repair") != 0)
		return 1;
	struct meta *m;
	struct blob_store *bs;
	if (open_stores(data, opts + 2, &m, &bs) != 0)
		return 1;
	struct fsck_result res = {0};
	/* A staged file on the local disk is locked by its writer (the sweep skips it):
	 * there, leftovers of any age are found, unless --min-age is given. */
	if (!bs->keyed_per_upload && !opts[1].present)
		min_age = 0;
	int ret = fsck_run(m, bs, opts[0].present, min_age, print_problem, NULL, &res);
	bs->ops->close(bs);
	m->ops->close(m);
	if (ret != 0)
		return cli_fail("fsck failed: %s", strerror(-ret));
	fprintf(stderr, "depot: fsck checked %lld file(s): %lld problem(s), %lld repaired\n",
		(long long)res.checked, (long long)res.problems, (long long)res.fixed);
	return res.problems > res.fixed ? 1 : 0;
}

enum serve_opt {
	O_LISTEN, O_EXTERNAL_URL, O_TRUSTED_PROXY, O_METRICS_ALLOW, O_TLS_CERT, O_TLS_KEY,
	O_MAX_FILE_SIZE, O_THREADS, O_MAX_CONNECTIONS, O_MAX_PER_IP, O_IDLE_TIMEOUT, O_AUTH_FAILURES,
	O_SHUTDOWN_TIMEOUT, O_GC_INTERVAL, O_CLEANUP_INTERVAL, O_BLOBS, O_S3_CREDENTIALS, O_S3_PART_SIZE,
	O_BLOBS_REDIRECT, O_LOG, O_SESSION_KEY, O_DEMO, O_SERVE_COUNT /* --help's order */
};

/* The parser's table is also serve's --help, so an option cannot go undocumented. */
#define STR_(x) #x
#define STR(x) STR_(x)

/* The parser's table is also serve's --help, so no option goes undocumented, and the
 * defaults are in one place. GitLab runs cleanup policies every 12 hours. */
static const struct cli_opt serve_options[O_SERVE_COUNT] = {
	[O_LISTEN] = {.name = "listen", .has_value = true, .arg = "HOST:PORT",
		      .help = "where to listen; port 0: any free one", .def = "127.0.0.1:8080"},
	[O_EXTERNAL_URL] = {.name = "external-url", .has_value = true, .arg = "URL",
			    .help = "the URL clients reach depot at, for links"},
	[O_TRUSTED_PROXY] = {.name = "trusted-proxy", .has_value = true, .arg = "ADDRS",
			     .help = "load balancers in front (IP addresses, comma-separated): a "
				     "connection from one is from the last address its "
				     "X-Forwarded-For names"},
	[O_METRICS_ALLOW] = {.name = "metrics-allow", .has_value = true, .arg = "CIDR",
			     .help = "who may read /-/metrics besides loopback: IPv4 or IPv6 "
				     "addresses or ranges, comma-separated; repeatable"},
	[O_TLS_CERT] = {.name = "tls-cert", .has_value = true, .arg = "FILE",
			.help = "serve HTTPS with this PEM certificate"},
	[O_TLS_KEY] = {.name = "tls-key", .has_value = true, .arg = "FILE",
		       .help = "the PEM private key of --tls-cert"},
	[O_MAX_FILE_SIZE] = {.name = "max-file-size", .has_value = true, .arg = "BYTES",
			     .help = "largest upload; 0: no limit", .def = "5368709120"},
	[O_THREADS] = {.name = "threads", .has_value = true, .arg = "N",
		       .help = "worker threads, 1 to 256 (default: one per CPU, at least 2; with"
			       " --meta or --blobs, two per CPU, at least 4)"},
	[O_MAX_CONNECTIONS] = {.name = "max-connections", .has_value = true, .arg = "N",
			       .help = "open connections in all", .def = "4096"},
	[O_MAX_PER_IP] = {.name = "max-connections-per-ip", .has_value = true, .arg = "N",
			  .help = "open connections per client address", .def = "256"},
	[O_IDLE_TIMEOUT] = {.name = "idle-timeout", .has_value = true, .arg = "SECONDS",
			    .help = "close connections silent this long", .def = "60"},
	[O_AUTH_FAILURES] = {.name = "auth-failures-per-minute", .has_value = true, .arg = "N",
			     .help = "failed logins per address before 429; 0: off",
			     .def = STR(RATELIMIT_MAX)},
	[O_SHUTDOWN_TIMEOUT] = {.name = "shutdown-timeout", .has_value = true, .arg = "SECONDS",
				.help = "on SIGTERM, wait this long for requests", .def = "30"},
	[O_GC_INTERVAL] = {.name = "gc-interval", .has_value = true, .arg = "SECONDS",
			   .help = "run gc this often; 0: never", .def = "600"},
	[O_CLEANUP_INTERVAL] = {.name = "cleanup-interval", .has_value = true, .arg = "SECONDS",
				.help = "run cleanup policies this often; 0: never", .def = "43200"},
	[O_BLOBS] = CLI_BLOB_OPTIONS,
	[O_BLOBS_REDIRECT] = {.name = "blobs-redirect", .has_value = true, .arg = "SECONDS",
			      .help = "answer downloads from object storage with a 302 to a URL "
				      "valid this long; 0: serve them", .def = "0"},
	[O_LOG] = {.name = "log", .has_value = true, .arg = "FILE",
		   .help = "log here, not to stderr (reopened on SIGHUP)"},
	[O_SESSION_KEY] = {.name = "session-key-file", .has_value = true, .arg = "FILE",
			   .help = "the web sessions' key, created if absent (nodes share one)",
			   .def = "DIR/session.key"},
	[O_DEMO] = {.name = "demo", .help = "create a demo project and token, if none yet"},
};

int cli_serve(int argc, char **argv)
{
	struct cli_opt opts[O_SERVE_COUNT];
	memcpy(opts, serve_options, sizeof(opts));
	struct cli_values metrics_allow = {0};
	opts[O_METRICS_ALLOW].all = &metrics_allow;
	const char *data = NULL;
	if (cli_parse(argc, argv, opts, O_SERVE_COUNT, NULL, 0, &data) != 0)
		return 2;
	if (opts[O_TLS_CERT].present != opts[O_TLS_KEY].present)
		return cli_fail("--tls-cert and --tls-key go together");
	/* What the options say, or their defaults in serve_options. */
	long long max_size = 0, threads = 0, gc_interval = 0, cleanup_interval = 0, max_conn = 0,
		  shutdown_s = 0, max_per_ip = 0, idle_s = 0, auth_limit = 0, redirect_s = 0;
	if (cli_number(&opts[O_MAX_FILE_SIZE], 0, LLONG_MAX, "a number of bytes (0: unlimited)",
		       &max_size) ||
	    cli_number(&opts[O_THREADS], 1, 256, "1 to 256", &threads) ||
	    cli_number(&opts[O_GC_INTERVAL], 0, LLONG_MAX, "seconds (0: never)", &gc_interval) ||
	    cli_number(&opts[O_CLEANUP_INTERVAL], 0, LLONG_MAX, "seconds (0: never)",
		       &cleanup_interval) ||
	    cli_number(&opts[O_MAX_CONNECTIONS], 1, 1000000, "1 to 1000000", &max_conn) ||
	    cli_number(&opts[O_SHUTDOWN_TIMEOUT], 0, 86400, "seconds", &shutdown_s) ||
	    cli_number(&opts[O_MAX_PER_IP], 1, 1000000, "1 to 1000000", &max_per_ip) ||
	    cli_number(&opts[O_IDLE_TIMEOUT], 1, 86400, "seconds", &idle_s) ||
	    cli_number(&opts[O_AUTH_FAILURES], 0, 1000000, "a number (0: no limit)", &auth_limit) ||
	    cli_number(&opts[O_BLOBS_REDIRECT], 0, S3_PRESIGN_EXPIRES_MAX,
		       "seconds, at most 604800 (0: no redirects)", &redirect_s))
		return 2;
	if (!opts[O_THREADS].present)
		threads = default_threads(&opts[O_BLOBS]);
	struct http_options hopt = {.threads = (unsigned)threads,
				    .max_connections = (unsigned)max_conn,
				    .max_per_ip = (unsigned)max_per_ip,
				    .idle_timeout_s = (unsigned)idle_s,
				    .external_url = opts[O_EXTERNAL_URL].value,
				    .trusted_proxies = opts[O_TRUSTED_PROXY].value};
	if (hopt.trusted_proxies && !http_addr_list_valid(hopt.trusted_proxies))
		return cli_fail("--trusted-proxy takes IP addresses, separated by commas");
	struct cidr_list allow = {0};
	for (size_t i = 0; i < metrics_allow.n; i++) {
		int err = cidr_list_add(&allow, metrics_allow.v[i]);
		if (err == -E2BIG)
			return cli_fail("--metrics-allow: more than %d ranges", CIDR_LIST_MAX);
		if (err)
			return cli_fail("--metrics-allow takes IP addresses or ranges (10.0.0.0/8, "
					"2001:db8::/32), separated by commas, not '%s'",
					metrics_allow.v[i]);
	}
	const char *listen = opts[O_LISTEN].value;
	char host[256];
	if (parse_listen(listen, host, sizeof(host), &hopt.port) != 0)
		return cli_fail("--listen takes HOST:PORT");
	hopt.host = host;
	/* One server per data directory: the SQLite store and the blobs are in it. Taken
	 * before --log moves stderr, so a refusal reaches the terminal. PostgreSQL is shared
	 * by design: its transactions and advisory locks keep servers apart, so with --meta
	 * no directory lock is taken (several servers may serve one store). */
	if (!cli_meta_url() && cli_lock_data(data, "serve", "one server per data directory") != 0)
		return 1;
	const char *log_path = opts[O_LOG].value;
	if (log_path && reopen_log(log_path) != 0)
		return cli_fail("cannot open the log file %s: %s", log_path, strerror(errno));

	char *cert = NULL, *key = NULL;
	if (opts[O_TLS_CERT].present) {
		if (!(cert = read_file(opts[O_TLS_CERT].value)) ||
		    !(key = read_file(opts[O_TLS_KEY].value))) {
			free(cert);
			return cli_fail("cannot read the TLS certificate or key: %s", strerror(errno));
		}
		hopt.tls_cert_pem = cert;
		hopt.tls_key_pem = key;
	}
	struct meta *m = cli_open_meta(data, NULL);
	if (!m) {
		free(cert);
		free(key);
		return 1;
	}
	if (cli_meta_url()) /* it holds no password: meta_pg_open refuses one */
		log_line("depot: metadata in PostgreSQL at %s", cli_meta_url());
	struct blob_store *bs = cli_open_blobs(data, &opts[O_BLOBS]);
	if (!bs) {
		m->ops->close(m);
		free(cert);
		free(key);
		return 1;
	}
	int rc = 1;
	if (redirect_s && !bs->ops->presign) {
		cli_fail("--blobs-redirect needs file contents in object storage (--blobs s3://...)");
		m->ops->close(m);
		bs->ops->close(bs);
		free(cert);
		free(key);
		return 2;
	}
	struct app app = {.meta = m, .blobs = bs, .max_file_size = (uint64_t)max_size,
			  .blobs_redirect_s = redirect_s,
			  .touches = touch_log_new(), .hot = blob_cache_new(512),
			  .replies = reply_cache_new(512),
			  .auth_failures = auth_limit ? ratelimit_new((int)auth_limit) : NULL,
			  .audit = audit_queue_new(), .auth_cache = auth_cache_new(),
			  .metrics = metrics_new(api_routes, api_routes_count, &allow)};
	if (!app.touches || !app.hot || !app.replies || !app.audit || !app.metrics || !app.auth_cache ||
	    (auth_limit && !app.auth_failures)) {
		cli_fail("out of memory");
		goto out;
	}
	/* The web sessions' key: in the data directory unless given (several nodes over one
	 * store share one file, or one node's cookies fail on the others). */
	static unsigned char session_key[WEB_SESSION_KEY_LEN];
	char key_path[4096];
	snprintf(key_path, sizeof(key_path), "%s/session.key", data);
	const char *kp = opts[O_SESSION_KEY].present ? opts[O_SESSION_KEY].value : key_path;
	int kret = web_session_key_load(kp, session_key);
	if (kret != 0) {
		cli_fail("cannot read or create the session key %s: %s", kp, strerror(-kret));
		goto out;
	}
	app.session_key = session_key;

	/* Signals are taken synchronously by this thread; the server's threads inherit the
	 * blocked mask, so none of them is interrupted. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	app.commits = committer_start(m, app.metrics);
	hopt.metrics = app.metrics;
	struct http_server *srv = http_server_start(&app, &hopt, api_routes, api_routes_count);
	if (!srv)
		goto out;
	struct gc_stats st;
	/* Staged uploads of a crashed run, and what it left half-done. Object storage may be
	 * shared with other nodes, whose uploads under way are not leftovers. */
	gc_run(m, bs, bs->keyed_per_upload ? 3600 : 0, &st);
	struct maint mt = {.app = &app, .gc_s = gc_interval, .cleanup_s = cleanup_interval};
	pthread_mutex_init(&mt.lock, NULL);
	pthread_cond_init(&mt.wake, NULL);
	bool maint_started = pthread_create(&mt.thread, NULL, maint_loop, &mt) == 0;
	if (maint_started)
		audit_queue_set_wake(app.audit, maint_wake_audit, &mt);
	if (opts[O_DEMO].present)
		demo(m, data, host, http_server_port(srv));
	int sig = 0;
	while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
		if (log_path && reopen_log(log_path) != 0)
			fprintf(stderr, "depot: cannot reopen %s: %s\n", log_path, strerror(errno));
		else
			log_line("depot: log reopened");
	}
	log_line("depot: %s, stopping: no new connections, waiting up to %llds for requests "
		 "under way", strsignal(sig), shutdown_s);
	/* Stop accepting, let requests under way finish (uploads waiting on the committer
	 * among them: suspended connections must be resumed before the server stops), then
	 * stop. */
	http_server_quiesce(srv);
	if (!http_server_drain(srv, shutdown_s * 1000))
		log_line("depot: shutdown timeout: closing requests still under way");
	/* The committer stops before the server (no connection may stay suspended when it
	 * stops) but is freed only after it: until then a request thread may still hold
	 * app.commits, and its submit is refused and recorded alone. */
	committer_stop(app.commits);
	http_server_stop(srv);
	committer_free(app.commits);
	app.commits = NULL;
	if (maint_started) {
		pthread_mutex_lock(&mt.lock);
		mt.stop = true;
		pthread_cond_signal(&mt.wake);
		pthread_mutex_unlock(&mt.lock);
		pthread_join(mt.thread, NULL);
	}
	audit_queue_set_wake(app.audit, NULL, NULL);
	pthread_mutex_destroy(&mt.lock);
	pthread_cond_destroy(&mt.wake);
	touch_log_flush(app.touches, m); /* the last download times */
	audit_flush(app.audit, m);
	rc = 0;
out:
	committer_free(app.commits);
	touch_log_free(app.touches);
	blob_cache_free(app.hot);
	reply_cache_free(app.replies);
	ratelimit_free(app.auth_failures);
	audit_queue_free(app.audit);
	metrics_free(app.metrics); /* the server and the committer are gone */
	auth_cache_free(app.auth_cache);
	bs->ops->close(bs);
	m->ops->close(m);
	free(cert);
	free(key);
	return rc;
}

const struct cli_command cli_serve_command = {
	.name = "serve",
	.run = cli_serve,
	.synopsis = "depot serve [--listen HOST:PORT] [--demo] [OPTIONS]",
	.help = "  Serves the API until SIGINT or SIGTERM; SIGHUP reopens the --log file.\n"
		"  One server per data directory: a second one is refused (not with --meta:\n"
		"  servers share a PostgreSQL store by design).\n",
	.opts = serve_options,
	.nopts = O_SERVE_COUNT,
};

const struct cli_command cli_gc_command = {
	.name = "gc",
	.run = cli_gc,
	.synopsis = "depot gc [--min-age SECONDS] [--blobs URL]",
	.help = "  Removes the content of deleted files and blobs no file names (the server\n"
		"  also does, every --gc-interval). Safe while the server runs.\n",
	.opts = gc_options,
	.nopts = GC_NOPTS,
};

const struct cli_command cli_fsck_command = {
	.name = "fsck",
	.run = cli_fsck,
	.synopsis = "depot fsck [--repair] [--min-age SECONDS] [--blobs URL]",
	.help = "  Checks that every file's content is there with its size and SHA-256, and\n"
		"  looks for orphan content and leftover staged uploads; prints one line per\n"
		"  problem, exits 1 if any is left.\n"
		"  --repair removes what is safe to remove; it refuses while a server runs.\n",
	.opts = fsck_options,
	.nopts = FSCK_NOPTS,
};
