/* The counters behind GET /-/metrics (see metrics.h). One row of counters per route and
 * method, fixed at start; a scrape reads them without stopping anyone, so two counters
 * read a moment apart may disagree by the requests that ended in between, but a
 * histogram's count is the sum of its buckets by construction. */
#include "metrics.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "http.h"

#define NMETHODS (HTTP_OTHER + 1)

/* The statuses depot answers, and a few more; any other is counted as "other". 0: the
 * client left before an answer. */
static const unsigned statuses[] = {0,	 200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308,
				    400, 401, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413,
				    414, 415, 416, 422, 429, 500, 501, 502, 503, 504, 507};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]) + 1) /* + "other" */
#define STATUS_SLOTS 600

/* Request durations, in microseconds: Prometheus's default buckets, stretched to five
 * minutes for large uploads and downloads. */
static const int64_t duration_le_us[] = {5000,	   10000,    25000,    50000,	 100000,
					 250000,   500000,   1000000,  2500000,	 5000000,
					 10000000, 30000000, 60000000, 300000000};
#define NDUR (sizeof(duration_le_us) / sizeof(duration_le_us[0]) + 1) /* + "+Inf" */

/* Group-commit batches: 1 up to commit.c's BATCH_MAX (256). */
static const uint64_t batch_le[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
#define NBATCH (sizeof(batch_le) / sizeof(batch_le[0]) + 1)

enum route_kind { KIND_OTHER, KIND_UPLOAD, KIND_DOWNLOAD, KIND_ARCHIVE };

typedef _Atomic uint64_t counter;

struct row {
	counter status[NSTATUS];
	counter duration[NDUR]; /* per bucket, not cumulative: summed when read */
	counter duration_sum_us;
};

struct metrics {
	const struct route *routes;
	size_t nroutes;
	unsigned char *kinds; /* enum route_kind per route */
	struct row *rows;     /* (nroutes + 1) * NMETHODS; the last route: none matched */
	unsigned char status_slot[STATUS_SLOTS];
	struct cidr_list allow;
	counter bytes_in, bytes_out;
	counter uploads, upload_bytes;
	counter file_downloads, download_bytes, archive_downloads;
	counter store_unavailable, store_failed;
	_Atomic int64_t uploads_under_way, connections;
	counter batch[NBATCH], batch_sum;
};

static void add(counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(counter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static enum route_kind kind_of(const struct route *rt)
{
	if (rt->on_done == generic_upload_done)
		return KIND_UPLOAD;
	if (rt->on_done == generic_download_done || rt->on_done == package_file_download_done)
		return KIND_DOWNLOAD;
	if (rt->on_done == generic_archive_done)
		return KIND_ARCHIVE;
	return KIND_OTHER;
}

struct metrics *metrics_new(const struct route *routes, size_t nroutes,
			    const struct cidr_list *allow)
{
	struct metrics *mx = calloc(1, sizeof(*mx));
	if (!mx)
		return NULL;
	mx->routes = routes;
	mx->nroutes = nroutes;
	mx->kinds = calloc(nroutes ? nroutes : 1, 1);
	mx->rows = calloc((nroutes + 1) * NMETHODS, sizeof(*mx->rows));
	if (!mx->kinds || !mx->rows) {
		metrics_free(mx);
		return NULL;
	}
	for (size_t i = 0; i < nroutes; i++)
		mx->kinds[i] = (unsigned char)kind_of(&routes[i]);
	memset(mx->status_slot, NSTATUS - 1, sizeof(mx->status_slot));
	for (size_t i = 0; i < NSTATUS - 1; i++)
		mx->status_slot[statuses[i]] = (unsigned char)i;
	if (allow)
		mx->allow = *allow;
	return mx;
}

void metrics_free(struct metrics *mx)
{
	if (!mx)
		return;
	free(mx->kinds);
	free(mx->rows);
	free(mx);
}

struct metrics *metrics_of(const struct request *r)
{
	return r->app ? r->app->metrics : NULL;
}

/* The request's route's index, or nroutes when none matched. */
static size_t route_index(const struct metrics *mx, const struct request *r)
{
	if (!r->route || r->route < mx->routes || r->route >= mx->routes + mx->nroutes)
		return mx->nroutes;
	return (size_t)(r->route - mx->routes);
}

static enum route_kind request_kind(const struct metrics *mx, const struct request *r)
{
	size_t i = route_index(mx, r);
	return i < mx->nroutes ? (enum route_kind)mx->kinds[i] : KIND_OTHER;
}

void metrics_request_begin(struct request *r)
{
	struct metrics *mx = metrics_of(r);
	if (mx && request_kind(mx, r) == KIND_UPLOAD)
		atomic_fetch_add_explicit(&mx->uploads_under_way, 1, memory_order_relaxed);
}

void metrics_request_end(struct request *r, int64_t duration_us)
{
	struct metrics *mx = metrics_of(r);
	if (!mx)
		return;
	unsigned method = (unsigned)r->method < NMETHODS ? (unsigned)r->method : HTTP_OTHER;
	struct row *row = &mx->rows[route_index(mx, r) * NMETHODS + method];
	add(&row->status[r->status < STATUS_SLOTS ? mx->status_slot[r->status] : NSTATUS - 1], 1);
	size_t b = 0;
	while (b < NDUR - 1 && duration_us > duration_le_us[b])
		b++;
	add(&row->duration[b], 1);
	add(&row->duration_sum_us, duration_us > 0 ? (uint64_t)duration_us : 0);
	add(&mx->bytes_in, r->bytes_in);
	add(&mx->bytes_out, r->bytes_out);
	switch (request_kind(mx, r)) {
	case KIND_UPLOAD:
		atomic_fetch_sub_explicit(&mx->uploads_under_way, 1, memory_order_relaxed);
		if (r->status == 201) {
			add(&mx->uploads, 1);
			add(&mx->upload_bytes, r->bytes_in);
		}
		break;
	case KIND_DOWNLOAD: /* 302: sent on to object storage (--blobs-redirect) */
		if (r->method == HTTP_GET &&
		    (r->status == 200 || r->status == 206 || r->status == 302)) {
			add(&mx->file_downloads, 1);
			add(&mx->download_bytes, r->bytes_out);
		}
		break;
	case KIND_ARCHIVE:
		if (r->method == HTTP_GET && r->status == 200)
			add(&mx->archive_downloads, 1);
		break;
	case KIND_OTHER:
		break;
	}
}

void metrics_store_error(struct request *r, int err)
{
	struct metrics *mx = metrics_of(r);
	if (!mx || err == -ENOMEM)
		return;
	add(err == -EAGAIN ? &mx->store_unavailable : &mx->store_failed, 1);
}

void metrics_add_sent(struct metrics *mx, size_t n)
{
	if (mx)
		add(&mx->bytes_out, n);
}

void metrics_connection(struct metrics *mx, int delta)
{
	if (mx)
		atomic_fetch_add_explicit(&mx->connections, delta, memory_order_relaxed);
}

void metrics_commit_batch(struct metrics *mx, size_t n)
{
	if (!mx)
		return;
	size_t b = 0;
	while (b < NBATCH - 1 && n > batch_le[b])
		b++;
	add(&mx->batch[b], 1);
	add(&mx->batch_sum, n);
}

static const char *method_label(unsigned m)
{
	static const char *const names[NMETHODS] = {"GET",    "HEAD",  "PUT",  "POST",
						    "DELETE", "PATCH", "OTHER"};
	return names[m];
}

/* A label value: backslash, double quote and newline escaped, as the format requires. */
static void put_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void put_route_labels(FILE *f, const struct metrics *mx, size_t ri, unsigned m)
{
	fprintf(f, "method=\"%s\",route=\"", method_label(m));
	put_label(f, ri < mx->nroutes ? mx->routes[ri].pattern : "unmatched");
	fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_counter(FILE *f, const char *name, const char *help, counter *c)
{
	family(f, name, "counter", help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)get(c));
}

static void put_requests(FILE *f, struct metrics *mx)
{
	size_t nrows = (mx->nroutes + 1) * NMETHODS;
	family(f, "depot_http_requests_total", "counter",
	       "Requests answered, by method, route pattern and status (0: the client left "
	       "first).");
	for (size_t i = 0; i < nrows; i++)
		for (size_t s = 0; s < NSTATUS; s++) {
			uint64_t n = get(&mx->rows[i].status[s]);
			if (!n)
				continue;
			fputs("depot_http_requests_total{", f);
			put_route_labels(f, mx, i / NMETHODS, (unsigned)(i % NMETHODS));
			if (s < NSTATUS - 1)
				fprintf(f, ",status=\"%u\"} %llu\n", statuses[s],
					(unsigned long long)n);
			else
				fprintf(f, ",status=\"other\"} %llu\n", (unsigned long long)n);
		}
	family(f, "depot_http_request_duration_seconds", "histogram",
	       "Time from the request's headers to its last byte sent, by method and route "
	       "pattern.");
	for (size_t i = 0; i < nrows; i++) {
		struct row *row = &mx->rows[i];
		uint64_t seen[NDUR], total = 0;
		for (size_t b = 0; b < NDUR; b++)
			total += seen[b] = get(&row->duration[b]);
		if (!total)
			continue;
		uint64_t cumulative = 0;
		for (size_t b = 0; b < NDUR; b++) {
			cumulative += seen[b];
			fputs("depot_http_request_duration_seconds_bucket{", f);
			put_route_labels(f, mx, i / NMETHODS, (unsigned)(i % NMETHODS));
			if (b < NDUR - 1)
				fprintf(f, ",le=\"%g\"} %llu\n", (double)duration_le_us[b] / 1e6,
					(unsigned long long)cumulative);
			else
				fprintf(f, ",le=\"+Inf\"} %llu\n", (unsigned long long)cumulative);
		}
		fputs("depot_http_request_duration_seconds_sum{", f);
		put_route_labels(f, mx, i / NMETHODS, (unsigned)(i % NMETHODS));
		fprintf(f, "} %.6f\n", (double)get(&row->duration_sum_us) / 1e6);
		fputs("depot_http_request_duration_seconds_count{", f);
		put_route_labels(f, mx, i / NMETHODS, (unsigned)(i % NMETHODS));
		fprintf(f, "} %llu\n", (unsigned long long)total);
	}
}

static void put_batches(FILE *f, struct metrics *mx)
{
	family(f, "depot_commit_batch_size", "histogram",
	       "Small uploads recorded by one group commit (one transaction, one sync).");
	uint64_t cumulative = 0;
	for (size_t b = 0; b < NBATCH; b++) {
		cumulative += get(&mx->batch[b]);
		if (b < NBATCH - 1)
			fprintf(f, "depot_commit_batch_size_bucket{le=\"%llu\"} %llu\n",
				(unsigned long long)batch_le[b], (unsigned long long)cumulative);
		else
			fprintf(f, "depot_commit_batch_size_bucket{le=\"+Inf\"} %llu\n",
				(unsigned long long)cumulative);
	}
	fprintf(f, "depot_commit_batch_size_sum %llu\ndepot_commit_batch_size_count %llu\n",
		(unsigned long long)get(&mx->batch_sum), (unsigned long long)cumulative);
}

static long long gauge(_Atomic int64_t *g)
{
	int64_t v = atomic_load_explicit(g, memory_order_relaxed);
	return v > 0 ? (long long)v : 0;
}

/* The whole text (caller frees), or NULL when out of memory. */
static char *render(struct metrics *mx, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);
	if (!f)
		return NULL;
	put_requests(f, mx);
	put_counter(f, "depot_http_received_bytes_total", "Bytes of request bodies received.",
		    &mx->bytes_in);
	put_counter(f, "depot_http_sent_bytes_total", "Bytes of response bodies sent.",
		    &mx->bytes_out);
	put_counter(f, "depot_uploads_total", "Files stored by uploads (answered 201).",
		    &mx->uploads);
	put_counter(f, "depot_upload_bytes_total", "Bytes of the files stored by uploads.",
		    &mx->upload_bytes);
	family(f, "depot_downloads_total", "counter",
	       "Downloads: of one file (200, 206, or 302 to object storage), or of a whole "
	       "version as an archive.");
	fprintf(f, "depot_downloads_total{kind=\"file\"} %llu\n",
		(unsigned long long)get(&mx->file_downloads));
	fprintf(f, "depot_downloads_total{kind=\"archive\"} %llu\n",
		(unsigned long long)get(&mx->archive_downloads));
	put_counter(f, "depot_download_bytes_total", "Bytes of files sent by file downloads.",
		    &mx->download_bytes);
	family(f, "depot_store_errors_total", "counter",
	       "Requests answered 503 because a store was unreachable, or 500 because an "
	       "operation failed.");
	fprintf(f, "depot_store_errors_total{kind=\"unavailable\"} %llu\n",
		(unsigned long long)get(&mx->store_unavailable));
	fprintf(f, "depot_store_errors_total{kind=\"failed\"} %llu\n",
		(unsigned long long)get(&mx->store_failed));
	put_batches(f, mx);
	family(f, "depot_http_open_connections", "gauge", "Client connections open now.");
	fprintf(f, "depot_http_open_connections %lld\n", gauge(&mx->connections));
	family(f, "depot_staged_uploads", "gauge",
	       "Uploads under way: receiving their body or waiting for their commit.");
	fprintf(f, "depot_staged_uploads %lld\n", gauge(&mx->uploads_under_way));
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

void metrics_done(struct request *r)
{
	struct metrics *mx = metrics_of(r);
	const char *addr = http_client_addr(r);
	/* GitLab's monitoring allowlist: to anyone else the page does not exist */
	if (!mx || !(cidr_is_loopback(addr) || cidr_list_contains(&mx->allow, addr))) {
		http_reply_error(r, MHD_HTTP_NOT_FOUND, "404 Not Found");
		return;
	}
	size_t len = 0;
	char *text = render(mx, &len);
	if (!text) {
		http_reply_internal(r, "cannot render the metrics", -ENOMEM);
		return;
	}
	const char *h[] = {MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8",
			   NULL};
	http_reply_copy(r, MHD_HTTP_OK, text, len, h);
	free(text);
}
