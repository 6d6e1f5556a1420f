/* `depot pull URL [DIR]`: downloads every file of a package version (or of the version a
 * selector such as @latest chooses) into DIR, directory paths kept. Local files whose
 * SHA-256 matches the listing are skipped; each download is written to a partial file
 * beside its destination, checked against the listing's SHA-256 and renamed only then; a
 * partial file left by an interrupted pull is resumed with Range. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "client.h"
#include "validate.h"

#define HASH_BUF (256u << 10)

enum pull_mode { MODE_UNDECIDED, MODE_FILE, MODE_BODY };

struct pull_file {
	struct client_job job; /* first: the job is the file */
	char *name;	       /* as listed: "dir/a.txt" */
	char *dest, *part;     /* local paths */
	uint64_t size;
	char sha256[65];
	bool unchanged;
	/* the attempt's */
	int fd;
	EVP_MD_CTX *md;
	uint64_t have, got; /* bytes of the partial file before the attempt, received */
	bool resumed;
	enum pull_mode mode;
};

struct pull {
	struct client c;
	struct pull_file *files;
	size_t n;
	const char *dir;
	char *chosen; /* the version the files come from */
};

/* mkdir -p of the directories above path */
static int make_parents(const char *path)
{
	char *copy = strdup(path);
	int ret = copy ? 0 : -ENOMEM;
	for (char *p = copy ? copy + 1 : NULL; ret == 0 && p && (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(copy, 0777) != 0 && errno != EEXIST)
			ret = -errno;
		*p = '/';
	}
	free(copy);
	return ret;
}

/* ---- downloads ---- */

static size_t download_write(char *buf, size_t size, size_t n, void *userdata)
{
	struct pull_file *f = userdata;
	struct client_job *j = &f->job;
	size_t len = size * n;
	if (f->mode == MODE_UNDECIDED) {
		long status = 0;
		curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
		f->mode = status == 200 || status == 206 ? MODE_FILE : MODE_BODY;
		if (status == 200 && f->have > 0) { /* the whole file after all: start over */
			if (ftruncate(f->fd, 0) != 0 || lseek(f->fd, 0, SEEK_SET) != 0 ||
			    !EVP_DigestInit_ex(f->md, EVP_sha256(), NULL))
				return 0;
			j->counted -= f->have < j->counted ? f->have : j->counted;
			j->c->bytes_done -= f->have < j->c->bytes_done ? f->have : j->c->bytes_done;
			f->have = 0;
			f->resumed = false;
		}
	}
	if (f->mode == MODE_BODY)
		return client_body_write(buf, size, n, j);
	if (f->have + f->got + len > f->size) {
		snprintf(j->err, sizeof(j->err), "the server sent more than the listed %llu bytes",
			 (unsigned long long)f->size);
		return 0;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(f->fd, buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			snprintf(j->err, sizeof(j->err), "writing %s: %s", f->part, strerror(errno));
			return 0;
		}
		off += (size_t)w;
	}
	EVP_DigestUpdate(f->md, buf, len);
	f->got += len;
	client_progress_add(j, len);
	return len;
}

/* Feeds the partial file's first bytes to the digest; *ok false when they cannot be read
 * (then it starts over). */
static int hash_partial(struct pull_file *f)
{
	char *buf = malloc(HASH_BUF);
	if (!buf)
		return -ENOMEM;
	uint64_t done = 0;
	while (done < f->have) {
		size_t want = f->have - done < HASH_BUF ? (size_t)(f->have - done) : HASH_BUF;
		ssize_t n = pread(f->fd, buf, want, (off_t)done);
		if (n <= 0)
			break;
		EVP_DigestUpdate(f->md, buf, (size_t)n);
		done += (uint64_t)n;
	}
	free(buf);
	if (done != f->have) { /* unreadable: start over */
		if (ftruncate(f->fd, 0) != 0 || !EVP_DigestInit_ex(f->md, EVP_sha256(), NULL))
			return -EIO;
		f->have = 0;
	}
	return 0;
}

static int download_setup(struct client_job *j, CURL *e)
{
	struct pull_file *f = (struct pull_file *)j;
	f->got = 0;
	f->mode = MODE_UNDECIDED;
	f->resumed = false;
	int ret = make_parents(f->part);
	if (ret == 0 && (f->fd = open(f->part, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0)
		ret = -errno;
	if (ret != 0) {
		snprintf(j->err, sizeof(j->err), "cannot write %s: %s", f->part, strerror(-ret));
		return ret;
	}
	struct stat st;
	if (fstat(f->fd, &st) != 0)
		return -errno;
	f->have = (uint64_t)st.st_size;
	if (f->have >= f->size && f->have > 0) { /* complete or too long: fetch it again */
		if (ftruncate(f->fd, 0) != 0)
			return -errno;
		f->have = 0;
	}
	if (!f->md && !(f->md = EVP_MD_CTX_new()))
		return -ENOMEM;
	if (!EVP_DigestInit_ex(f->md, EVP_sha256(), NULL))
		return -EIO;
	if (f->have > 0 && (ret = hash_partial(f)) != 0)
		return ret;
	if (lseek(f->fd, (off_t)f->have, SEEK_SET) < 0)
		return -errno;
	if (f->have > 0) {
		/* If-Range: the rest only if the content is still the one listed */
		char range[64], if_range[80];
		snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long)f->have);
		snprintf(if_range, sizeof(if_range), "If-Range: \"%s\"", f->sha256);
		if ((ret = client_job_header(j, range)) != 0 ||
		    (ret = client_job_header(j, if_range)) != 0)
			return ret;
		f->resumed = true;
		client_progress_add(j, f->have);
	}
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, download_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
	return 0;
}

static void download_end(struct client_job *j)
{
	struct pull_file *f = (struct pull_file *)j;
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

static int download_finish(struct client_job *j, long status)
{
	struct pull_file *f = (struct pull_file *)j;
	char msg[200];
	if (status == 416) { /* the partial file is not a prefix of this content */
		if (ftruncate(f->fd, 0) != 0)
			return -errno;
		snprintf(j->err, sizeof(j->err), "the partial download does not fit; starting over");
		return -EAGAIN;
	}
	if (status != 200 && status != 206) {
		snprintf(j->err, sizeof(j->err), "%s", client_error_text(j, msg, sizeof(msg)));
		return -EIO;
	}
	char hex[65];
	uint64_t total = f->have + f->got;
	int ret = client_sha256_hex(f->md, hex);
	if (ret != 0)
		return ret;
	if (total != f->size || strcmp(hex, f->sha256) != 0) {
		bool resumed = f->resumed;
		if (ftruncate(f->fd, 0) != 0)
			return -errno;
		if (resumed) { /* the kept part may be what is wrong: once more, whole */
			snprintf(j->err, sizeof(j->err), "the resumed download does not match its "
							  "SHA-256; fetching it whole");
			return -EAGAIN;
		}
		snprintf(j->err, sizeof(j->err),
			 "%llu bytes with SHA-256 %s, the listing says %llu bytes with %s",
			 (unsigned long long)total, hex, (unsigned long long)f->size, f->sha256);
		unlink(f->part);
		return -EIO;
	}
	if (rename(f->part, f->dest) != 0) {
		snprintf(j->err, sizeof(j->err), "cannot rename %s to %s: %s", f->part, f->dest,
			 strerror(errno));
		return -EIO;
	}
	if (!j->c->tty) {
		char size[32];
		client_human_bytes(f->size, size, sizeof(size));
		client_say(j->c, "pulled %s (%s)%s", f->name, size,
			   f->resumed ? ", resumed" : "");
	}
	return 0;
}

/* ---- the listing ---- */

struct listing {
	struct client_job job; /* first */
	char version[PACKAGE_VERSION_MAX + 1]; /* X-Package-Version: a selector's choice */
};

static size_t listing_header(char *buf, size_t size, size_t n, void *userdata)
{
	struct listing *l = userdata;
	size_t len = size * n;
	static const char name[] = "X-Package-Version:";
	if (len > strlen(name) && strncasecmp(buf, name, strlen(name)) == 0) {
		const char *v = buf + strlen(name);
		size_t vlen = len - strlen(name);
		while (vlen && (*v == ' ' || *v == '\t'))
			v++, vlen--;
		while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
			vlen--;
		if (vlen < sizeof(l->version))
			snprintf(l->version, sizeof(l->version), "%.*s", (int)vlen, v);
	}
	return len;
}

static int listing_setup(struct client_job *j, CURL *e)
{
	struct listing *l = (struct listing *)j;
	l->version[0] = '\0';
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, listing_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, l);
	return 0;
}

static int listing_finish(struct client_job *j, long status)
{
	(void)j;
	(void)status;
	return 0;
}

/* Reads the version's listing into p->files, after resolving a selector. */
static int read_listing(struct pull *p)
{
	struct client *c = &p->c;
	struct listing l;
	char *url = client_url(c, c->version, "files");
	if (!url)
		return cli_fail("out of memory");
	client_job_init(&l.job, c, url, "listing");
	l.job.setup = listing_setup;
	l.job.finish = listing_finish;
	int ret = 0;
	char msg[200];
	json_t *list = NULL;
	if (client_request(c, &l.job) != 0)
		ret = cli_fail("listing %s %s failed: %s", c->name, c->version, l.job.err);
	else if (l.job.status == 404)
		ret = cli_fail("%s %s: %s", c->name, c->version,
			       client_error_text(&l.job, msg, sizeof(msg)));
	else if (l.job.status != 200)
		ret = cli_fail("listing %s %s: %s", c->name, c->version,
			       client_error_text(&l.job, msg, sizeof(msg)));
	else if (!(list = json_loadb(l.job.body ? l.job.body : "", l.job.body_len, 0, NULL)) ||
		 !json_is_array(list))
		ret = cli_fail("listing %s %s: the answer is not a JSON array", c->name, c->version);
	else if (c->version[0] == '@' && !l.version[0])
		ret = cli_fail("the server did not say which version %s chose (no X-Package-Version)",
			       c->version);
	else if (c->version[0] == '@' && check_package_version(l.version))
		ret = cli_fail("the server chose an invalid version for %s", c->version);
	if (ret == 0 && !(p->chosen = strdup(c->version[0] == '@' ? l.version : c->version)))
		ret = cli_fail("out of memory");
	if (ret == 0 && c->version[0] == '@')
		client_say(c, "%s %s is %s", c->name, c->version, p->chosen);
	size_t n = ret == 0 ? json_array_size(list) : 0;
	if (ret == 0 && !(p->files = calloc(n ? n : 1, sizeof(*p->files))))
		ret = cli_fail("out of memory");
	for (size_t i = 0; ret == 0 && p->files && i < n; i++) {
		json_t *e = json_array_get(list, i);
		const char *name = json_string_value(json_object_get(e, "file_name"));
		const char *sha = json_string_value(json_object_get(e, "file_sha256"));
		json_t *size = json_object_get(e, "size");
		struct pull_file *f = &p->files[p->n];
		/* names become local paths: the registry's rules, checked again here */
		const char *slash = name ? strrchr(name, '/') : NULL;
		char dir[STORED_NAME_MAX + 1] = "";
		if (slash)
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - name), name);
		if (!name || strlen(name) > STORED_NAME_MAX ||
		    check_file_name(slash ? slash + 1 : name) || (slash && check_dir_path(dir)) ||
		    !sha || strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64 ||
		    !json_is_integer(size) || json_integer_value(size) < 0) {
			ret = cli_fail("the listing has an entry depot cannot use: %s",
				       name ? name : "(no name)");
			break;
		}
		*f = (struct pull_file){.size = (uint64_t)json_integer_value(size), .fd = -1};
		snprintf(f->sha256, sizeof(f->sha256), "%s", sha);
		p->n++;
		if (!(f->name = strdup(name)) ||
		    asprintf(&f->dest, "%s/%s", p->dir, name) < 0 ||
		    asprintf(&f->part, "%s/%s%s%s.%.16s.depot-part", p->dir, dir, slash ? "/." : ".",
			     slash ? slash + 1 : name, sha) < 0)
			ret = cli_fail("out of memory");
	}
	json_decref(list);
	client_job_release(&l.job);
	return ret;
}

static json_t *report(const struct pull *p, size_t failed)
{
	json_t *files = json_array();
	size_t pulled = 0, unchanged = 0;
	uint64_t bytes = 0;
	for (size_t i = 0; files && i < p->n; i++) {
		const struct pull_file *f = &p->files[i];
		const char *action = f->unchanged	? "unchanged"
				     : p->c.dry_run ? "would download"
				     : f->job.done  ? "downloaded"
						    : "failed";
		json_t *o = json_pack("{s:s,s:I,s:s,s:s}", "file_name", f->name, "size",
				      (json_int_t)f->size, "sha256", f->sha256, "action", action);
		if (o && f->job.failed)
			json_object_set_new(o, "error", json_string(f->job.err));
		if (o && f->job.attempts)
			json_object_set_new(o, "retries", json_integer(f->job.attempts));
		json_array_append_new(files, o);
		unchanged += f->unchanged;
		pulled += f->job.done;
		bytes += f->job.done ? f->size : 0;
	}
	return json_pack("{s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:b,s:o}", "command", "pull",
			 "name", p->c.name, "requested", p->c.version, "version",
			 p->chosen ? p->chosen : "", "dry_run", p->c.dry_run, "downloaded",
			 (json_int_t)pulled, "unchanged", (json_int_t)unchanged, "failed",
			 (json_int_t)failed, "bytes", (json_int_t)bytes, "ok", failed == 0,
			 "files", files);
}

static int pull_run(struct pull *p)
{
	struct client *c = &p->c;
	if (read_listing(p) != 0)
		return 1;
	struct client_job **jobs = calloc(p->n ? p->n : 1, sizeof(struct client_job *));
	if (!jobs)
		return cli_fail("out of memory");
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct pull_file *f = &p->files[i];
		struct stat st;
		char hex[65];
		uint64_t size;
		if (stat(f->dest, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == f->size &&
		    client_file_sha256(f->dest, hex, &size) == 0 && strcmp(hex, f->sha256) == 0) {
			f->unchanged = true;
			continue;
		}
		c->files_total++;
		c->bytes_total += f->size;
		if (c->dry_run) {
			client_say(c, "would pull %s (%llu bytes)", f->name, (unsigned long long)f->size);
			continue;
		}
		char *enc = client_encode_path(f->name);
		char *url = enc ? client_url(c, p->chosen, enc) : NULL;
		free(enc);
		if (!url) {
			free(jobs);
			return cli_fail("out of memory");
		}
		client_job_init(&f->job, c, url, f->name);
		f->job.setup = download_setup;
		f->job.finish = download_finish;
		f->job.attempt_end = download_end;
		jobs[n++] = &f->job;
	}
	size_t failed = 0;
	if (!c->dry_run && n > 0) {
		int ret = make_parents(p->files[0].dest); /* DIR itself, even for an empty version */
		if (ret != 0) {
			free(jobs);
			return cli_fail("cannot create %s: %s", p->dir, strerror(-ret));
		}
		failed = client_run(c, jobs, n);
	}
	free(jobs);
	client_progress_end(c);
	char bytes[32];
	size_t unchanged = p->n - c->files_total;
	client_human_bytes(c->bytes_done, bytes, sizeof(bytes));
	if (c->dry_run)
		client_say(c, "%s %s: would pull %zu file%s, %zu unchanged", c->name, p->chosen,
			   c->files_total, c->files_total == 1 ? "" : "s", unchanged);
	else
		client_say(c, "%s %s: pulled %zu file%s (%s), %zu unchanged, %zu failed", c->name,
			   p->chosen, c->files_done, c->files_done == 1 ? "" : "s", bytes, unchanged,
			   failed);
	if (c->json)
		client_print_report(report(p, failed));
	return failed ? 1 : 0;
}

static struct cli_opt pull_options[] = {CLIENT_OPTIONS};

int cli_pull(int argc, char **argv)
{
	struct pull p = {.dir = "."};
	const char *pos[2];
	size_t npos = 0;
	int ret = client_init(&p.c, argc, argv, pull_options,
			      sizeof(pull_options) / sizeof(pull_options[0]), pos, 2, &npos, 0);
	if (ret == 0) {
		if (npos == 2)
			p.dir = pos[1];
		ret = pull_run(&p);
	}
	for (size_t i = 0; i < p.n; i++) {
		struct pull_file *f = &p.files[i];
		client_job_release(&f->job);
		EVP_MD_CTX_free(f->md);
		free(f->name);
		free(f->dest);
		free(f->part);
	}
	free(p.files);
	free(p.chosen);
	client_release(&p.c);
	return ret;
}

const struct cli_command cli_pull_command = {
    .name = "pull",
    .run = cli_pull,
    .synopsis = "depot pull URL [DIR] [-j N] [--dry-run] [--json]",
    .help =
	"  Downloads every file of a generic package version into DIR (default: the current\n"
	"  directory), directory paths kept. URL is\n"
	"  http(s)://HOST/api/v4/projects/ID/packages/generic/NAME/VERSION, or NAME/VERSION\n"
	"  inside a GitLab CI job (CI_API_V4_URL and CI_PROJECT_ID give the rest); VERSION may\n"
	"  be a selector: @latest, or a range such as @^1.2, @~1.4.0, @1.x, '@>=2.0.0 <3'.\n"
	"  Local files whose SHA-256 matches are skipped; each download goes to a partial file\n"
	"  (.NAME.<sha>.depot-part) checked against the listing's SHA-256 and renamed only\n"
	"  then; a pull interrupted earlier resumes its partial files with Range. The token\n"
	"  comes from --token-file, $DEPOT_TOKEN or $CI_JOB_TOKEN, never the command line.\n"
	"  Exit status 0 only if every file made it.\n",
    .opts = pull_options,
    .nopts = sizeof(pull_options) / sizeof(pull_options[0]),
    .remote = true,
};
