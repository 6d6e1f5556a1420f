/* GitLab's generic packages endpoints: upload (PUT), download (GET/HEAD) and the seed
 * page's file listing. Uploads stream into the blob store while three digests run, and are
 * recorded in the metadata store only once the blob is durable. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "app.h"
#include "conditional.h"
#include "digest.h"
#include "log.h"
#include "policy.h"
#include "semver.h"
#include "timeutil.h"
#include "upload_pipe.h"
#include "validate.h"

enum { CAP_ID, CAP_NAME, CAP_VERSION, CAP_FILE };

/* What a generic URL names. */
struct target {
	char name[PACKAGE_NAME_MAX + 1];
	char version[PACKAGE_VERSION_MAX + 1];
	char stored[STORED_NAME_MAX + 1]; /* "dir/sub/file.txt" or "file.txt" */
	/* The URL named a version selector ("@latest", "@^1.2"): its text without the '@';
	 * version is the chosen one once resolve_or_reply has run. */
	bool selector;
	char sel[PACKAGE_VERSION_MAX + 1];
};

/* The headers of an answer a selector chose the version of (none otherwise). */
struct chosen {
	char location[HTTP_TARGET_MAX + PACKAGE_VERSION_MAX + 1];
	const char *h[9];
};

struct upload {
	struct target t;
	struct meta_project project;
	int status; /* -1: not given */
	bool select_file;
	bool refuse_duplicate;
	struct expected_digests expected;
	struct blob_writer *writer;
	struct digest3 *digest;
	/* Large bodies are gathered into buffers hashed on two helper threads while written */
	struct upload_pipe *pipe;
	bool small; /* announced as at most one buffer: hashed and written as it comes */
	/* Files announced at most INLINE_MAX bytes are kept in memory and stored in the
	 * database with their rows, through the group committer. */
	char *inline_data;
	size_t inline_len, inline_cap;
	struct meta_publish publish;
	struct digest_hex digests;
	struct commit_job job;
	bool job_submitted;
};

#define UPLOAD_BUF UPLOAD_PIPE_BUF
#define INLINE_MAX (64u << 10)

/* Reads name and version; with selectors, a version starting with '@' (which no version
 * name does) is a selector, checked here and resolved once the project is known. */
static int name_version_sel_or_reply(struct request *r, struct target *t, bool selectors)
{
	t->selector = false;
	if (http_capture(r, CAP_NAME, t->name, sizeof(t->name)) != 0)
		return api_param_or_reply(r, "package_name", "is invalid");
	if (api_param_or_reply(r, "package_name", check_package_name(t->name)) != 0)
		return -1;
	if (http_capture(r, CAP_VERSION, t->version, sizeof(t->version)) != 0)
		return api_param_or_reply(r, "package_version", "is invalid");
	if (selectors && t->version[0] == '@') {
		struct semver_selector s;
		snprintf(t->sel, sizeof(t->sel), "%s", t->version + 1);
		if (semver_selector_parse(t->sel, &s) != 0)
			return api_param_or_reply(r, "package_version", "is invalid");
		t->selector = true;
		return 0;
	}
	return api_param_or_reply(r, "package_version", check_package_version(t->version));
}

static int name_version_or_reply(struct request *r, struct target *t)
{
	return name_version_sel_or_reply(r, t, false);
}

/* The best candidate so far of a selector, kept as the versions stream by. */
struct selection {
	struct semver_selector s;
	bool have;
	char version[PACKAGE_VERSION_MAX + 1];
	struct semver_candidate best;
};

static int selection_offer(void *ctx, const struct meta_package *pkg)
{
	struct selection *sel = ctx;
	/* The better of the best so far and this one: the order is total, so pairs suffice. */
	struct semver_candidate pair[2] = {sel->best, {pkg->version, pkg->created_at_ms, pkg->id}};
	long i = sel->have ? semver_select(&sel->s, pair, 2) : semver_select(&sel->s, pair + 1, 1) + 1;
	if (i == 1) {
		snprintf(sel->version, sizeof(sel->version), "%s", pkg->version);
		sel->best = (struct semver_candidate){sel->version, pkg->created_at_ms, pkg->id};
		sel->have = true;
	}
	return 0;
}

/* Credentials decide every answer: a cache shared by several callers keeps them apart. */
#define VARY_CREDENTIALS "Authorization, PRIVATE-TOKEN, JOB-TOKEN, DEPLOY-TOKEN"

/* Turns a selector into the version it chooses among the project's versions in default
 * status (hidden ones never), with the answer's headers; 404 "404 Package Not Found" when
 * none matches. Does nothing for a plain version. */
static int resolve_or_reply(struct request *r, int64_t project_id, struct target *t,
			    struct chosen *c)
{
	c->h[0] = NULL;
	if (!t->selector)
		return 0;
	struct selection *sel = calloc(1, sizeof(*sel));
	if (!sel) {
		http_reply_internal(r, "out of memory", -ENOMEM);
		return -1;
	}
	int ret = semver_selector_parse(t->sel, &sel->s);
	struct meta *m = r->app->meta;
	if (ret == 0)
		ret = m->ops->package_versions_with_status(m, project_id, t->name, PKG_DEFAULT,
							   selection_offer, sel);
	if (ret == 0 && !sel->have)
		ret = -ENOENT;
	if (ret == 0)
		snprintf(t->version, sizeof(t->version), "%s", sel->version);
	free(sel);
	if (ret == -ENOENT) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Package Not Found");
		return -1;
	}
	if (ret != 0) {
		http_reply_internal(r, "version lookup failed", ret);
		return -1;
	}
	/* The same URL with the chosen version in place of the selector; versions need no
	 * escaping in a path. */
	const struct route_capture *v = &r->caps[CAP_VERSION];
	snprintf(c->location, sizeof(c->location), "%.*s%s%s", (int)(v->start - r->url), r->url,
		 t->version, v->start + v->len);
	const char *h[] = {"X-Package-Version", t->version, "Content-Location", c->location,
			   MHD_HTTP_HEADER_CACHE_CONTROL, "private, no-cache",
			   MHD_HTTP_HEADER_VARY, VARY_CREDENTIALS, NULL};
	memcpy(c->h, h, sizeof(h));
	return 0;
}

/* Splits the raw "(*path/)file_name" capture: each segment is decoded on its own, the last
 * is the file name, the others the directory (or the `path` parameter when there are none). */
static int target_sel_or_reply(struct request *r, struct target *t, bool selectors)
{
	if (name_version_sel_or_reply(r, t, selectors) != 0)
		return -1;
	const struct route_capture *rest = &r->caps[CAP_FILE];
	const char *end = rest->start + rest->len;
	const char *last = rest->start;
	for (const char *p = rest->start; p < end; p++)
		if (*p == '/')
			last = p + 1;
	char file[FILE_NAME_MAX + 1];
	if (pct_decode(last, (size_t)(end - last), file, sizeof(file), false) < 0)
		return api_param_or_reply(r, "file_name", "is invalid");
	if (api_param_or_reply(r, "file_name", check_file_name(file)) != 0)
		return -1;

	char dir[STORED_NAME_MAX + 1] = "";
	size_t dlen = 0;
	for (const char *seg = rest->start; seg < last;) {
		const char *slash = memchr(seg, '/', (size_t)(last - seg));
		if (slash == seg) /* an empty segment, the first one too (".../1.0//f") */
			return api_param_or_reply(r, "path", "should be a valid file path");
		long n = pct_decode(seg, (size_t)(slash - seg), dir + dlen + (dlen ? 1 : 0),
				    sizeof(dir) - dlen - 1, false);
		if (n < 0)
			return api_param_or_reply(r, "path", "should be a valid file path");
		if (dlen)
			dir[dlen] = '/';
		dlen += (size_t)n + (dlen ? 1 : 0);
		seg = slash + 1;
	}
	if (dlen == 0 && http_query(r, "path", dir, sizeof(dir)) < 0)
		return api_param_or_reply(r, "path", "should be a valid file path");
	if (dir[0] && api_param_or_reply(r, "path", check_dir_path(dir)) != 0)
		return -1;
	/* dir/file, or file (no snprintf: a thousand instructions on every download) */
	dlen = strlen(dir);
	size_t flen = strlen(file), at = dlen ? dlen + 1 : 0;
	if (at + flen >= sizeof(t->stored))
		return api_param_or_reply(r, "path", "should be a valid file path");
	memcpy(t->stored, dir, dlen);
	t->stored[dlen] = '/';
	memcpy(t->stored + at, file, flen + 1);
	return 0;
}

static int target_or_reply(struct request *r, struct target *t)
{
	return target_sel_or_reply(r, t, false);
}

/* The optional `status` and `select` parameters of an upload. */
static int upload_params_or_reply(struct request *r, struct upload *u)
{
	char v[32];
	int got = http_query(r, "status", v, sizeof(v));
	u->status = -1;
	if (got == 1 && strcmp(v, "default") == 0)
		u->status = PKG_DEFAULT;
	else if (got == 1 && strcmp(v, "hidden") == 0)
		u->status = PKG_HIDDEN;
	else if (got != 0)
		return api_param_or_reply(r, "status", "does not have a valid value");
	got = http_query(r, "select", v, sizeof(v));
	if (got == 1 && strcmp(v, "package_file") == 0)
		u->select_file = true;
	else if (got != 0)
		return api_param_or_reply(r, "select", "does not have a valid value");
	return 0;
}

static void reply_duplicate(struct request *r)
{
	http_reply_message(r, MHD_HTTP_BAD_REQUEST,
			   "400 Bad request - Duplicate package is not allowed");
}

/* Protection and duplicate rules, decided before the body is read. The duplicate check
 * is repeated inside the publishing transaction, which is what makes it exact. */
static int policies_or_reply(struct request *r, struct upload *u, const struct abilities *ab)
{
	struct meta *m = r->app->meta;
	bool blocked = false, allowed = true;
	int ret = policy_protected(m, ab, u->project.id, u->t.name, PROTECT_PUSH, &blocked, NULL);
	if (ret == 0 && blocked) {
		http_reply_message(r, MHD_HTTP_FORBIDDEN, "403 Forbidden - Package protected.");
		return -1;
	}
	if (ret == 0)
		ret = policy_duplicates_allowed(m, &u->project, u->t.name, u->t.version, &allowed);
	u->refuse_duplicate = !allowed;
	if (ret == 0 && !allowed) {
		struct meta_package pkg;
		struct meta_package_file f;
		ret = m->ops->file_lookup(m, u->project.id, u->t.name, u->t.version, u->t.stored,
					  &pkg, &f);
		if (ret == 0) {
			reply_duplicate(r);
			return -1;
		}
		if (ret == -ENOENT)
			ret = 0;
	}
	if (ret != 0) {
		http_reply_internal(r, "policy lookup failed", ret);
		return -1;
	}
	return 0;
}

/* The digests the client announced, checked once the body is in. */
static int expected_or_reply(struct request *r, struct expected_digests *e)
{
	static const char *const headers[] = {"Content-MD5", "Content-Digest", "Repr-Digest",
					      "X-Checksum-Md5", "X-Checksum-Sha1",
					      "X-Checksum-Sha256"};
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		const char *v = http_header(r, headers[i]);
		if (v && expected_add(e, headers[i], v) != 0) {
			char msg[128];
			snprintf(msg, sizeof(msg), "400 Bad request - malformed %s header", headers[i]);
			http_reply_message(r, MHD_HTTP_BAD_REQUEST, msg);
			return -1;
		}
	}
	return 0;
}

/* Compares what arrived with what the client announced; replies 400 on a mismatch. */
static int digests_match_or_reply(struct request *r, const struct expected_digests *e,
				  const struct digest_hex *got)
{
	const struct {
		const char *want, *have, *from;
	} checks[] = {
		{e->md5, got->md5, e->md5_from},
		{e->sha1, got->sha1, e->sha1_from},
		{e->sha256, got->sha256, e->sha256_from},
		{e->sha512, got->sha512, e->sha512_from},
	};
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		if (!checks[i].want[0] || strcmp(checks[i].want, checks[i].have) == 0)
			continue;
		char msg[400];
		snprintf(msg, sizeof(msg),
			 "400 Bad request - %s checksum mismatch: expected %s, received %s",
			 checks[i].from, checks[i].want, checks[i].have);
		http_reply_message(r, MHD_HTTP_BAD_REQUEST, msg);
		return -1;
	}
	return 0;
}

static void reply_too_large(struct request *r)
{
	http_reply_message(r, MHD_HTTP_BAD_REQUEST, "400 Bad request - File is too large");
}

static void reply_storage_error(struct request *r, int err, const char *what)
{
	char url[LOG_TEXT_MAX];
	if (err == -ENOSPC || err == -EDQUOT) {
		log_line("depot: %s %s: %s", what, log_escape(r->url, url, sizeof(url)),
			 strerror(-err));
		http_reply_message(r, MHD_HTTP_INSUFFICIENT_STORAGE, "507 Insufficient Storage");
	} else { /* -EAGAIN, a store unreachable, is a 503 there */
		http_reply_internal(r, what, err);
	}
}

/* The upload pipe's writes, on the request's thread. */
static int write_body(void *ctx, const void *data, size_t len)
{
	struct request *r = ctx;
	struct upload *u = r->state;
	return r->app->blobs->ops->write(u->writer, data, len);
}

void generic_upload_start(struct request *r)
{
	struct app *app = r->app;
	if (api_identify_or_reply(r) != 0)
		return;
	struct upload *u = calloc(1, sizeof(*u));
	if (!u) {
		http_reply_internal(r, "out of memory", -ENOMEM);
		return;
	}
	r->state = u;
	struct abilities ab;
	if (target_or_reply(r, &u->t) != 0 || upload_params_or_reply(r, u) != 0 ||
	    expected_or_reply(r, &u->expected) != 0 ||
	    api_project_or_reply(r, CAP_ID, "404 Not Found", &u->project, &ab) != 0)
		return;
	/* Decided from the headers, so a refused Expect: 100-continue upload sends no body. */
	const char *cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && app->max_file_size && strtoull(cl, NULL, 10) >= app->max_file_size) {
		reply_too_large(r);
		return;
	}
	if (strcmp(u->t.stored, "files") == 0) {
		http_reply_message(r, MHD_HTTP_BAD_REQUEST,
				   "400 Bad request - A top-level file cannot be named 'files': "
				   "GET .../files lists the package");
		return;
	}
	if (policies_or_reply(r, u, &ab) != 0)
		return;
	unsigned long long announced = cl ? strtoull(cl, NULL, 10) : ULLONG_MAX;
	if (announced <= INLINE_MAX) {
		u->inline_cap = (size_t)announced;
		if (!(u->inline_data = malloc(u->inline_cap ? u->inline_cap : 1)) ||
		    !(u->digest = digest3_new(u->expected.sha512[0] != '\0')))
			http_reply_internal(r, "out of memory", -ENOMEM);
		return;
	}
	int ret = app->blobs->ops->writer_new(app->blobs, &u->writer);
	if (ret != 0) {
		reply_storage_error(r, ret, "cannot stage the upload");
		return;
	}
	u->small = announced <= UPLOAD_BUF;
	if (!(u->digest = digest3_new(u->expected.sha512[0] != '\0')) ||
	    (!u->small && !(u->pipe = upload_pipe_new(u->digest, write_body, r))))
		http_reply_internal(r, "out of memory", -ENOMEM);
}

/* Ends a failed upload: nothing of it may remain. */
static void upload_discard(struct request *r)
{
	struct upload *u = r->state;
	r->app->blobs->ops->abort(u->writer);
	u->writer = NULL;
}

void generic_upload_body(struct request *r, const char *data, size_t len)
{
	struct upload *u = r->state;
	int ret = 0;
	if (r->app->max_file_size && r->bytes_in >= r->app->max_file_size) {
		upload_discard(r);
		reply_too_large(r);
		return;
	}
	if (u->inline_data) {
		if (len > u->inline_cap - u->inline_len) { /* more than announced */
			http_reply_message(r, MHD_HTTP_BAD_REQUEST, "400 Bad request");
			return;
		}
		digest3_update(u->digest, data, len);
		memcpy(u->inline_data + u->inline_len, data, len);
		u->inline_len += len;
	} else if (u->small) {
		digest3_update(u->digest, data, len);
		ret = r->app->blobs->ops->write(u->writer, data, len);
	} else {
		ret = upload_pipe_add(u->pipe, data, len);
	}
	if (ret != 0) {
		upload_discard(r);
		reply_storage_error(r, ret, "cannot write the upload");
	}
}

/* select=package_file: the raw package-file record, in GitLab's field order. */
static json_t *package_file_record(const struct upload *u, const struct meta_package_file *f)
{
	char created[ISO8601_LEN + 1], updated[ISO8601_LEN + 1], pid[24], h[SHA256_HEX_LEN + 1];
	unsigned char raw[32];
	iso8601_ms(f->created_at_ms, created);
	iso8601_ms(f->updated_at_ms, updated);
	snprintf(pid, sizeof(pid), "%lld", (long long)u->project.id);
	sha256_raw(pid, strlen(pid), raw);
	hex_encode(raw, sizeof(raw), h);
	char *url = NULL;
	if (asprintf(&url, "/%.2s/%.2s/%s/packages/%lld/files/%lld/%s", h, h + 2, h,
		     (long long)f->package_id, (long long)f->id, f->file_name) < 0)
		return NULL;
	json_t *o = json_pack(
		"{s:I,s:I,s:s,s:s,s:I,s:i,s:s,s:s,s:s,s:{s:s},s:s,s:n,s:n,s:n,s:n,s:n,s:i,s:n,"
		"s:s,s:n,s:I,s:n}",
		"id", (json_int_t)f->id, "package_id", (json_int_t)f->package_id, "created_at",
		created, "updated_at", updated, "size", (json_int_t)f->size, "file_store", 1,
		"file_md5", f->digests.md5, "file_sha1", f->digests.sha1, "file_name", f->file_name,
		"file", "url", url, "file_sha256", f->digests.sha256, "verification_retry_at",
		"verified_at", "verification_failure", "verification_retry_count",
		"verification_checksum", "verification_state", 0, "verification_started_at",
		"status", "default", "file_final_path", "project_id", (json_int_t)u->project.id,
		"new_file_path");
	free(url);
	return o;
}

/* What to record for this upload. */
static struct meta_publish publish_of(const struct request *r, const struct upload *u, int64_t size,
				      const struct digest_hex *dh)
{
	return (struct meta_publish){
		.project_id = u->project.id,
		.name = u->t.name,
		.version = u->t.version,
		.status = u->status,
		.creator_id = r->ident.kind == IDENT_USER ? r->ident.user.id : 0,
		.file_name = u->t.stored,
		.size = size,
		.digests = dh,
		.refuse_duplicate = u->refuse_duplicate,
	};
}

/* The reply to a recorded (or refused) upload. */
static void reply_published(struct request *r, struct upload *u, int ret,
			    const struct meta_package_file *f)
{
	if (ret == -EEXIST && u->refuse_duplicate) {
		reply_duplicate(r);
		return;
	}
	if (ret != 0) {
		reply_storage_error(r, ret, "cannot store the upload");
		return;
	}
	api_audit(r, "upload", u->project.id, u->t.name, u->t.version, f->file_name, f->size,
		  f->digests.sha256, NULL);
	if (u->select_file)
		http_reply_json(r, MHD_HTTP_OK, package_file_record(u, f));
	else
		http_reply_message(r, MHD_HTTP_CREATED, "201 Created");
}

static void wake_request(void *ctx)
{
	http_resume(ctx);
}

/* A small upload: its bytes go into the database with its rows, batched with whatever
 * other uploads are waiting (group commit); the request is parked meanwhile. */
static void inline_done(struct request *r, struct upload *u)
{
	if (u->job_submitted) { /* resumed: the committer has answered */
		reply_published(r, u, u->job.item.result, &u->job.item.out);
		return;
	}
	if (digest3_final(u->digest, &u->digests) != 0) {
		http_reply_internal(r, "digest failed", -EIO);
		return;
	}
	if (digests_match_or_reply(r, &u->expected, &u->digests) != 0)
		return;
	u->publish = publish_of(r, u, (int64_t)u->inline_len, &u->digests);
	u->publish.inline_data = u->inline_data;
	u->job.item.p = &u->publish;
	u->job.wake = wake_request;
	u->job.ctx = r;
	if (r->app->commits) {
		http_suspend(r);
		if (committer_submit(r->app->commits, &u->job) == 0) {
			u->job_submitted = true;
			return;
		}
		http_resume(r); /* the committer is stopping: record it here */
		r->suspended = false;
	}
	struct meta *m = r->app->meta;
	int ret = m->ops->file_publish(m, &u->publish, &u->job.item.out);
	reply_published(r, u, ret, &u->job.item.out);
}

void generic_upload_done(struct request *r)
{
	struct app *app = r->app;
	struct upload *u = r->state;
	if (u->inline_data) {
		inline_done(r, u);
		return;
	}
	struct digest_hex dh;
	int wret = u->pipe ? upload_pipe_flush(u->pipe) : 0;
	if (wret != 0) {
		upload_discard(r);
		reply_storage_error(r, wret, "cannot write the upload");
		return;
	}
	if (digest3_final(u->digest, &dh) != 0) {
		upload_discard(r);
		http_reply_internal(r, "digest failed", -EIO);
		return;
	}
	if (digests_match_or_reply(r, &u->expected, &dh) != 0) {
		upload_discard(r);
		return;
	}
	struct meta_publish p = publish_of(r, u, (int64_t)r->bytes_in, &dh);
	struct meta_package_file f;
	struct blob_writer *w = u->writer;
	u->writer = NULL; /* api_publish consumes it, whatever the outcome */
	/* A blob linked before a failed commit is unreferenced; the sweep removes it. */
	reply_published(r, u, api_publish(app, w, &p, &f), &f);
}

void generic_upload_free(struct request *r)
{
	struct upload *u = r->state;
	if (!u)
		return;
	r->app->blobs->ops->abort(u->writer);
	upload_pipe_free(u->pipe); /* first: waits for the helpers reading its buffers */
	digest3_free(u->digest);
	free(u->inline_data);
	free(u);
	r->state = NULL;
}

/* The read-side checks shared by download and listing: caller, project, read_package. */
static int readable_project_or_reply(struct request *r, struct meta_project *project)
{
	struct abilities ab;
	if (api_identify_or_reply(r) != 0 ||
	    api_project_or_reply(r, CAP_ID, "404 Not Found", project, &ab) != 0)
		return -1;
	return 0;
}

/* Content-Disposition for the file's base name: an ASCII-safe filename and an RFC 5987
 * filename*, percent-encoding what each may not carry (Rails' ContentDisposition). */
static void content_disposition(const char *name, char *out, size_t cap)
{
	char ascii[3 * FILE_NAME_MAX + 1], utf8[3 * FILE_NAME_MAX + 1];
	size_t a = 0, b = 0;
	for (const unsigned char *p = (const unsigned char *)name; *p && a + 4 < sizeof(ascii); p++) {
		unsigned char c = *p;
		bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (alnum || (c && strchr(" !#$+.^_`|~-", c)))
			ascii[a++] = (char)c;
		else
			a += (size_t)snprintf(ascii + a, 4, "%%%02X", c);
		if (alnum || (c && strchr("!#$&+.^_`|~-", c)))
			utf8[b++] = (char)c;
		else
			b += (size_t)snprintf(utf8 + b, 4, "%%%02X", c);
	}
	ascii[a] = utf8[b] = '\0';
	snprintf(out, cap, "attachment; filename=\"%s\"; filename*=UTF-8''%s", ascii, utf8);
}

/* A download by name and version: one statement finds the project, the package and the
 * file, and reads the auth epoch that tells whether cached identities still hold; the
 * checks and their answers are readable_project_or_reply's, in its order. */
static void download_named(struct request *r, const struct target *t)
{
	struct meta *m = r->app->meta;
	char ref[FULL_PATH_MAX + 1];
	int64_t id = 0;
	enum project_ref_kind kind = PROJECT_REF_NONE;
	if (http_capture(r, CAP_ID, ref, sizeof(ref)) == 0)
		kind = project_ref_parse(ref, &id);
	struct meta_download d;
	d.found = false; /* the lookup fills the rest (no 5 KiB memset per download) */
	int ret = kind == PROJECT_REF_NONE
			  ? -ENOENT
			  : m->ops->download_lookup(m, id, kind == PROJECT_REF_PATH ? ref : NULL,
						    t->name, t->version, t->stored, &d);
	/* the caller first: a bad token is a 401 whatever the project */
	if (api_identify_at_or_reply(r, ret == 0 ? d.epoch : -1) != 0)
		return;
	struct abilities ab = {0};
	if (ret == 0)
		ret = auth_abilities_cached(r->app->auth_cache, m, &r->ident, &d.project, now_ms(),
					    &ab);
	if (api_project_decided_or_reply(r, ret, "404 Not Found", true, &ab) != 0)
		return;
	if (!d.found)
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not found");
	else
		api_send_file_with(r, &d.pkg, &d.file, NULL);
}

void generic_download_done(struct request *r)
{
	struct app *app = r->app;
	struct target t;
	struct meta_project project;
	struct chosen c;
	if (target_sel_or_reply(r, &t, true) != 0)
		return;
	if (!t.selector) {
		download_named(r, &t);
		return;
	}
	if (readable_project_or_reply(r, &project) != 0 || resolve_or_reply(r, project.id, &t, &c) != 0)
		return;
	struct meta_package pkg;
	struct meta_package_file f;
	int ret = app->meta->ops->file_lookup(app->meta, project.id, t.name, t.version, t.stored,
					      &pkg, &f);
	if (ret == -ENOENT) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not found");
		return;
	}
	if (ret != 0) {
		http_reply_internal(r, "file lookup failed", ret);
		return;
	}
	api_send_file_with(r, &pkg, &f, c.h);
}

/* If-None-Match, else If-Modified-Since: may the client use its copy? */
static bool not_modified(struct request *r, const char *etag, time_t last_modified)
{
	const char *inm = http_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (inm)
		return etag_list_matches(inm, etag);
	const char *ims = http_header(r, MHD_HTTP_HEADER_IF_MODIFIED_SINCE);
	time_t since;
	return ims && http_date_parse(ims, &since) == 0 && last_modified <= since;
}

/* If-Range: the range applies only to the representation the client has. Entity tags
 * compare strongly (a weak tag never matches); dates must equal Last-Modified. */
static bool if_range_holds(struct request *r, const char *etag, const char *last_modified)
{
	const char *v = http_header(r, MHD_HTTP_HEADER_IF_RANGE);
	if (!v)
		return true;
	if (v[0] == '"' || strncmp(v, "W/", 2) == 0)
		return strcmp(v, etag) == 0;
	return strcmp(v, last_modified) == 0;
}

/* Does content read into memory hash to its key? Memory copies are served (and cached) as
 * they are, so bit rot in the store must stop here: -EIO, reported as damaged content. */
static int intact(const char *sha256, const char *data, size_t len)
{
	unsigned char raw[32];
	char hex[SHA256_HEX_LEN + 1];
	sha256_raw(data, len, raw);
	hex_encode(raw, sizeof(raw), hex);
	return strcmp(hex, sha256) == 0 ? 0 : -EIO;
}

/* The file's content: small ones in memory (*mem, caller frees; from the hot cache, or
 * read, checked and added to it), others as an open blob (sendfile, or read as it is sent). */
int api_open_content(struct app *app, const struct meta_package_file *f,
		     struct blob_reader *br, char **mem)
{
	size_t len;
	char key[BLOB_KEY_MAX + 1];
	*mem = NULL;
	*br = (struct blob_reader){.fd = -1};
	if ((uint64_t)f->size <= BLOBCACHE_MAX_ENTRY &&
	    (*mem = blob_cache_get(app->hot, f->digests.sha256, &len))) {
		br->size = len;
		return 0;
	}
	if ((uint64_t)f->size <= INLINE_MAX &&
	    app->meta->ops->inline_blob_get(app->meta, f->digests.sha256, mem, &len) == 0) {
		if (intact(f->digests.sha256, *mem, len) != 0) {
			free(*mem);
			*mem = NULL;
			return -EIO;
		}
		blob_cache_put(app->hot, f->digests.sha256, *mem, len);
		br->size = len;
		return 0;
	}
	int ret = blob_key_of(app->meta, app->blobs, f->digests.sha256, key);
	if (ret == 0)
		ret = app->blobs->ops->open(app->blobs, key, br);
	if (ret != 0 || br->size > BLOBCACHE_MAX_ENTRY)
		return ret;
	char *buf = malloc(br->size ? br->size : 1);
	uint64_t got = 0;
	for (ssize_t n = 1; buf && got < br->size && n > 0; got += n > 0 ? (uint64_t)n : 0)
		n = blob_reader_read(br, got, buf + got, br->size - got);
	if (buf && got == br->size && intact(f->digests.sha256, buf, br->size) != 0) {
		free(buf);
		blob_reader_close(br);
		return -EIO;
	}
	if (buf && got == br->size) {
		blob_cache_put(app->hot, f->digests.sha256, buf, br->size);
		blob_reader_close(br);
		br->size = got;
		*mem = buf;
	} else {
		free(buf); /* serve from the blob after all */
	}
	return 0;
}

/* A blob read as it is sent, from start. */
struct blob_body {
	struct blob_reader br;
	uint64_t start;
};

static ssize_t blob_body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct blob_body *b = cls;
	ssize_t n = blob_reader_read(&b->br, b->start + pos, buf, max);
	if (n < 0)
		log_line("depot: reading a blob for a download failed: %s", strerror((int)-n));
	return n;
}

static void blob_body_free(void *cls)
{
	struct blob_body *b = cls;
	blob_reader_close(&b->br);
	free(b);
}

/* Response headers as name/value pairs, NULL-terminated. */
struct header_list {
	const char *h[40];
	size_t n;
};

static void header_add(struct header_list *l, const char *name, const char *value)
{
	l->h[l->n++] = name;
	l->h[l->n++] = value;
	l->h[l->n] = NULL;
}

/* With --blobs-redirect, a download whose content is in object storage is sent there,
 * to a presigned URL (*url, caller frees) that keeps the file name and type. Requests only
 * depot answers right stay here: conditionals compare depot's validators (S3's ETag is not
 * the SHA-256, so If-Range there would always send the whole file), a HEAD is answered
 * without the store (GitLab's redirected HEAD fails: the URL is signed for GET), and a
 * Range depot would not honour (several ranges, bad syntax) gets the whole file here. A
 * plain Range goes along: S3 honours it on a presigned GET, which signs Host only. Content
 * kept in the metadata store (small files) has no key and is served here. */
static bool redirect_url(struct request *r, const struct meta_package_file *f,
			 enum range_result rr, const char *disposition, char **url)
{
	static const char *const conditionals[] = {
	    MHD_HTTP_HEADER_IF_NONE_MATCH, MHD_HTTP_HEADER_IF_MODIFIED_SINCE,
	    MHD_HTTP_HEADER_IF_MATCH, MHD_HTTP_HEADER_IF_UNMODIFIED_SINCE, MHD_HTTP_HEADER_IF_RANGE};
	struct app *app = r->app;
	if (app->blobs_redirect_s <= 0 || !app->blobs->ops->presign || r->method != HTTP_GET ||
	    (http_header(r, MHD_HTTP_HEADER_RANGE) && rr != RANGE_OK))
		return false;
	for (size_t i = 0; i < sizeof(conditionals) / sizeof(conditionals[0]); i++)
		if (http_header(r, conditionals[i]))
			return false;
	char key[BLOB_KEY_MAX + 1];
	if (blob_key_of(app->meta, app->blobs, f->digests.sha256, key) != 0)
		return false; /* inline, or a failure the ordinary path reports */
	int ret = app->blobs->ops->presign(app->blobs, key, app->blobs_redirect_s,
					   "application/octet-stream", disposition, url);
	if (ret != 0)
		log_line("depot: cannot presign the content of file %lld, serving it: %s",
			 (long long)f->id, strerror(-ret));
	return ret == 0;
}

/* Only content actually sent (or handed to object storage to send) counts as a download
 * (not_downloaded_days reads it): never a HEAD, a 304, a 416 or missing content. */
static void record_download(struct request *r, const struct meta_package *pkg,
			    const struct meta_package_file *f, uint64_t len, bool ranged)
{
	if (r->method != HTTP_GET)
		return;
	touch_log_record(r->app->touches, pkg->id, now_ms());
	api_audit(r, "download", pkg->project_id, pkg->name, pkg->version, f->file_name,
		  (int64_t)len, f->digests.sha256, ranged ? "range" : NULL);
}

void api_send_file(struct request *r, const struct meta_package *pkg,
		   const struct meta_package_file *f)
{
	api_send_file_with(r, pkg, f, NULL);
}

/* May the whole 200 of this file be kept and sent again (http_reply_cached)? Small
 * content, no headers of the caller's own, and no presigned redirect that a request
 * without validators could take instead. A file row's content and headers never change. */
static bool reply_keepable(const struct app *app, const struct meta_package_file *f,
			   const char *const *extra)
{
	return !extra && (uint64_t)f->size <= BLOBCACHE_MAX_ENTRY &&
	       (app->blobs_redirect_s <= 0 || !app->blobs->ops->presign);
}

/* A request that asks for the whole current content: no range, no validators. */
static bool plain_get(struct request *r)
{
	static const char *const asks[] = {MHD_HTTP_HEADER_RANGE, MHD_HTTP_HEADER_IF_NONE_MATCH,
					   MHD_HTTP_HEADER_IF_MODIFIED_SINCE,
					   MHD_HTTP_HEADER_IF_RANGE};
	for (size_t i = 0; i < sizeof(asks) / sizeof(asks[0]); i++)
		if (http_header(r, asks[i]))
			return false;
	return true;
}

void api_send_file_with(struct request *r, const struct meta_package *pkg,
			const struct meta_package_file *f, const char *const *extra)
{
	struct app *app = r->app;
	bool keepable = reply_keepable(app, f, extra);
	if (keepable && plain_get(r) && http_reply_cached(r, app->replies, f->id)) {
		record_download(r, pkg, f, (uint64_t)f->size, false);
		return;
	}
	/* Validators and checksums come from the row: a 304 or a 416 never opens the content. */
	char etag[SHA256_HEX_LEN + 3], last_mod[30], content_range[80];
	snprintf(etag, sizeof(etag), "\"%s\"", f->digests.sha256);
	time_t mtime = (time_t)(f->created_at_ms / 1000);
	http_date_format(mtime, last_mod);
	struct header_list hl = {.n = 0};
	header_add(&hl, "ETag", etag);
	header_add(&hl, MHD_HTTP_HEADER_LAST_MODIFIED, last_mod);
	header_add(&hl, "X-Checksum-SHA256", f->digests.sha256);
	header_add(&hl, "X-Checksum-SHA1", f->digests.sha1);
	header_add(&hl, "X-Checksum-MD5", f->digests.md5);
	for (size_t i = 0; extra && extra[i]; i += 2)
		header_add(&hl, extra[i], extra[i + 1]);
	if (not_modified(r, etag, mtime)) {
		http_reply_empty(r, MHD_HTTP_NOT_MODIFIED, hl.h);
		return;
	}
	uint64_t size = (uint64_t)f->size, start = 0, len = size;
	const char *range = http_header(r, MHD_HTTP_HEADER_RANGE);
	enum range_result rr = range && if_range_holds(r, etag, last_mod)
				       ? range_parse(range, size, &start, &len)
				       : RANGE_NONE;
	if (rr == RANGE_UNSATISFIABLE) {
		snprintf(content_range, sizeof(content_range), "bytes */%llu",
			 (unsigned long long)size);
		const char *h416[] = {MHD_HTTP_HEADER_CONTENT_RANGE, content_range, "ETag", etag, NULL};
		http_reply_json_headers(r, MHD_HTTP_RANGE_NOT_SATISFIABLE,
					json_pack("{s:s}", "message", "416 Range Not Satisfiable"),
					h416);
		return;
	}
	const char *slash = strrchr(f->file_name, '/');
	char disposition[2 * 3 * FILE_NAME_MAX + 64];
	content_disposition(slash ? slash + 1 : f->file_name, disposition, sizeof(disposition));
	char *url = NULL;
	if (redirect_url(r, f, rr, disposition, &url)) {
		record_download(r, pkg, f, len, rr == RANGE_OK);
		struct header_list h302 = {.n = 0};
		header_add(&h302, MHD_HTTP_HEADER_LOCATION, url);
		header_add(&h302, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		header_add(&h302, "X-Checksum-SHA256", f->digests.sha256);
		header_add(&h302, "X-Checksum-SHA1", f->digests.sha1);
		header_add(&h302, "X-Checksum-MD5", f->digests.md5);
		for (size_t i = 0; extra && extra[i]; i += 2) /* its own Cache-Control stands */
			if (strcasecmp(extra[i], MHD_HTTP_HEADER_CACHE_CONTROL) != 0)
				header_add(&h302, extra[i], extra[i + 1]);
		http_reply_empty(r, MHD_HTTP_FOUND, h302.h);
		free(url);
		return;
	}
	struct blob_reader br;
	char *mem;
	int ret = api_open_content(app, f, &br, &mem);
	if (ret == 0 && br.size != size) {
		blob_reader_close(&br);
		free(mem);
		ret = -EIO; /* fsck reports it as corrupt */
	}
	if (ret == -EAGAIN) { /* object storage unreachable: the content may well be there */
		log_line("depot: content %s of file %lld: the blob store is unavailable",
			 f->digests.sha256, (long long)f->id);
		http_reply_message(r, MHD_HTTP_SERVICE_UNAVAILABLE, "503 Service Unavailable");
		return;
	}
	if (ret != 0) {
		log_line("depot: content %s of file %lld is missing or damaged: %s",
			 f->digests.sha256, (long long)f->id, strerror(-ret));
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not Found");
		return;
	}
	header_add(&hl, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	header_add(&hl, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	header_add(&hl, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disposition);
	header_add(&hl, "Content-Transfer-Encoding", "binary");
	if (rr == RANGE_OK) {
		snprintf(content_range, sizeof(content_range), "bytes %llu-%llu/%llu",
			 (unsigned long long)start, (unsigned long long)(start + len - 1),
			 (unsigned long long)size);
		header_add(&hl, MHD_HTTP_HEADER_CONTENT_RANGE, content_range);
	}
	unsigned status = rr == RANGE_OK ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK;
	record_download(r, pkg, f, len, rr == RANGE_OK);
	if (mem && keepable && rr == RANGE_NONE) {
		http_reply_copy_kept(r, app->replies, f->id, status, mem, len, hl.h);
		free(mem);
	} else if (mem) {
		http_reply_copy(r, status, mem + start, len, hl.h);
		free(mem);
	} else if (br.fd >= 0) {
		http_reply_fd(r, status, br.fd, start, len, hl.h);
	} else {
		struct blob_body *b = malloc(sizeof(*b));
		if (!b) {
			blob_reader_close(&br);
			http_reply_internal(r, "out of memory", -ENOMEM);
			return;
		}
		*b = (struct blob_body){br, start};
		http_reply_reader(r, status, len, blob_body_read, b, blob_body_free, hl.h);
	}
}

/* The listing without page/per_page: every file, rendered batch by batch as the client
 * reads, so memory stays bounded whatever the package holds. No statement stays open
 * between batches (the thread's database connection serves other requests meanwhile):
 * each batch starts after the last name sent. */
#define FILES_BATCH 256

struct files_stream {
	struct meta *meta;
	int64_t package_id;
	char after[STORED_NAME_MAX + 1]; /* the last name sent */
	json_t *batch;
	bool started, ended;
	char *text; /* the rendered batch, sent from off to len */
	size_t len, off;
};

static int files_stream_add(void *ctx, const struct meta_package_file *f)
{
	struct files_stream *fs = ctx;
	snprintf(fs->after, sizeof(fs->after), "%s", f->file_name);
	return api_file_json(fs->batch, f);
}

/* Renders the next batch: '[' before the first file, ',' between files, ']' after the
 * last. */
static int files_stream_next(struct files_stream *fs)
{
	/* One row per name (the newest): the names alone are the keyset, so a file uploaded
	 * again under a name already sent (a larger id) is not sent twice. */
	struct file_query q = {.package_id = fs->package_id, .latest_only = true,
			       .order = FILE_ORDER_FILE_NAME, .limit = FILES_BATCH,
			       .after_name = fs->started ? fs->after : NULL, .after_id = INT64_MAX};
	free(fs->text);
	fs->text = NULL;
	fs->len = fs->off = 0;
	int ret = (fs->batch = json_array()) ? 0 : -ENOMEM;
	if (ret == 0)
		ret = fs->meta->ops->package_files_list(fs->meta, &q, files_stream_add, fs, NULL);
	size_t n = json_array_size(fs->batch);
	if (ret == 0 && !(fs->text = json_dumps(fs->batch, JSON_COMPACT | JSON_PRESERVE_ORDER)))
		ret = -ENOMEM;
	json_decref(fs->batch);
	fs->batch = NULL;
	if (ret != 0)
		return ret;
	fs->len = strlen(fs->text);
	fs->ended = n < FILES_BATCH;
	if (fs->started && n == 0)
		fs->off = 1; /* "[]": only the ']' that closes the array */
	else if (fs->started)
		fs->text[0] = ',';
	if (!fs->ended)
		fs->len--; /* the array goes on */
	fs->started = true;
	return 0;
}

static ssize_t files_stream_read(void *cls, char *buf, size_t max)
{
	struct files_stream *fs = cls;
	while (fs->off == fs->len) {
		if (fs->ended)
			return 0;
		int ret = files_stream_next(fs);
		if (ret != 0) {
			log_line("depot: listing the files of package %lld failed: %s",
				 (long long)fs->package_id, strerror(-ret));
			return -1;
		}
	}
	size_t n = fs->len - fs->off < max ? fs->len - fs->off : max;
	memcpy(buf, fs->text + fs->off, n);
	fs->off += n;
	return (ssize_t)n;
}

static void files_stream_free(void *cls)
{
	struct files_stream *fs = cls;
	free(fs->text);
	free(fs);
}

/* Was the parameter given at all (even empty or malformed)? */
static bool query_given(const struct request *r, const char *name)
{
	char v[2];
	return http_query(r, name, v, sizeof(v)) != 0;
}

/* The installable package the target names: 404 "404 Not found" when there is none. */
static int package_or_reply(struct request *r, int64_t project_id, const struct target *t,
			    struct meta_package *pkg)
{
	struct meta *m = r->app->meta;
	int ret = m->ops->package_find(m, project_id, t->name, t->version, pkg);
	if (ret == -ENOENT)
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not found");
	else if (ret != 0)
		http_reply_internal(r, "package lookup failed", ret);
	return ret == 0 ? 0 : -1;
}

/* The seed page's "download an entire package" script reads this listing once, without
 * paging: without page/per_page it is every file (streamed, without pagination headers);
 * with either, GitLab-style pages. */
void generic_files_done(struct request *r)
{
	struct app *app = r->app;
	struct target t;
	struct meta_project project;
	struct chosen c;
	if (name_version_sel_or_reply(r, &t, true) != 0 ||
	    readable_project_or_reply(r, &project) != 0 || resolve_or_reply(r, project.id, &t, &c) != 0)
		return;
	struct page pg;
	bool paged = query_given(r, "page") || query_given(r, "per_page");
	if (paged && api_page_or_reply(r, &pg) != 0)
		return;
	struct meta_package pkg;
	if (package_or_reply(r, project.id, &t, &pkg) != 0)
		return;
	if (!paged) {
		struct files_stream *fs = calloc(1, sizeof(*fs));
		if (!fs) {
			http_reply_internal(r, "out of memory", -ENOMEM);
			return;
		}
		fs->meta = app->meta;
		fs->package_id = pkg.id;
		const char *h[12] = {MHD_HTTP_HEADER_CONTENT_TYPE, "application/json", NULL};
		memcpy(h + 2, c.h, sizeof(c.h));
		http_reply_stream(r, MHD_HTTP_OK, h, files_stream_read, fs, files_stream_free);
		return;
	}
	struct file_query q = {.package_id = pkg.id, .latest_only = true,
			       .order = FILE_ORDER_FILE_NAME, .limit = pg.per_page,
			       .offset = (pg.page - 1) * pg.per_page};
	int64_t total = 0;
	json_t *list = json_array();
	int ret = list ? app->meta->ops->package_files_list(app->meta, &q, api_file_json, list, &total)
		   : -ENOMEM;
	if (ret != 0) {
		json_decref(list);
		http_reply_internal(r, "file listing failed", ret);
		return;
	}
	api_reply_page_with(r, list, total, &pg, c.h);
}

/* The checks before a by-name delete: a signed-in caller (deploy tokens are not accepted,
 * as on the id-based deletes), the project with the destroy ability, the package. */
static int deletable_package_or_reply(struct request *r, struct target *t,
				      struct meta_package *pkg)
{
	struct meta_project project;
	struct abilities ab;
	if (name_version_or_reply(r, t) != 0 || api_caller_or_reply(r) != 0 ||
	    api_project_or_reply(r, CAP_ID, "404 Not Found", &project, &ab) != 0)
		return -1;
	struct meta *m = r->app->meta;
	int ret = m->ops->package_find(m, project.id, t->name, t->version, pkg);
	if (ret == -ENOENT) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not found");
		return -1;
	}
	if (ret != 0) {
		http_reply_internal(r, "package lookup failed", ret);
		return -1;
	}
	return api_delete_allowed_or_reply(r, &ab, pkg);
}

void generic_delete_version_done(struct request *r)
{
	struct target t;
	struct meta_package pkg;
	if (deletable_package_or_reply(r, &t, &pkg) != 0)
		return;
	int ret = r->app->meta->ops->package_destroy(r->app->meta, pkg.id);
	if (ret == -ENOENT) { /* deleted meanwhile, by another request */
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not found");
		return;
	}
	if (ret != 0) {
		http_reply_internal(r, "package delete failed", ret);
		return;
	}
	api_audit(r, "delete", pkg.project_id, pkg.name, pkg.version, NULL, 0, NULL, "version");
	http_reply_no_content(r);
}

void generic_delete_file_done(struct request *r)
{
	struct target t;
	struct meta_package pkg;
	if (deletable_package_or_reply(r, &t, &pkg) != 0)
		return;
	struct target full;
	if (target_or_reply(r, &full) != 0)
		return;
	int ret = r->app->meta->ops->files_destroy(r->app->meta, pkg.id, 0, full.stored, true);
	if (ret == -ENOENT) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not found");
	} else if (ret != 0) {
		http_reply_internal(r, "file delete failed", ret);
	} else {
		api_audit(r, "delete", pkg.project_id, pkg.name, pkg.version, full.stored, 0, NULL,
			  "every file of that name");
		http_reply_no_content(r);
	}
}

/* GET .../:name/:version/@archive.{zip,tar.gz,tar}: the version (or the one a selector
 * chooses) as one archive, with the downloads' authorization. */
void generic_archive_done(struct request *r)
{
	static const struct {
		const char *suffix;
		enum archive_kind kind;
	} kinds[] = {{"/@archive.zip", ARCHIVE_ZIP}, {"/@archive.tar.gz", ARCHIVE_TAR_GZ},
		     {"/@archive.tar", ARCHIVE_TAR}};
	struct target t;
	struct meta_project project;
	struct chosen c;
	if (name_version_sel_or_reply(r, &t, true) != 0 ||
	    readable_project_or_reply(r, &project) != 0 || resolve_or_reply(r, project.id, &t, &c) != 0)
		return;
	enum archive_kind kind = ARCHIVE_ZIP;
	size_t ulen = strlen(r->url);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i].suffix);
		if (ulen >= n && strcmp(r->url + ulen - n, kinds[i].suffix) == 0)
			kind = kinds[i].kind;
	}
	struct meta_package pkg;
	if (package_or_reply(r, project.id, &t, &pkg) != 0)
		return;
	api_send_archive(r, &pkg, kind, c.h);
}

/* POST .../:name/:version/@publish: a hidden version made default in one transaction,
 * after its files are compared with the manifest the body may carry. */
#define MANIFEST_MAX (16u << 20) /* ~100,000 files' names and SHA-256 */

struct publish_req {
	char *body;
	size_t len;
};

void generic_publish_body(struct request *r, const char *data, size_t len)
{
	struct publish_req *p = r->state;
	if (!p && !(p = r->state = calloc(1, sizeof(*p)))) {
		http_reply_internal(r, "out of memory", -ENOMEM);
		return;
	}
	if (p->len + len > MANIFEST_MAX) {
		http_reply_message(r, MHD_HTTP_CONTENT_TOO_LARGE, "413 Request Entity Too Large");
		return;
	}
	char *grown = realloc(p->body, p->len + len + 1);
	if (!grown) {
		http_reply_internal(r, "out of memory", -ENOMEM);
		return;
	}
	p->body = grown;
	memcpy(p->body + p->len, data, len);
	p->len += len;
	p->body[p->len] = '\0';
}

void generic_publish_free(struct request *r)
{
	struct publish_req *p = r->state;
	if (p)
		free(p->body);
	free(p);
	r->state = NULL;
}

static bool is_sha256_hex(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!strchr("0123456789abcdefABCDEF", s[n]))
			return false;
	return n == SHA256_HEX_LEN;
}

/* The manifest, name -> lowercase SHA-256 (*out NULL when the body names none), or -1
 * having replied 400. */
static int manifest_or_reply(struct request *r, json_t **out)
{
	struct publish_req *p = r->state;
	*out = NULL;
	if (!p || p->len == 0)
		return 0;
	json_error_t err;
	json_t *body = json_loadb(p->body, p->len, JSON_REJECT_DUPLICATES, &err);
	json_t *files = json_object_get(body, "files");
	if (!json_is_object(body)) {
		json_decref(body);
		http_reply_message(r, MHD_HTTP_BAD_REQUEST, "400 Bad request - the body is not a JSON object");
		return -1;
	}
	if (!files || json_is_null(files)) {
		json_decref(body);
		return 0;
	}
	json_t *m = json_is_array(files) ? json_object() : NULL;
	size_t i;
	json_t *f;
	json_array_foreach(files, i, f) {
		const char *name = json_string_value(json_object_get(f, "file_name"));
		const char *sha = json_string_value(json_object_get(f, "sha256"));
		char lower[SHA256_HEX_LEN + 1];
		if (!m || !name || !sha || !is_sha256_hex(sha) || json_object_get(m, name)) {
			json_decref(m);
			m = NULL;
			break;
		}
		for (size_t k = 0; k <= SHA256_HEX_LEN; k++)
			lower[k] = (char)(sha[k] >= 'A' && sha[k] <= 'F' ? sha[k] - 'A' + 'a' : sha[k]);
		json_object_set_new(m, name, json_string(lower));
	}
	json_decref(body);
	if (!m)
		return api_param_or_reply(r, "files", "is invalid");
	*out = m;
	return 0;
}

struct publish_check {
	int64_t project_id;
	int64_t package_id;
	json_t *manifest; /* borrowed; consumed as files are found */
	json_t *missing, *unexpected, *mismatched;
	int64_t files;
};

static int publish_compare(void *ctx, const struct meta_package_file *f)
{
	struct publish_check *pc = ctx;
	pc->files++;
	if (!pc->manifest)
		return 0;
	const char *want = json_string_value(json_object_get(pc->manifest, f->file_name));
	if (!want)
		json_array_append_new(pc->unexpected, json_string(f->file_name));
	else if (strcmp(want, f->digests.sha256) != 0)
		json_array_append_new(pc->mismatched, json_string(f->file_name));
	json_object_del(pc->manifest, f->file_name);
	return 0;
}

static int by_string(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* The differences are in pc: the transaction ends without a change. */
#define PUBLISH_DIFFERS (-EBADE)

/* Under the write lock: no upload changes the version between the check and the flip. */
static int publish_locked(struct meta *m, void *ctx)
{
	struct publish_check *pc = ctx;
	struct meta_package pkg;
	int ret = m->ops->package_get(m, pc->project_id, pc->package_id, &pkg);
	if (ret == 0 && pkg.status == PKG_PENDING_DESTRUCTION)
		ret = -ENOENT; /* deleted meanwhile */
	struct file_query q = {.package_id = pc->package_id, .latest_only = true,
			       .order = FILE_ORDER_FILE_NAME, .limit = INT64_MAX};
	pc->files = 0;
	if (ret == 0)
		ret = m->ops->package_files_list(m, &q, publish_compare, pc, NULL);
	if (ret != 0 || !pc->manifest)
		return ret != 0 || pkg.status == PKG_DEFAULT
			       ? ret
			       : m->ops->package_set_status(m, pc->package_id, PKG_DEFAULT);
	for (void *it = json_object_iter(pc->manifest); it;
	     it = json_object_iter_next(pc->manifest, it))
		json_array_append_new(pc->missing, json_string(json_object_iter_key(it)));
	if (json_array_size(pc->missing) || json_array_size(pc->unexpected) ||
	    json_array_size(pc->mismatched))
		return PUBLISH_DIFFERS;
	return pkg.status == PKG_DEFAULT ? 0 : m->ops->package_set_status(m, pc->package_id, PKG_DEFAULT);
}

static json_t *sorted(json_t *names)
{
	size_t n = json_array_size(names);
	json_t **items = malloc((n ? n : 1) * sizeof(json_t *));
	json_t *out = json_array();
	for (size_t i = 0; items && i < n; i++)
		items[i] = json_array_get(names, i);
	if (items)
		qsort(items, n, sizeof(json_t *), by_string);
	for (size_t i = 0; items && out && i < n; i++)
		json_array_append(out, items[i]);
	free(items);
	return out;
}

void generic_publish_done(struct request *r)
{
	struct meta *m = r->app->meta;
	struct target t;
	struct meta_project project;
	struct abilities ab;
	json_t *manifest = NULL;
	if (api_identify_or_reply(r) != 0 || name_version_or_reply(r, &t) != 0 ||
	    api_project_or_reply(r, CAP_ID, "404 Not Found", &project, &ab) != 0)
		return;
	bool blocked = false;
	int ret = policy_protected(m, &ab, project.id, t.name, PROTECT_PUSH, &blocked, NULL);
	if (ret != 0) {
		http_reply_internal(r, "policy lookup failed", ret);
		return;
	}
	if (blocked) {
		http_reply_message(r, MHD_HTTP_FORBIDDEN, "403 Forbidden - Package protected.");
		return;
	}
	if (manifest_or_reply(r, &manifest) != 0)
		return;
	struct meta_package pkg;
	struct publish_check pc = {.project_id = project.id, .manifest = manifest,
				   .missing = json_array(), .unexpected = json_array(),
				   .mismatched = json_array()};
	ret = m->ops->package_find(m, project.id, t.name, t.version, &pkg);
	if (ret == 0 && (!pc.missing || !pc.unexpected || !pc.mismatched))
		ret = -ENOMEM;
	if (ret == 0) {
		pc.package_id = pkg.id;
		ret = m->ops->locked(m, publish_locked, &pc);
	}
	if (ret == -ENOENT) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Package Not Found");
	} else if (ret == PUBLISH_DIFFERS) {
		http_reply_json(r, MHD_HTTP_CONFLICT,
				json_pack("{s:s,s:o,s:o,s:o}", "message",
					  "409 Conflict - the version's files differ from the manifest",
					  "missing", sorted(pc.missing), "unexpected",
					  sorted(pc.unexpected), "mismatched", sorted(pc.mismatched)));
	} else if (ret != 0) {
		http_reply_internal(r, "publish failed", ret);
	} else {
		api_audit(r, "publish", project.id, pkg.name, pkg.version, NULL, pc.files, NULL,
			  manifest ? "manifest checked" : NULL);
		http_reply_json(r, MHD_HTTP_OK,
				json_pack("{s:I,s:s,s:s,s:s,s:I}", "id", (json_int_t)pkg.id, "name",
					  pkg.name, "version", pkg.version, "status", "default",
					  "files", (json_int_t)pc.files));
	}
	json_decref(manifest);
	json_decref(pc.missing);
	json_decref(pc.unexpected);
	json_decref(pc.mismatched);
}
