/* A whole package version as one archive (.zip, .tar.gz, .tar), written by libarchive as
 * the client reads: each read runs the writer one step (an entry's header, one chunk of
 * its content, the SHA256SUMS file, the end), so memory holds one chunk and what
 * libarchive makes of it, whatever the files' sizes. Each file's content is checked
 * against its SHA-256 as it is sent; damage ends the connection, as a download does. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <locale.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "log.h"
#include "timeutil.h"

#define CHUNK (64u << 10)

/* What the archive needs of one file: kept for every file, so small. */
struct arc_file {
	int64_t id;
	int64_t size;
	int64_t created_at_ms;
	char sha256[SHA256_HEX_LEN + 1];
	char *name;
};

enum arc_phase { PH_FILES, PH_SUMS, PH_CLOSE, PH_DONE };

struct arc_stream {
	struct app *app;
	struct archive *a;
	struct arc_file *files;
	size_t n, cap, next;
	char *sums; /* SHA256SUMS, in sha256sum's format; NULL when the version has its own */
	size_t sums_len;
	enum arc_phase phase;
	/* libarchive converts names through the thread's locale: UTF-8 while it runs, so that
	 * stored names (UTF-8) go into the headers as they are, whatever the server's locale.
	 * (locale_t)0 when C.UTF-8 is missing: names then go in as bytes. */
	locale_t utf8;
	/* the entry being written */
	bool in_entry;
	struct blob_reader br;
	char *mem;
	uint64_t off;
	EVP_MD_CTX *sha;
	char *chunk;
	/* what libarchive wrote and the client has not read yet */
	char *out;
	size_t out_len, out_off, out_cap;
};

static la_ssize_t arc_write(struct archive *a, void *cls, const void *buf, size_t len)
{
	struct arc_stream *s = cls;
	if (s->out_len + len > s->out_cap) {
		size_t cap = (s->out_len + len) * 2;
		char *grown = realloc(s->out, cap);
		if (!grown) {
			archive_set_error(a, ENOMEM, "out of memory");
			return -1;
		}
		s->out = grown;
		s->out_cap = cap;
	}
	memcpy(s->out + s->out_len, buf, len);
	s->out_len += len;
	return (la_ssize_t)len;
}

static int add_file(void *ctx, const struct meta_package_file *f)
{
	struct arc_stream *s = ctx;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct arc_file *grown = realloc(s->files, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		s->files = grown;
		s->cap = cap;
	}
	struct arc_file *af = &s->files[s->n];
	*af = (struct arc_file){f->id, f->size, f->created_at_ms, "", strdup(f->file_name)};
	memcpy(af->sha256, f->digests.sha256, sizeof(af->sha256));
	if (!af->name)
		return -ENOMEM;
	s->n++;
	return 0;
}

/* SHA256SUMS: "<sha256>  <name>\n" per file, what `sha256sum -c` reads. */
static int build_sums(struct arc_stream *s)
{
	size_t len = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->files[i].name, "SHA256SUMS") == 0)
			return 0; /* the version brings its own: it is not replaced */
		len += SHA256_HEX_LEN + 3 + strlen(s->files[i].name);
	}
	if (!(s->sums = malloc(len + 1)))
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		s->sums_len += (size_t)snprintf(s->sums + s->sums_len, len + 1 - s->sums_len,
						"%s  %s\n", s->files[i].sha256, s->files[i].name);
	return 0;
}

static int arc_fail(const char *what, const char *detail)
{
	log_line("depot: writing an archive: %s: %s", what, detail);
	return -EIO;
}

static int write_header(struct arc_stream *s, const char *name, int64_t size, int64_t mtime_s)
{
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return -ENOMEM;
	if (s->utf8)
		archive_entry_set_pathname_utf8(e, name);
	else
		archive_entry_copy_pathname(e, name);
	archive_entry_set_size(e, size);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, mtime_s, 0);
	int ret = archive_write_header(s->a, e);
	archive_entry_free(e);
	return ret == ARCHIVE_OK ? 0 : arc_fail(name, archive_error_string(s->a));
}

static void entry_close(struct arc_stream *s)
{
	if (!s->in_entry)
		return;
	if (s->mem)
		free(s->mem);
	else
		blob_reader_close(&s->br);
	s->mem = NULL;
	s->in_entry = false;
}

static int entry_begin(struct arc_stream *s, const struct arc_file *af)
{
	struct meta_package_file f = {.id = af->id, .size = af->size};
	memcpy(f.digests.sha256, af->sha256, sizeof(af->sha256));
	int ret = api_open_content(s->app, &f, &s->br, &s->mem);
	if (ret == 0 && s->br.size != (uint64_t)af->size) {
		s->in_entry = true; /* so that entry_close releases it */
		entry_close(s);
		ret = -EIO;
	}
	if (ret != 0) {
		log_line("depot: content %s of file %lld for an archive: %s", af->sha256,
			 (long long)af->id, strerror(-ret));
		return ret;
	}
	s->in_entry = true;
	s->off = 0;
	if (EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) != 1)
		return -EIO;
	return write_header(s, af->name, af->size, af->created_at_ms / 1000);
}

static int entry_chunk(struct arc_stream *s)
{
	const struct arc_file *af = &s->files[s->next];
	uint64_t left = (uint64_t)af->size - s->off;
	if (left > 0) {
		size_t want = left < CHUNK ? (size_t)left : CHUNK;
		const char *data = s->mem ? s->mem + s->off : s->chunk;
		ssize_t got = (ssize_t)want;
		if (!s->mem && (got = blob_reader_read(&s->br, s->off, s->chunk, want)) <= 0)
			return arc_fail(af->name, got < 0 ? strerror((int)-got) : "content ends early");
		EVP_DigestUpdate(s->sha, data, (size_t)got);
		if (archive_write_data(s->a, data, (size_t)got) != got)
			return arc_fail(af->name, archive_error_string(s->a));
		s->off += (uint64_t)got;
		if (s->off < (uint64_t)af->size)
			return 0;
	}
	unsigned char raw[32];
	unsigned int rawlen = 0;
	char hex[SHA256_HEX_LEN + 1];
	EVP_DigestFinal_ex(s->sha, raw, &rawlen);
	hex_encode(raw, sizeof(raw), hex);
	if (strcmp(hex, af->sha256) != 0)
		return arc_fail(af->name, "the content does not match its SHA-256 (fsck reports it)");
	entry_close(s);
	s->next++;
	return archive_write_finish_entry(s->a) == ARCHIVE_OK
		       ? 0
		       : arc_fail(af->name, archive_error_string(s->a));
}

/* One step of the writer; what it writes lands in s->out. */
static int arc_step(struct arc_stream *s)
{
	switch (s->phase) {
	case PH_FILES:
		if (s->in_entry)
			return entry_chunk(s);
		if (s->next < s->n)
			return entry_begin(s, &s->files[s->next]);
		s->phase = s->sums ? PH_SUMS : PH_CLOSE;
		return 0;
	case PH_SUMS: {
		int ret = write_header(s, "SHA256SUMS", (int64_t)s->sums_len, now_ms() / 1000);
		if (ret == 0 && s->sums_len &&
		    archive_write_data(s->a, s->sums, s->sums_len) != (la_ssize_t)s->sums_len)
			ret = arc_fail("SHA256SUMS", archive_error_string(s->a));
		s->phase = PH_CLOSE;
		return ret;
	}
	case PH_CLOSE:
		s->phase = PH_DONE;
		return archive_write_close(s->a) == ARCHIVE_OK
			       ? 0
			       : arc_fail("the end", archive_error_string(s->a));
	case PH_DONE:
		break;
	}
	return 0;
}

static ssize_t arc_read(void *cls, char *buf, size_t max)
{
	struct arc_stream *s = cls;
	while (s->out_off == s->out_len) {
		if (s->phase == PH_DONE)
			return 0;
		s->out_off = s->out_len = 0;
		locale_t old = s->utf8 ? uselocale(s->utf8) : (locale_t)0;
		int ret = arc_step(s);
		if (old)
			uselocale(old);
		if (ret != 0)
			return -1;
	}
	size_t n = s->out_len - s->out_off < max ? s->out_len - s->out_off : max;
	memcpy(buf, s->out + s->out_off, n);
	s->out_off += n;
	return (ssize_t)n;
}

static void arc_free(void *cls)
{
	struct arc_stream *s = cls;
	if (!s)
		return;
	entry_close(s);
	locale_t old = s->utf8 && s->a ? uselocale(s->utf8) : (locale_t)0;
	if (s->a)
		archive_write_free(s->a); /* after a failure: no close, nothing more is sent */
	if (old)
		uselocale(old);
	if (s->utf8)
		freelocale(s->utf8);
	for (size_t i = 0; i < s->n; i++)
		free(s->files[i].name);
	free(s->files);
	free(s->sums);
	free(s->chunk);
	free(s->out);
	EVP_MD_CTX_free(s->sha);
	free(s);
}

static const char *const extensions[] = {[ARCHIVE_ZIP] = "zip", [ARCHIVE_TAR_GZ] = "tar.gz",
					 [ARCHIVE_TAR] = "tar"};
static const char *const content_types[] = {[ARCHIVE_ZIP] = "application/zip",
					    [ARCHIVE_TAR_GZ] = "application/gzip",
					    [ARCHIVE_TAR] = "application/x-tar"};

static int writer_open(struct arc_stream *s, enum archive_kind kind)
{
	if (!(s->a = archive_write_new()))
		return -ENOMEM;
	int ret = kind == ARCHIVE_ZIP ? archive_write_set_format_zip(s->a)
				      : archive_write_set_format_pax_restricted(s->a);
	if (ret == ARCHIVE_OK && kind == ARCHIVE_ZIP) /* names as UTF-8, flagged so */
		ret = archive_write_set_options(s->a, "zip:hdrcharset=UTF-8");
	if (ret == ARCHIVE_OK && kind == ARCHIVE_TAR_GZ)
		ret = archive_write_add_filter_gzip(s->a);
	if (ret == ARCHIVE_OK)
		ret = archive_write_open(s->a, s, NULL, arc_write, NULL);
	return ret == ARCHIVE_OK ? 0 : arc_fail("opening", archive_error_string(s->a));
}

void api_send_archive(struct request *r, const struct meta_package *pkg, enum archive_kind kind,
		      const char *const *extra)
{
	struct app *app = r->app;
	struct arc_stream *s = calloc(1, sizeof(*s));
	int ret = s ? 0 : -ENOMEM;
	if (ret == 0) {
		s->app = app;
		s->br.fd = -1;
		struct file_query q = {.package_id = pkg->id, .latest_only = true,
				       .order = FILE_ORDER_FILE_NAME, .limit = INT64_MAX};
		ret = app->meta->ops->package_files_list(app->meta, &q, add_file, s, NULL);
	}
	if (ret == 0)
		ret = build_sums(s);
	if (ret == 0 && (!(s->sha = EVP_MD_CTX_new()) || !(s->chunk = malloc(CHUNK))))
		ret = -ENOMEM;
	if (ret == 0) {
		s->utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
		locale_t old = s->utf8 ? uselocale(s->utf8) : (locale_t)0;
		ret = writer_open(s, kind);
		if (old)
			uselocale(old);
	}
	if (ret != 0) {
		arc_free(s);
		http_reply_internal(r, "cannot start an archive", ret);
		return;
	}
	int64_t total = 0;
	for (size_t i = 0; i < s->n; i++)
		total += s->files[i].size;
	char name[PACKAGE_NAME_MAX + PACKAGE_VERSION_MAX + 16], disposition[2 * sizeof(name) + 64];
	snprintf(name, sizeof(name), "%s-%s.%s", pkg->name, pkg->version, extensions[kind]);
	/* names and versions are [A-Za-z0-9._+-]: nothing to escape */
	snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s\"", name);
	const char *h[24] = {MHD_HTTP_HEADER_CONTENT_TYPE, content_types[kind],
			     MHD_HTTP_HEADER_CONTENT_DISPOSITION, disposition, NULL};
	for (size_t i = 4, k = 0; extra && extra[k] && i + 2 < 24; i += 2, k += 2) {
		h[i] = extra[k];
		h[i + 1] = extra[k + 1];
		h[i + 2] = NULL;
	}
	if (r->method == HTTP_GET) {
		char file[32];
		snprintf(file, sizeof(file), "@archive.%s", extensions[kind]);
		char detail[64];
		snprintf(detail, sizeof(detail), "%zu files", s->n);
		touch_log_record(app->touches, pkg->id, now_ms());
		api_audit(r, "archive", pkg->project_id, pkg->name, pkg->version, file, total, NULL,
			  detail);
	}
	http_reply_stream(r, MHD_HTTP_OK, h, arc_read, s, arc_free);
}
