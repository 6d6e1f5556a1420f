/* The push/pull client's engine (see client.h): options, credentials and the package URL;
 * transfers run c->jobs at a time on one libcurl multi handle, whose connection pool they
 * share; connection errors and 5xx answers are retried with exponential backoff; progress
 * goes to a terminal as one redrawn line. */
#include "client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "route.h"
#include "timeutil.h"
#include "validate.h"

#define BODY_MAX (64u << 20) /* a listing of many thousand files fits */
#define TOKEN_MAX 1024
#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 8000
#define REDIRECTS_MAX 5

/* ---- URL and credentials ---- */

static char *encode(const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || strchr("-._~@", *p) || (keep_slash && *p == '/')) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

char *client_encode_path(const char *path)
{
	return encode(path, true);
}

char *client_url(const struct client *c, const char *version, const char *rest)
{
	char *v = encode(version, false), *url = NULL;
	if (v && asprintf(&url, "%s%s%s%s", c->base, v, rest ? "/" : "", rest ? rest : "") < 0)
		url = NULL;
	free(v);
	return url;
}

/* A segment as the user typed it: decoded when it holds escapes (a URL copied from a
 * browser), as it is otherwise. Caller frees. */
static char *segment(const char *s, size_t len)
{
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	if (memchr(s, '%', len)) {
		if (pct_decode(s, len, out, len + 1, false) < 0) {
			free(out);
			return NULL;
		}
	} else {
		memcpy(out, s, len);
		out[len] = '\0';
	}
	return out;
}

/* URL: http(s)://HOST/api/v4/projects/ID/packages/generic/NAME/VERSION, or NAME/VERSION
 * inside a GitLab CI job (CI_API_V4_URL and CI_PROJECT_ID give the rest). */
static int parse_url(struct client *c, const char *url)
{
	static const char marker[] = "/packages/generic/";
	char *prefix = NULL;
	const char *tail;
	if (strstr(url, "://")) {
		const char *m = strstr(url, marker);
		if (!m || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
			goto usage;
		tail = m + strlen(marker);
		prefix = strndup(url, (size_t)(tail - url));
	} else {
		const char *api = getenv("CI_API_V4_URL"), *project = getenv("CI_PROJECT_ID");
		if (!api || !*api || !project || !*project) {
			cli_fail("'%s' is not a package URL; NAME/VERSION alone needs CI_API_V4_URL "
				 "and CI_PROJECT_ID (set in GitLab CI jobs)",
				 url);
			return -1;
		}
		size_t alen = strlen(api);
		while (alen && api[alen - 1] == '/')
			alen--;
		if (asprintf(&prefix, "%.*s/projects/%s%s", (int)alen, api, project, marker) < 0)
			prefix = NULL;
		tail = url;
	}
	if (!prefix)
		return -ENOMEM;
	const char *slash = strchr(tail, '/');
	size_t vlen = slash ? strcspn(slash + 1, "/?#") : 0;
	if (!slash || slash == tail || vlen == 0 ||
	    (slash[1 + vlen] && !(slash[1 + vlen] == '/' && !slash[2 + vlen]))) {
		free(prefix);
		goto usage;
	}
	c->name = segment(tail, (size_t)(slash - tail));
	c->version = segment(slash + 1, vlen);
	const char *bad = !c->name || check_package_name(c->name) ? "package name"
			  : !c->version || (c->version[0] != '@' && check_package_version(c->version))
			      ? "version"
			      : NULL;
	if (bad) {
		free(prefix);
		cli_fail("invalid %s in '%s'", bad, url);
		return -1;
	}
	char *name = encode(c->name, false);
	if (!name || asprintf(&c->base, "%s%s/", prefix, name) < 0)
		c->base = NULL;
	free(name);
	free(prefix);
	return c->base ? 0 : -ENOMEM;
usage:
	cli_fail("'%s' is not a package URL: "
		 "http(s)://HOST/api/v4/projects/ID/packages/generic/NAME/VERSION",
		 url);
	return -1;
}

static bool token_ok(const char *t)
{
	if (!*t || strlen(t) > TOKEN_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return false;
	return true;
}

/* --token-file, DEPOT_TOKEN, CI_JOB_TOKEN: the first given, never the command line. */
static int credentials(struct client *c, const char *file)
{
	char buf[TOKEN_MAX + 2] = "";
	const char *kind = "PRIVATE-TOKEN", *token = NULL, *from = NULL;
	if (file) {
		FILE *f = fopen(file, "r");
		if (!f) {
			cli_fail("cannot read %s: %s", file, strerror(errno));
			return -1;
		}
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
		buf[strcspn(buf, "\r\n")] = '\0';
		token = buf;
		from = file;
	} else if ((token = getenv("DEPOT_TOKEN")) && *token) {
		from = "DEPOT_TOKEN";
	} else if ((token = getenv("CI_JOB_TOKEN")) && *token) {
		kind = "JOB-TOKEN";
		from = "CI_JOB_TOKEN";
	} else {
		return 0; /* anonymous: public projects */
	}
	int ret = 0;
	if (!token_ok(token)) {
		cli_fail("the token in %s is empty or not a token", from);
		ret = -1;
	} else if (asprintf(&c->auth_header, "%s: %s", kind, token) < 0)
		ret = -ENOMEM;
	explicit_bzero(buf, sizeof(buf));
	return ret;
}

void client_release(struct client *c)
{
	if (c->multi)
		curl_multi_cleanup(c->multi);
	if (c->auth_header)
		explicit_bzero(c->auth_header, strlen(c->auth_header));
	free(c->auth_header);
	free(c->base);
	free(c->name);
	free(c->version);
	free(c->argv);
	curl_global_cleanup();
}

int client_init(struct client *c, int argc, char **argv, struct cli_opt *opts, size_t nopts,
		const char **pos, size_t maxpos, size_t *npos, size_t url_pos)
{
	*c = (struct client){.jobs = 4, .retries = 5};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* -j N and -jN are --jobs N */
	c->argv = calloc((size_t)argc * 2 + 1, sizeof(char *));
	if (!c->argv)
		return 1;
	int n = 0;
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "-j", 2) == 0) {
			static char jobs_opt[] = "--jobs";
			c->argv[n++] = jobs_opt;
			if (argv[i][2])
				c->argv[n++] = argv[i] + 2;
			continue;
		}
		c->argv[n++] = argv[i];
	}
	const char *data;
	if (cli_parse_n(n, c->argv, opts, nopts, pos, maxpos, npos, &data) != 0)
		return 2;
	if (*npos <= url_pos) {
		cli_fail("expected the package URL");
		return 2;
	}
	long long jobs = 4, retries = 5, rate = 0;
	if (cli_number(&opts[OPT_JOBS], 1, 64, "1 to 64", &jobs) != 0 ||
	    cli_number(&opts[OPT_RETRIES], 0, 100, "0 to 100", &retries) != 0 ||
	    cli_number(&opts[OPT_LIMIT_RATE], 0, 1LL << 40, "a number of bytes", &rate) != 0)
		return 2;
	c->jobs = (long)jobs;
	c->retries = (long)retries;
	c->limit_rate = rate;
	c->dry_run = opts[OPT_DRY_RUN].present;
	c->json = opts[OPT_JSON].present;
	c->tty = isatty(STDERR_FILENO);
	if (parse_url(c, pos[url_pos]) != 0 ||
	    credentials(c, opts[OPT_TOKEN_FILE].present ? opts[OPT_TOKEN_FILE].value : NULL) != 0)
		return 1;
	if (!(c->multi = curl_multi_init()))
		return 1;
	curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, c->jobs);
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, c->jobs);
	c->start_ms = mono_ms();
	return 0;
}

/* ---- jobs ---- */

void client_job_init(struct client_job *j, struct client *c, char *url, const char *label)
{
	*j = (struct client_job){.url = url, .label = label, .c = c};
}

void client_job_release(struct client_job *j)
{
	if (j->easy)
		curl_easy_cleanup(j->easy);
	curl_slist_free_all(j->headers);
	free(j->url);
	free(j->redirect);
	free(j->body);
	free(j->request);
	j->request = NULL;
	j->easy = NULL;
	j->headers = NULL;
	j->url = j->redirect = j->body = NULL;
}

int client_job_header(struct client_job *j, const char *line)
{
	struct curl_slist *l = curl_slist_append(j->headers, line);
	if (!l)
		return -ENOMEM;
	j->headers = l;
	return 0;
}

size_t client_body_write(char *p, size_t size, size_t n, void *userdata)
{
	struct client_job *j = userdata;
	size_t len = size * n;
	if (j->body_len + len + 1 > j->body_cap) {
		size_t cap = j->body_cap ? j->body_cap : 4096;
		while (cap < j->body_len + len + 1)
			cap *= 2;
		char *b = cap <= BODY_MAX ? realloc(j->body, cap) : NULL;
		if (!b) {
			snprintf(j->err, sizeof(j->err), "the answer is too large");
			return 0;
		}
		j->body = b;
		j->body_cap = cap;
	}
	memcpy(j->body + j->body_len, p, len);
	j->body_len += len;
	j->body[j->body_len] = '\0';
	return len;
}

void client_progress_add(struct client_job *j, uint64_t n)
{
	j->counted += n;
	j->c->bytes_done += n;
}

const char *client_error_text(const struct client_job *j, char *buf, size_t cap)
{
	json_t *root = j->body ? json_loadb(j->body, j->body_len, 0, NULL) : NULL;
	json_t *m = root ? json_object_get(root, "message") : NULL;
	if (!m && root)
		m = json_object_get(root, "error");
	if (json_is_string(m)) {
		snprintf(buf, cap, "%s", json_string_value(m));
	} else if (m) {
		char *s = json_dumps(m, JSON_COMPACT);
		snprintf(buf, cap, "HTTP %ld %s", j->status, s ? s : "");
		free(s);
	} else {
		snprintf(buf, cap, "HTTP %ld", j->status);
	}
	json_decref(root);
	return buf;
}

/* The part of a URL credentials may be sent to: scheme://host[:port]. */
static size_t origin_len(const char *url)
{
	const char *p = strstr(url, "://");
	return p ? (size_t)(p + 3 - url) + strcspn(p + 3, "/?#") : 0;
}

static bool same_origin(const char *a, const char *b)
{
	size_t n = origin_len(a);
	return n && n == origin_len(b) && strncasecmp(a, b, n) == 0;
}

/* Starts an attempt. Redirects (a download sent to object storage) are followed here, not
 * by curl, so that the token never goes to another host. */
static int start(struct client *c, struct client_job *j)
{
	const char *url = j->redirect ? j->redirect : j->url;
	curl_slist_free_all(j->headers);
	j->headers = NULL;
	j->status = 0;
	j->body_len = 0;
	j->counted = 0;
	j->err[0] = '\0';
	if (!(j->easy = curl_easy_init()))
		return -ENOMEM;
	int ret = 0;
	if (c->auth_header && same_origin(url, j->url))
		ret = client_job_header(j, c->auth_header);
	if (ret == 0)
		ret = client_job_header(j, "Expect:"); /* no round trip before each body */
	CURL *e = j->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, j);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "depot/" DEPOT_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, client_body_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a stalled transfer is a connection error: under 1 byte/s for a minute */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->limit_rate > 0) {
		curl_easy_setopt(e, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)c->limit_rate);
		curl_easy_setopt(e, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)c->limit_rate);
	}
	if (ret == 0)
		ret = j->setup(j, e);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers);
	if (ret == 0 && curl_multi_add_handle(c->multi, e) != CURLM_OK)
		ret = -ENOMEM;
	return ret;
}

static bool retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/* What the attempt's end means: 0 done, -EAGAIN retry, 1 follow a redirect, else failed. */
static int outcome(struct client_job *j, CURLcode rc)
{
	long status = 0;
	curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
	j->status = status;
	if (rc != CURLE_OK) {
		if (!j->err[0])
			snprintf(j->err, sizeof(j->err), "%s", curl_easy_strerror(rc));
		return retryable(rc) ? -EAGAIN : -EIO;
	}
	char *location = NULL;
	curl_easy_getinfo(j->easy, CURLINFO_REDIRECT_URL, &location);
	if (status >= 300 && status < 400 && location && j->redirects < REDIRECTS_MAX) {
		char *copy = strdup(location);
		if (!copy)
			return -ENOMEM;
		free(j->redirect);
		j->redirect = copy;
		j->redirects++;
		return 1;
	}
	if (status >= 500) {
		char msg[200];
		snprintf(j->err, sizeof(j->err), "%s", client_error_text(j, msg, sizeof(msg)));
		return -EAGAIN;
	}
	return j->finish(j, status);
}

static void end_attempt(struct client *c, struct client_job *j)
{
	if (j->attempt_end)
		j->attempt_end(j);
	curl_multi_remove_handle(c->multi, j->easy);
	curl_easy_cleanup(j->easy);
	j->easy = NULL;
}

size_t client_run(struct client *c, struct client_job **jobs, size_t n)
{
	struct client_job **waiting = calloc(n ? n : 1, sizeof(struct client_job *));
	size_t next = 0, nwaiting = 0, running = 0, left = n, failed = 0;
	if (!waiting) {
		cli_fail("out of memory");
		return n;
	}
	while (left > 0) {
		uint64_t now = mono_ms();
		while (running < (size_t)c->jobs) {
			struct client_job *j = NULL;
			for (size_t k = 0; !j && k < nwaiting; k++)
				if (waiting[k]->not_before_ms <= now) {
					j = waiting[k];
					waiting[k] = waiting[--nwaiting];
				}
			if (!j && next < n)
				j = jobs[next++];
			if (!j)
				break;
			int ret = start(c, j);
			if (ret != 0) {
				if (!j->err[0])
					snprintf(j->err, sizeof(j->err), "%s", strerror(-ret));
				if (j->easy)
					end_attempt(c, j);
				j->failed = true;
				left--;
				failed++;
				if (!j->quiet)
					client_say(c, "failed %s: %s", j->label, j->err);
				continue;
			}
			running++;
		}
		int still;
		curl_multi_perform(c->multi, &still);
		CURLMsg *m;
		int queued;
		while ((m = curl_multi_info_read(c->multi, &queued))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct client_job *j = NULL;
			CURLcode rc = m->data.result;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
			running--;
			int v = outcome(j, rc);
			end_attempt(c, j);
			if (v != 0)
				c->bytes_done -= j->counted < c->bytes_done ? j->counted : c->bytes_done;
			if (v == 1) {
				j->not_before_ms = 0;
				waiting[nwaiting++] = j;
			} else if (v == -EAGAIN && j->attempts < c->retries) {
				uint64_t delay = (uint64_t)BACKOFF_FIRST_MS << (j->attempts < 6 ? j->attempts : 6);
				delay = delay < BACKOFF_MAX_MS ? delay : BACKOFF_MAX_MS;
				j->attempts++;
				j->not_before_ms = mono_ms() + delay;
				free(j->redirect); /* the next attempt asks depot again */
				j->redirect = NULL;
				j->redirects = 0;
				waiting[nwaiting++] = j;
				client_say(c, "retrying %s in %.2f s (%d of %ld): %s", j->label,
					   (double)delay / 1000, j->attempts, c->retries, j->err);
			} else {
				left--;
				if (v == 0) {
					j->done = true;
					c->files_done += !j->quiet;
				} else {
					j->failed = true;
					failed++;
					if (!j->err[0])
						snprintf(j->err, sizeof(j->err), "%s", strerror(-v));
					if (!j->quiet)
						client_say(c, "failed %s: %s", j->label, j->err);
				}
			}
		}
		if (left == 0)
			break;
		/* a slot just freed and a job to put in it: no waiting (a 200 ms sleep here
		 * after each pair of small files made pulling 200 of them take 14 s) */
		int timeout = running < (size_t)c->jobs && next < n ? 0 : 200;
		now = mono_ms();
		for (size_t k = 0; k < nwaiting; k++) {
			uint64_t due = waiting[k]->not_before_ms;
			int wait = due <= now ? 0 : (int)(due - now);
			timeout = wait < timeout ? wait : timeout;
		}
		if (running > 0)
			curl_multi_poll(c->multi, NULL, 0, timeout, NULL);
		else if (timeout > 0)
			usleep((useconds_t)timeout * 1000);
		client_progress(c, false);
	}
	free(waiting);
	return failed;
}

int client_request(struct client *c, struct client_job *j)
{
	struct client_job *one[] = {j};
	long jobs = c->jobs;
	j->quiet = true;
	c->jobs = 1;
	size_t failed = client_run(c, one, 1);
	c->jobs = jobs;
	return failed ? -EIO : 0;
}

/* ---- output ---- */

void client_human_bytes(uint64_t n, char *buf, size_t cap)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, cap, "%.1f %s", v, units[u]);
}

static void draw(struct client *c)
{
	uint64_t now = mono_ms(), elapsed = now - c->start_ms;
	uint64_t rate = elapsed ? c->bytes_done * 1000 / elapsed : 0;
	char done[32], total[32], speed[32], eta[32] = "--";
	client_human_bytes(c->bytes_done, done, sizeof(done));
	client_human_bytes(c->bytes_total, total, sizeof(total));
	client_human_bytes(rate, speed, sizeof(speed));
	if (rate && c->bytes_total >= c->bytes_done) {
		uint64_t s = (c->bytes_total - c->bytes_done) / rate;
		snprintf(eta, sizeof(eta), "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	}
	fprintf(stderr, "\r\033[K%zu/%zu files  %s / %s  %s/s  %s left", c->files_done,
		c->files_total, done, total, speed, eta);
	fflush(stderr);
	c->drawn = true;
	c->last_draw_ms = now;
}

void client_progress(struct client *c, bool force)
{
	if (c->tty && (force || mono_ms() - c->last_draw_ms >= 200))
		draw(c);
}

void client_progress_end(struct client *c)
{
	if (!c->tty)
		return;
	draw(c);
	fputc('\n', stderr);
	c->drawn = false;
}

void client_say(struct client *c, const char *fmt, ...)
{
	va_list ap;
	if (c->drawn)
		fputs("\r\033[K", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap); /* NOLINT: see log.c */
	va_end(ap);
	fputc('\n', stderr);
	if (c->drawn)
		draw(c);
	fflush(stderr);
}

void client_print_report(json_t *report)
{
	cli_print_json(report);
	fflush(stdout);
}

int client_file_sha256(const char *path, char hex[65], uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *buf = malloc(256u << 10);
	int ret = md && buf && EVP_DigestInit_ex(md, EVP_sha256(), NULL) ? 0 : -ENOMEM;
	uint64_t total = 0;
	for (ssize_t n = 1; ret == 0 && n > 0;) {
		n = read(fd, buf, 256u << 10);
		if (n < 0 && errno != EINTR)
			ret = -errno;
		else if (n > 0 && EVP_DigestUpdate(md, buf, (size_t)n))
			total += (uint64_t)n;
		else if (n > 0)
			ret = -EIO;
	}
	if (ret == 0)
		ret = client_sha256_hex(md, hex);
	if (size)
		*size = total;
	EVP_MD_CTX_free(md);
	free(buf);
	close(fd);
	return ret;
}

int client_sha256_hex(EVP_MD_CTX *md, char hex[65])
{
	unsigned char raw[32];
	unsigned int len = 0;
	if (!EVP_DigestFinal_ex(md, raw, &len) || len != 32)
		return -EIO;
	for (size_t i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	return 0;
}
