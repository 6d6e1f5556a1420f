/* `depot push DIR URL`: uploads a directory tree as one package version. Files whose name
 * and SHA-256 the version already has are skipped; each upload carries its SHA-256
 * (Content-Digest) for the server to check. By default the files go up hidden and
 * @publish makes the version visible in one step, checked against the manifest of every
 * local file, so no consumer sees half a version. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "client.h"
#include "validate.h"

#define PART_SUFFIX ".depot-part" /* pull's partial downloads: never pushed */
#define DEPTH_MAX 64

enum push_action { PUSH_UPLOAD, PUSH_UNCHANGED };

struct push_file {
	struct client_job job; /* first: the job is the file */
	char *rel, *path;
	uint64_t size;
	char sha256[65];
	enum push_action action;
	int fd;
};

struct push {
	struct client c;
	struct push_file *files;
	size_t n, cap;
	const char *dir;
};

static int add_file(struct push *p, const char *rel, const char *path, uint64_t size)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		struct push_file *f = realloc(p->files, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		p->files = f;
		p->cap = cap;
	}
	struct push_file *f = &p->files[p->n];
	*f = (struct push_file){.rel = strdup(rel), .path = strdup(path), .size = size, .fd = -1};
	if (!f->rel || !f->path) {
		free(f->rel);
		free(f->path);
		return -ENOMEM;
	}
	p->n++;
	return 0;
}

/* Every regular file under path (symbolic links to files followed, to directories not:
 * a tree with a loop still ends). */
static int walk(struct push *p, const char *path, const char *rel, int depth)
{
	if (depth > DEPTH_MAX) {
		cli_fail("%s: directories nested too deep", path);
		return -1;
	}
	DIR *d = opendir(path);
	if (!d) {
		cli_fail("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	int ret = 0;
	struct dirent *e;
	while (ret == 0 && (e = readdir(d))) {
		const char *name = e->d_name;
		size_t len = strlen(name);
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    (len > strlen(PART_SUFFIX) &&
		     strcmp(name + len - strlen(PART_SUFFIX), PART_SUFFIX) == 0))
			continue;
		char *child = NULL, *crel = NULL;
		if (asprintf(&child, "%s/%s", path, name) < 0 ||
		    asprintf(&crel, "%s%s%s", rel, *rel ? "/" : "", name) < 0) {
			free(child);
			closedir(d);
			return -1;
		}
		struct stat lst, st;
		if (lstat(child, &lst) != 0 || stat(child, &st) != 0) {
			cli_fail("cannot read %s: %s", child, strerror(errno));
			ret = -1;
		} else if (S_ISDIR(lst.st_mode)) {
			ret = walk(p, child, crel, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			ret = add_file(p, crel, child, (uint64_t)st.st_size);
		}
		free(child);
		free(crel);
	}
	closedir(d);
	return ret;
}

static int by_rel(const void *a, const void *b)
{
	return strcmp(((const struct push_file *)a)->rel, ((const struct push_file *)b)->rel);
}

/* What the registry would refuse, refused before anything is sent. */
static const char *name_problem(const char *rel)
{
	if (strlen(rel) > STORED_NAME_MAX)
		return "the path is too long";
	const char *slash = strrchr(rel, '/');
	const char *bad = check_file_name(slash ? slash + 1 : rel);
	if (!bad && slash) {
		char dir[STORED_NAME_MAX + 1];
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - rel), rel);
		bad = check_dir_path(dir);
	}
	return bad;
}

/* ---- uploads ---- */

static size_t upload_read(char *buf, size_t size, size_t n, void *userdata)
{
	struct push_file *f = userdata;
	ssize_t got;
	do
		got = read(f->fd, buf, size * n);
	while (got < 0 && errno == EINTR);
	if (got < 0) {
		snprintf(f->job.err, sizeof(f->job.err), "reading %s: %s", f->path, strerror(errno));
		return CURL_READFUNC_ABORT;
	}
	client_progress_add(&f->job, (uint64_t)got);
	return (size_t)got;
}

static int upload_seek(void *userdata, curl_off_t offset, int origin)
{
	struct push_file *f = userdata;
	return lseek(f->fd, (off_t)offset, origin) < 0 ? CURL_SEEKFUNC_FAIL : CURL_SEEKFUNC_OK;
}

/* Content-Digest: sha-256=:<base64>: (RFC 9530) */
static int digest_header(const char *hex, char *out, size_t cap)
{
	unsigned char raw[32], b64[48];
	for (size_t i = 0; i < 32; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		raw[i] = (unsigned char)v;
	}
	EVP_EncodeBlock(b64, raw, 32);
	snprintf(out, cap, "Content-Digest: sha-256=:%s:", (const char *)b64);
	return 0;
}

static int upload_setup(struct client_job *j, CURL *e)
{
	struct push_file *f = (struct push_file *)j;
	char header[128];
	if ((f->fd = open(f->path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(j->err, sizeof(j->err), "cannot read %s: %s", f->path, strerror(errno));
		return -errno;
	}
	int ret = digest_header(f->sha256, header, sizeof(header));
	if (ret == 0)
		ret = client_job_header(j, header);
	curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)f->size);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, upload_read);
	curl_easy_setopt(e, CURLOPT_READDATA, f);
	curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, upload_seek);
	curl_easy_setopt(e, CURLOPT_SEEKDATA, f);
	return ret;
}

static void upload_end(struct client_job *j)
{
	struct push_file *f = (struct push_file *)j;
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

static int upload_finish(struct client_job *j, long status)
{
	struct push_file *f = (struct push_file *)j;
	if (status == 200 || status == 201) {
		if (!j->c->tty) {
			char size[32];
			client_human_bytes(f->size, size, sizeof(size));
			client_say(j->c, "pushed %s (%s)", f->rel, size);
		}
		return 0;
	}
	char msg[200];
	snprintf(j->err, sizeof(j->err), "%s", client_error_text(j, msg, sizeof(msg)));
	return -EIO;
}

/* ---- the version's listing, @publish ---- */

static int get_setup(struct client_job *j, CURL *e)
{
	(void)j;
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	return 0;
}

static int post_setup(struct client_job *j, CURL *e)
{
	int ret = client_job_header(j, "Content-Type: application/json");
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->request);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(j->request));
	return ret;
}

static int any_status(struct client_job *j, long status)
{
	(void)j;
	(void)status;
	return 0;
}

/* One request through the engine: *out the finished job (caller releases). */
static int request(struct client *c, struct client_job *j, const char *rest, char *body,
		   const char *what)
{
	char *url = client_url(c, c->version, rest);
	if (!url) {
		free(body);
		return -ENOMEM;
	}
	client_job_init(j, c, url, what);
	j->setup = body ? post_setup : get_setup;
	j->finish = any_status;
	j->request = body;
	if (client_request(c, j) != 0) {
		cli_fail("%s failed: %s", what, j->err);
		return -EIO;
	}
	return 0;
}

static const char *listed_name(const json_t *e)
{
	const char *s = json_string_value(json_object_get(e, "file_name"));
	return s ? s : "";
}

static int by_listed_name(const void *a, const void *b)
{
	return strcmp(listed_name(*(json_t *const *)a), listed_name(*(json_t *const *)b));
}

static int find_listed(const void *key, const void *e)
{
	return strcmp(*(const char *const *)key, listed_name(*(json_t *const *)e));
}

/* Marks the files the version has already (same name, same SHA-256). */
static int compare_with_listing(struct push *p)
{
	struct client_job j;
	if (request(&p->c, &j, "files", NULL, "listing the version's files") != 0) {
		client_job_release(&j);
		return -1;
	}
	int ret = 0;
	char msg[200];
	json_t *list = NULL;
	if (j.status == 200 && !(list = json_loadb(j.body ? j.body : "", j.body_len, 0, NULL))) {
		cli_fail("listing the version's files: the answer is not JSON");
		ret = -1;
	} else if (j.status != 200 && j.status != 404) {
		cli_fail("listing the version's files: %s", client_error_text(&j, msg, sizeof(msg)));
		ret = -1;
	}
	/* the listing sorted by name, each local file looked up in it */
	size_t nlisted = json_array_size(list);
	json_t **listed = calloc(nlisted ? nlisted : 1, sizeof(json_t *));
	if (!listed)
		ret = -1;
	for (size_t i = 0; listed && i < nlisted; i++)
		listed[i] = json_array_get(list, i);
	if (listed)
		qsort(listed, nlisted, sizeof(json_t *), by_listed_name);
	for (size_t i = 0; ret == 0 && i < p->n; i++) {
		const char *rel = p->files[i].rel;
		json_t **hit = bsearch(&rel, listed, nlisted, sizeof(json_t *), find_listed);
		const char *sha = hit ? json_string_value(json_object_get(*hit, "file_sha256")) : NULL;
		if (sha && strcmp(sha, p->files[i].sha256) == 0)
			p->files[i].action = PUSH_UNCHANGED;
	}
	free(listed);
	json_decref(list);
	client_job_release(&j);
	return ret;
}

static json_t *manifest(const struct push *p)
{
	json_t *files = json_array();
	for (size_t i = 0; files && i < p->n; i++)
		json_array_append_new(files, json_pack("{s:s,s:s}", "file_name", p->files[i].rel,
						       "sha256", p->files[i].sha256));
	return json_pack("{s:o}", "files", files);
}

/* POST @publish with a manifest (NULL: an empty one, a probe that changes nothing when
 * the version has files). *status its status; *routeless when the server has no such
 * route (its 404 says "error", @publish's say "message"). */
static int publish(struct push *p, json_t *m, long *status, bool *routeless, char *msg,
		   size_t cap)
{
	struct client_job j;
	char *body = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	if (!body)
		return -ENOMEM;
	int ret = request(&p->c, &j, "@publish", body, "publishing the version");
	if (ret == 0) {
		json_t *root = j.body ? json_loadb(j.body, j.body_len, 0, NULL) : NULL;
		*status = j.status;
		*routeless = j.status == 404 && json_object_get(root, "error") &&
			     !json_object_get(root, "message");
		client_error_text(&j, msg, cap);
		if (j.status == 409 && root) { /* the differences, as the server lists them */
			char *s = json_dumps(root, JSON_COMPACT);
			snprintf(msg, cap, "%s", s ? s : "409");
			free(s);
		}
		json_decref(root);
	}
	client_job_release(&j);
	return ret;
}

/* Whether the version is visible already (default status): the Packages API lists
 * hidden versions only when asked for them. Uploading hidden would hide it meanwhile. */
static int visible_already(struct push *p, bool *visible)
{
	struct client *c = &p->c;
	struct client_job j;
	char *name = client_encode_path(c->name), *version = client_encode_path(c->version);
	char *url = NULL;
	/* base: ".../projects/ID/packages/generic/NAME/" */
	size_t cut = strlen(c->base) - strlen(name ? name : "") - strlen("/generic//");
	if (name && version &&
	    asprintf(&url, "%.*s?package_type=generic&package_name=%s&package_version=%s",
		     (int)cut, c->base, name, version) < 0)
		url = NULL;
	free(name);
	free(version);
	if (!url)
		return -ENOMEM;
	client_job_init(&j, c, url, "looking the version up");
	j.setup = get_setup;
	j.finish = any_status;
	int ret = client_request(c, &j);
	char msg[200];
	json_t *list = NULL;
	if (ret != 0) {
		cli_fail("looking the version up failed: %s", j.err);
	} else if (j.status != 200 || !(list = json_loadb(j.body ? j.body : "", j.body_len, 0, NULL))) {
		cli_fail("looking the version up: %s", client_error_text(&j, msg, sizeof(msg)));
		ret = -EIO;
	}
	size_t i;
	json_t *e;
	*visible = false;
	json_array_foreach(list, i, e) {
		const char *n = json_string_value(json_object_get(e, "name"));
		const char *v = json_string_value(json_object_get(e, "version"));
		const char *st = json_string_value(json_object_get(e, "status"));
		if (n && v && strcmp(n, c->name) == 0 && strcmp(v, c->version) == 0 &&
		    !(st && strcmp(st, "hidden") == 0))
			*visible = true;
	}
	json_decref(list);
	client_job_release(&j);
	return ret;
}

static json_t *report(const struct push *p, bool atomic, bool published, size_t failed)
{
	json_t *files = json_array();
	size_t uploaded = 0, unchanged = 0;
	uint64_t bytes = 0;
	for (size_t i = 0; files && i < p->n; i++) {
		const struct push_file *f = &p->files[i];
		const char *action = f->action == PUSH_UNCHANGED ? "unchanged"
				     : p->c.dry_run		 ? "would upload"
				     : f->job.done		 ? "uploaded"
								 : "failed";
		json_t *o = json_pack("{s:s,s:I,s:s,s:s}", "file_name", f->rel, "size",
				      (json_int_t)f->size, "sha256", f->sha256, "action", action);
		if (o && f->job.failed)
			json_object_set_new(o, "error", json_string(f->job.err));
		if (o && f->job.attempts)
			json_object_set_new(o, "retries", json_integer(f->job.attempts));
		json_array_append_new(files, o);
		unchanged += f->action == PUSH_UNCHANGED;
		uploaded += f->job.done;
		bytes += f->job.done ? f->size : 0;
	}
	return json_pack("{s:s,s:s,s:s,s:b,s:b,s:b,s:I,s:I,s:I,s:I,s:b,s:o}", "command", "push",
			 "name", p->c.name, "version", p->c.version, "dry_run", p->c.dry_run,
			 "atomic", atomic, "published", published, "uploaded", (json_int_t)uploaded,
			 "unchanged", (json_int_t)unchanged, "failed", (json_int_t)failed, "bytes",
			 (json_int_t)bytes, "ok", failed == 0 && (published || !atomic),
			 "files", files);
}

static int push_run(struct push *p, bool atomic)
{
	struct client *c = &p->c;
	struct stat st;
	if (stat(p->dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return cli_fail("%s is not a directory", p->dir);
	if (c->version[0] == '@')
		return cli_fail("push needs a version, not a selector (%s)", c->version);
	if (walk(p, p->dir, "", 0) != 0)
		return 1;
	if (p->n == 0)
		return cli_fail("%s holds no files to push", p->dir);
	qsort(p->files, p->n, sizeof(*p->files), by_rel);
	size_t bad = 0;
	for (size_t i = 0; i < p->n; i++) {
		const char *why = name_problem(p->files[i].rel);
		if (why) {
			cli_fail("%s: the registry refuses this name (%s)", p->files[i].rel, why);
			bad++;
		}
	}
	if (bad)
		return cli_fail("nothing pushed: %zu name%s the registry would refuse", bad,
				bad == 1 ? "" : "s");
	for (size_t i = 0; i < p->n; i++) {
		uint64_t size;
		int ret = client_file_sha256(p->files[i].path, p->files[i].sha256, &size);
		if (ret != 0)
			return cli_fail("cannot read %s: %s", p->files[i].path, strerror(-ret));
		p->files[i].size = size;
	}
	if (compare_with_listing(p) != 0)
		return 1;

	char msg[1024];
	long status;
	bool routeless = false, published = false;
	if (atomic && !c->dry_run) {
		if (publish(p, json_pack("{s:[]}", "files"), &status, &routeless, msg,
			    sizeof(msg)) != 0)
			return 1;
		if (routeless) {
			client_say(c, "depot: the server has no @publish: uploading without atomic "
				      "publishing (consumers may see the version before it is complete)");
			atomic = false;
		} else if (status != 200 && status != 404 && status != 409) {
			return cli_fail("publishing the version: %s", msg);
		}
		bool visible = false;
		if (atomic && status != 404 && visible_already(p, &visible) != 0)
			return 1;
		if (visible) {
			client_say(c, "depot: %s %s is published already: adding files to it",
				   c->name, c->version);
			atomic = false;
		}
	}

	struct client_job **jobs = calloc(p->n, sizeof(struct client_job *));
	if (!jobs)
		return cli_fail("out of memory");
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct push_file *f = &p->files[i];
		if (f->action == PUSH_UNCHANGED)
			continue;
		c->files_total++;
		c->bytes_total += f->size;
		if (c->dry_run) {
			client_say(c, "would push %s (%llu bytes)", f->rel, (unsigned long long)f->size);
			continue;
		}
		char *enc = client_encode_path(f->rel), *rest = NULL;
		if (!enc || asprintf(&rest, "%s%s", enc, atomic ? "?status=hidden" : "") < 0)
			rest = NULL;
		free(enc);
		char *url = rest ? client_url(c, c->version, rest) : NULL;
		free(rest);
		if (!url) {
			free(jobs);
			return cli_fail("out of memory");
		}
		client_job_init(&f->job, c, url, f->rel);
		f->job.setup = upload_setup;
		f->job.finish = upload_finish;
		f->job.attempt_end = upload_end;
		jobs[n++] = &f->job;
	}
	size_t failed = c->dry_run ? 0 : client_run(c, jobs, n);
	free(jobs);
	client_progress_end(c);

	if (atomic && !c->dry_run && failed == 0) {
		if (publish(p, manifest(p), &status, &routeless, msg, sizeof(msg)) != 0)
			failed++;
		else if (status == 200)
			published = true;
		else
			client_say(c, "depot: publishing %s %s failed: %s", c->name, c->version, msg);
	}
	char bytes[32];
	size_t unchanged = p->n - c->files_total;
	client_human_bytes(c->bytes_done, bytes, sizeof(bytes));
	if (c->dry_run)
		client_say(c, "%s %s: would push %zu file%s, %zu unchanged", c->name, c->version,
			   c->files_total, c->files_total == 1 ? "" : "s", unchanged);
	else
		client_say(c, "%s %s: pushed %zu file%s (%s), %zu unchanged, %zu failed%s", c->name,
			   c->version, c->files_done, c->files_done == 1 ? "" : "s", bytes,
			   unchanged, failed,
			   published ? "; published"
			   : atomic  ? "; not published (the version stays hidden)"
				     : "");
	if (c->json)
		client_print_report(report(p, atomic, published, failed));
	return failed || (atomic && !c->dry_run && !published) ? 1 : 0;
}

static struct cli_opt push_options[] = {
    CLIENT_OPTIONS,
    {.name = "no-atomic",
     .help = "upload the files visible at once, without hidden status and @publish"},
};

int cli_push(int argc, char **argv)
{
	struct push p = {.dir = NULL};
	const char *pos[2];
	size_t npos = 0;
	int ret = client_init(&p.c, argc, argv, push_options,
			      sizeof(push_options) / sizeof(push_options[0]), pos, 2, &npos, 1);
	if (ret == 0 && npos != 2) {
		cli_fail("expected DIR and URL");
		ret = 2;
	}
	if (ret == 0) {
		p.dir = pos[0];
		ret = push_run(&p, !push_options[CLIENT_NOPTS].present);
	}
	for (size_t i = 0; i < p.n; i++) {
		client_job_release(&p.files[i].job);
		free(p.files[i].rel);
		free(p.files[i].path);
	}
	free(p.files);
	client_release(&p.c);
	return ret;
}

const struct cli_command cli_push_command = {
    .name = "push",
    .run = cli_push,
    .synopsis = "depot push DIR URL [-j N] [--no-atomic] [--dry-run] [--json]",
    .help =
	"  Uploads every file under DIR (directory paths kept) as one version of a generic\n"
	"  package. URL is http(s)://HOST/api/v4/projects/ID/packages/generic/NAME/VERSION,\n"
	"  or NAME/VERSION inside a GitLab CI job (CI_API_V4_URL and CI_PROJECT_ID give the\n"
	"  rest). Files the version already has (same name and SHA-256) are skipped; each\n"
	"  upload sends its SHA-256 (Content-Digest) and the server checks it. The files go\n"
	"  up hidden, then @publish makes the version visible at once, checked against the\n"
	"  list of every file in DIR; a server without @publish gets plain uploads. The token\n"
	"  comes from --token-file, $DEPOT_TOKEN or $CI_JOB_TOKEN, never the command line.\n"
	"  Exit status 0 only if every file made it (and the version was published).\n",
    .opts = push_options,
    .nopts = sizeof(push_options) / sizeof(push_options[0]),
    .remote = true,
};
