/* The S3-compatible blob store (AWS S3, Ceph RGW, MinIO, ...) over libcurl, signed with
 * AWS Signature V4 by curl; S3's XML answers are read with expat. Each upload gets its own
 * key, blobs/<32 random hex digits> under the URL's prefix, chosen before the first byte,
 * so no byte is ever copied server-side after the upload; the metadata store maps content
 * to key (blob.c). Bodies up to the part size go in one PUT at sync; larger ones become a
 * multipart upload whose parts are sent by a few threads while the body still arrives,
 * with a bounded number of parts in memory. Downloads read ranged GETs a chunk at a time. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>

#include <curl/curl.h>
#include <expat.h>
#include <openssl/rand.h>

#include "blob.h"
#include "digest.h"
#include "log.h"
#include "s3_sign.h"

/* Part buffers in memory per upload at most (the one filling and those being sent), and
 * threads sending parts: what bounds an upload's memory whatever its size. */
#define S3_BUFFER_BUDGET (40ull << 20)
#define S3_SENDERS_MAX 4
#define S3_PARTS_MAX 10000 /* S3's limit */
#define S3_ETAG_MAX 80
#define S3_READ_CHUNK (4u << 20) /* bytes per ranged GET of a download */
#define S3_XML_MAX (8u << 20)	 /* an answer's body kept for parsing */
#define S3_TEXT_MAX 1100	 /* one XML element's text (keys are at most 1024 bytes) */

struct s3 {
	struct blob_store base;
	char *base_url;	   /* scheme://host[:port] (virtual-hosted: bucket.host) */
	char *bucket_path; /* "/bucket" (path-style) or "" (virtual-hosted) */
	char *prefix;	   /* the URL's path inside the bucket, "" or ending in '/' */
	char *sigv4;	   /* "aws:amz:REGION:s3" */
	char *region;
	char *host;	   /* base_url's host[:port], as clients send it in Host */
	char *access_key, *secret_key;
	char *ca_file;
	uint64_t part_size;
	int senders; /* parts sent at once */
};

/* ---- XML answers, through expat: the text of each leaf element, with its parent. */

struct xml_walk {
	void (*leaf)(void *ctx, const char *parent, const char *name, const char *text);
	void (*closed)(void *ctx, const char *name); /* any element's end; may be NULL */
	void *ctx;
	char root[64];
	char stack[8][64];
	int depth;
	char text[S3_TEXT_MAX];
	size_t tlen;
};

static void xml_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	(void)attrs;
	struct xml_walk *w = ud;
	if (w->depth == 0)
		snprintf(w->root, sizeof(w->root), "%s", name);
	if (w->depth < 8)
		snprintf(w->stack[w->depth], sizeof(w->stack[0]), "%s", name);
	w->depth++;
	w->tlen = 0;
	w->text[0] = '\0';
}

static void xml_chars(void *ud, const XML_Char *s, int len)
{
	struct xml_walk *w = ud;
	size_t n = (size_t)len;
	if (n > sizeof(w->text) - 1 - w->tlen)
		n = sizeof(w->text) - 1 - w->tlen;
	memcpy(w->text + w->tlen, s, n);
	w->tlen += n;
	w->text[w->tlen] = '\0';
}

static void xml_end(void *ud, const XML_Char *name)
{
	struct xml_walk *w = ud;
	const char *parent = w->depth >= 2 && w->depth - 2 < 8 ? w->stack[w->depth - 2] : "";
	if (w->leaf)
		w->leaf(w->ctx, parent, name, w->text);
	if (w->closed)
		w->closed(w->ctx, name);
	w->depth--;
	w->tlen = 0;
	w->text[0] = '\0';
}

/* Parses a whole answer; -EIO when it is not well-formed XML. */
static int xml_parse(struct xml_walk *w, const char *body, size_t len)
{
	XML_Parser p = XML_ParserCreate(NULL);
	if (!p)
		return -ENOMEM;
	XML_SetUserData(p, w);
	XML_SetElementHandler(p, xml_start, xml_end);
	XML_SetCharacterDataHandler(p, xml_chars);
	int ret = XML_Parse(p, body, (int)len, 1) == XML_STATUS_OK ? 0 : -EIO;
	XML_ParserFree(p);
	return ret;
}

struct xml_error {
	char code[64];
};

static void error_leaf(void *ctx, const char *parent, const char *name, const char *text)
{
	struct xml_error *e = ctx;
	if (strcmp(parent, "Error") == 0 && strcmp(name, "Code") == 0)
		snprintf(e->code, sizeof(e->code), "%s", text);
}

/* ---- requests */

struct s3_req {
	const char *method;
	const char *key;   /* relative to the prefix; NULL: the bucket */
	const char *query; /* sorted and encoded, as SigV4 signs it; NULL: none */
	const char *body;
	size_t body_len;
	bool sign_body;	   /* x-amz-content-sha256: the body's hash, else UNSIGNED-PAYLOAD */
	const char *range; /* "bytes=A-B" */
	char *sink;	   /* GET: the body goes here, sink_cap bytes at most */
	size_t sink_cap;
	/* the answer */
	long status;
	char *resp; /* the body when no sink (caller frees) */
	size_t resp_len;
	char etag[S3_ETAG_MAX];
	curl_off_t length; /* Content-Length of a HEAD */
	bool overflow;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct s3_req *q = ud;
	size_t n = size * nmemb;
	if (q->sink) {
		if (n > q->sink_cap - q->resp_len) {
			q->overflow = true;
			return 0;
		}
		memcpy(q->sink + q->resp_len, data, n);
		q->resp_len += n;
		return n;
	}
	if (n > S3_XML_MAX - q->resp_len) {
		q->overflow = true;
		return 0;
	}
	char *grown = realloc(q->resp, q->resp_len + n + 1);
	if (!grown)
		return 0;
	q->resp = grown;
	memcpy(q->resp + q->resp_len, data, n);
	q->resp_len += n;
	q->resp[q->resp_len] = '\0';
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
	struct s3_req *q = ud;
	size_t n = size * nmemb;
	if (n > 5 && strncasecmp(data, "ETag:", 5) == 0) {
		const char *v = data + 5;
		size_t len = n - 5;
		while (len && (*v == ' ' || *v == '\t'))
			v++, len--;
		while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
			len--;
		if (len < sizeof(q->etag)) {
			memcpy(q->etag, v, len);
			q->etag[len] = '\0';
		}
	}
	return n;
}

#define S3_PATH_MAX ((size_t)3 * (BLOB_KEY_MAX + 1100))

/* The object's path after base_url, each segment percent-encoded (curl signs the path as
 * written, and so does a presigned URL): "/bucket/prefix/key" or "/prefix/key"; the
 * bucket's own path without a key. */
static int object_path(const struct s3 *s, CURL *h, const char *key, char path[S3_PATH_MAX])
{
	size_t len = (size_t)snprintf(path, S3_PATH_MAX, "%s", s->bucket_path);
	if (!key) {
		if (!s->bucket_path[0])
			snprintf(path, S3_PATH_MAX, "/");
		return 0;
	}
	char full[BLOB_KEY_MAX + 1100];
	snprintf(full, sizeof(full), "%s%s", s->prefix, key);
	for (char *seg = full;;) {
		char *slash = strchr(seg, '/');
		size_t seglen = slash ? (size_t)(slash - seg) : strlen(seg);
		char *enc = seglen ? curl_easy_escape(h, seg, (int)seglen) : NULL;
		if (seglen && !enc)
			return -ENOMEM;
		len += (size_t)snprintf(path + len, S3_PATH_MAX - len, "/%s", enc ? enc : "");
		curl_free(enc);
		if (!slash || len >= S3_PATH_MAX)
			break;
		seg = slash + 1;
	}
	return len < S3_PATH_MAX ? 0 : -ENAMETOOLONG;
}

static int object_url(const struct s3 *s, CURL *h, const char *key, const char *query, char **out)
{
	char path[S3_PATH_MAX];
	int ret = object_path(s, h, key, path);
	if (ret != 0)
		return ret;
	if (asprintf(out, "%s%s%s%s", s->base_url, path, query ? "?" : "", query ? query : "") < 0)
		return -ENOMEM;
	return 0;
}

/* curl's and the server's failures as errnos: unreachable or unavailable is -EAGAIN
 * (the client may try again: 503), a missing object -ENOENT. */
static int map_result(CURLcode cc, long status)
{
	switch (cc) {
	case CURLE_OK:
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return -EAGAIN;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
	if (status >= 200 && status < 300)
		return 0;
	if (status == 404)
		return -ENOENT;
	if (status == 403)
		return -EACCES;
	if (status == 503 || status >= 500)
		return -EAGAIN;
	return -EIO;
}

/* One request on handle h (reused, so connections are kept alive). 0 for a 2xx answer. */
static int s3_perform(const struct s3 *s, CURL *h, struct s3_req *q)
{
	char *url = NULL;
	int ret = object_url(s, h, q->key, q->query, &url);
	if (ret != 0)
		return ret;
	char hash_header[100], range_header[100];
	if (q->sign_body) {
		unsigned char md[32];
		char hex[SHA256_HEX_LEN + 1];
		sha256_raw(q->body ? q->body : "", q->body_len, md);
		hex_encode(md, 32, hex);
		snprintf(hash_header, sizeof(hash_header), "x-amz-content-sha256: %s", hex);
	} else {
		snprintf(hash_header, sizeof(hash_header),
			 "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	}
	struct curl_slist *hdrs = curl_slist_append(NULL, hash_header);
	/* No "Expect:" to turn 100-continue off: curl 7.88 signs the empty header it then
	 * leaves out, and the signature no longer matches. */
	bool sends = q->body || strcmp(q->method, "PUT") == 0 || strcmp(q->method, "POST") == 0;
	if (sends) /* else curl says application/x-www-form-urlencoded */
		hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
	if (q->range) {
		snprintf(range_header, sizeof(range_header), "Range: %s", q->range);
		hdrs = curl_slist_append(hdrs, range_header);
	}
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(h, CURLOPT_USERNAME, s->access_key);
	curl_easy_setopt(h, CURLOPT_PASSWORD, s->secret_key);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	/* a store that stops answering mid-transfer fails the request, not the server */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, q);
	/* curl's own account of a failure: which certificate check failed, say, where
	 * curl_easy_strerror only says "SSL peer certificate ... was not OK" */
	char why[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, why);
	if (s->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_file);
	if (strcmp(q->method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(q->method, "GET") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
	if (sends) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body ? q->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
	}
	CURLcode cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &q->status);
	if (strcmp(q->method, "HEAD") == 0)
		curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &q->length);
	ret = q->overflow ? -EIO : map_result(cc, q->status);
	/* Said once per failed request (a missing object is an answer, not a failure);
	 * the URL names the object, never a key or secret. */
	if (ret != 0 && ret != -ENOENT) {
		struct xml_error e = {""};
		struct xml_walk w = {.leaf = error_leaf, .ctx = &e};
		if (cc == CURLE_OK && q->resp && !q->sink)
			xml_parse(&w, q->resp, q->resp_len);
		char esc[LOG_TEXT_MAX];
		if (cc != CURLE_OK)
			log_line("depot: s3 %s %s: %s", q->method,
				 log_escape(url, esc, sizeof(esc)),
				 why[0] ? why : curl_easy_strerror(cc));
		else
			log_line("depot: s3 %s %s: HTTP %ld %s", q->method,
				 log_escape(url, esc, sizeof(esc)), q->status, e.code);
	}
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL); /* why goes out of scope */
	curl_slist_free_all(hdrs);
	free(url);
	return ret;
}

static void req_release(struct s3_req *q)
{
	if (!q->sink)
		free(q->resp);
	q->resp = NULL;
}

/* A request on a handle of its own, answer body discarded. */
static int s3_simple(const struct s3 *s, const char *method, const char *key, const char *query)
{
	CURL *h = curl_easy_init();
	if (!h)
		return -ENOMEM;
	struct s3_req q = {.method = method, .key = key, .query = query, .sign_body = true};
	int ret = s3_perform(s, h, &q);
	req_release(&q);
	curl_easy_cleanup(h);
	return ret;
}

/* "name=value" with value encoded for a signed query (curl escapes '/' and ' ' too). */
static int query_param(CURL *h, char *out, size_t cap, const char *name, const char *value)
{
	char *enc = curl_easy_escape(h, value, 0);
	if (!enc)
		return -ENOMEM;
	int n = snprintf(out, cap, "%s=%s", name, enc);
	curl_free(enc);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* ---- uploads */

struct part {
	char *buf;
	size_t len;
	int number;
};

struct blob_writer {
	struct s3 *s;
	char key[BLOB_KEY_MAX + 1];
	CURL *h;
	struct part cur; /* filling */
	int next_number;
	bool multipart, stored; /* stored: the object exists under key (synced) */
	char upload_id[512];
	/* parts waiting for a sender, and the senders' state, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct part queue[S3_SENDERS_MAX];
	int queued, sending, nthreads;
	bool stopping;
	int err;
	pthread_t threads[S3_SENDERS_MAX];
	char (*etags)[S3_ETAG_MAX]; /* by part number - 1 */
};

static char *part_buf_new(size_t size)
{
	/* mmap'ed so freeing gives the memory back at once (malloc keeps large freed
	 * chunks once its mmap threshold has risen) */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void part_buf_free(char *buf, size_t size)
{
	if (buf)
		munmap(buf, size);
}

static int s3_writer_new(struct blob_store *bs, struct blob_writer **out)
{
	struct s3 *s = (struct s3 *)bs;
	struct blob_writer *w = calloc(1, sizeof(*w));
	unsigned char rnd[16];
	char hex[33];
	if (!w)
		return -ENOMEM;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1 || !(w->h = curl_easy_init())) {
		free(w);
		return -EIO;
	}
	hex_encode(rnd, sizeof(rnd), hex);
	snprintf(w->key, sizeof(w->key), "blobs/%s", hex);
	w->s = s;
	w->next_number = 1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	*out = w;
	return 0;
}

static const char *s3_writer_key(struct blob_writer *w)
{
	return w->key;
}

static int upload_query(struct blob_writer *w, char *out, size_t cap, int part_number)
{
	char id[1600];
	int ret = query_param(w->h, id, sizeof(id), "uploadId", w->upload_id);
	if (ret == 0 && part_number) /* sorted: partNumber < uploadId */
		ret =
		    snprintf(out, cap, "partNumber=%d&%s", part_number, id) < (int)cap ? 0 : -E2BIG;
	else if (ret == 0)
		ret = snprintf(out, cap, "%s", id) < (int)cap ? 0 : -E2BIG;
	return ret;
}

static void *sender_loop(void *arg)
{
	struct blob_writer *w = arg;
	CURL *h = curl_easy_init();
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->queued && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->queued)
			break;
		struct part p = w->queue[0];
		memmove(w->queue, w->queue + 1, (size_t)(--w->queued) * sizeof(p));
		w->sending++;
		bool skip = w->err != 0;
		pthread_mutex_unlock(&w->mu);
		int ret = skip ? 0 : !h ? -ENOMEM : 0;
		char query[1700];
		struct s3_req q = {
		    .method = "PUT", .key = w->key, .body = p.buf, .body_len = p.len};
		if (!skip && ret == 0 &&
		    (ret = upload_query(w, query, sizeof(query), p.number)) == 0) {
			q.query = query;
			ret = s3_perform(w->s, h, &q);
			if (ret == 0 && !q.etag[0])
				ret = -EIO;
		}
		req_release(&q);
		part_buf_free(p.buf, w->s->part_size);
		pthread_mutex_lock(&w->mu);
		if (!skip && ret == 0)
			snprintf(w->etags[p.number - 1], S3_ETAG_MAX, "%s", q.etag);
		if (ret != 0 && !w->err)
			w->err = ret;
		w->sending--;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	curl_easy_cleanup(h);
	return NULL;
}

struct initiate {
	char upload_id[512];
};

static void initiate_leaf(void *ctx, const char *parent, const char *name, const char *text)
{
	struct initiate *i = ctx;
	if (strcmp(parent, "InitiateMultipartUploadResult") == 0 && strcmp(name, "UploadId") == 0)
		snprintf(i->upload_id, sizeof(i->upload_id), "%s", text);
}

/* CreateMultipartUpload, and the threads that send its parts. */
static int multipart_start(struct blob_writer *w)
{
	struct s3 *s = w->s;
	if (!(w->etags = calloc(S3_PARTS_MAX, sizeof(*w->etags))))
		return -ENOMEM;
	struct s3_req q = {.method = "POST", .key = w->key, .query = "uploads=", .sign_body = true};
	int ret = s3_perform(s, w->h, &q);
	struct initiate init = {""};
	struct xml_walk xw = {.leaf = initiate_leaf, .ctx = &init};
	if (ret == 0 &&
	    (xml_parse(&xw, q.resp ? q.resp : "", q.resp_len) != 0 || !init.upload_id[0]))
		ret = -EIO;
	req_release(&q);
	if (ret != 0)
		return ret;
	snprintf(w->upload_id, sizeof(w->upload_id), "%s", init.upload_id);
	w->multipart = true;
	for (int i = 0; i < s->senders; i++) {
		if (pthread_create(&w->threads[i], NULL, sender_loop, w) != 0)
			return w->nthreads ? 0 : -EAGAIN;
		w->nthreads++;
	}
	return 0;
}

/* Hands the filled part to the senders; waits while the most the budget allows are
 * queued or being sent, so a client faster than the store is slowed to its pace. */
static int part_submit(struct blob_writer *w)
{
	int ret = 0;
	if (w->next_number > S3_PARTS_MAX)
		return -EFBIG;
	w->cur.number = w->next_number++;
	pthread_mutex_lock(&w->mu);
	while (!w->err && (w->queued + w->sending >= w->s->senders || w->queued == S3_SENDERS_MAX))
		pthread_cond_wait(&w->cv, &w->mu);
	if (w->err) {
		ret = w->err;
	} else {
		w->queue[w->queued++] = w->cur;
		w->cur.buf = NULL;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	if (ret != 0)
		return ret;
	w->cur.len = 0;
	return 0;
}

static int s3_write(struct blob_writer *w, const void *data, size_t len)
{
	const char *p = data;
	uint64_t part = w->s->part_size;
	while (len > 0) {
		if (!w->cur.buf && !(w->cur.buf = part_buf_new(part)))
			return -ENOMEM;
		size_t n = len < part - w->cur.len ? len : part - w->cur.len;
		memcpy(w->cur.buf + w->cur.len, p, n);
		w->cur.len += n;
		p += n;
		len -= n;
		if (w->cur.len == part && len > 0) { /* full, and more follows: send it */
			int ret = w->multipart ? 0 : multipart_start(w);
			if (ret != 0 || (ret = part_submit(w)) != 0)
				return ret;
		}
	}
	return 0;
}

/* Stops the senders once the queue is empty (or at once after a failure). */
static int senders_join(struct blob_writer *w)
{
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	w->nthreads = 0;
	return w->err;
}

struct complete {
	bool ok;
};

static void complete_closed(void *ctx, const char *name)
{
	struct complete *c = ctx;
	if (strcmp(name, "CompleteMultipartUploadResult") == 0)
		c->ok = true;
}

/* CompleteMultipartUpload; its answer may be 200 with an Error inside. */
static int multipart_complete(struct blob_writer *w)
{
	int nparts = w->next_number - 1;
	size_t cap = 64 + (size_t)nparts * (S3_ETAG_MAX + 64);
	char *xml = malloc(cap), query[1700];
	if (!xml)
		return -ENOMEM;
	size_t len = (size_t)snprintf(xml, cap, "<CompleteMultipartUpload>");
	for (int i = 0; i < nparts; i++)
		len += (size_t)snprintf(xml + len, cap - len,
					"<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>",
					i + 1, w->etags[i]);
	len += (size_t)snprintf(xml + len, cap - len, "</CompleteMultipartUpload>");
	int ret = upload_query(w, query, sizeof(query), 0);
	struct s3_req q = {.method = "POST",
			   .key = w->key,
			   .query = query,
			   .body = xml,
			   .body_len = len,
			   .sign_body = true};
	if (ret == 0)
		ret = s3_perform(w->s, w->h, &q);
	struct complete c = {false};
	struct xml_walk xw = {.closed = complete_closed, .ctx = &c};
	if (ret == 0 && (xml_parse(&xw, q.resp ? q.resp : "", q.resp_len) != 0 || !c.ok)) {
		struct xml_error e = {""};
		struct xml_walk ew = {.leaf = error_leaf, .ctx = &e};
		xml_parse(&ew, q.resp ? q.resp : "", q.resp_len);
		log_line("depot: s3 CompleteMultipartUpload %s: %s", w->key,
			 e.code[0] ? e.code : "unexpected answer");
		ret = strcmp(e.code, "InternalError") == 0 || strcmp(e.code, "SlowDown") == 0
			  ? -EAGAIN
			  : -EIO;
	}
	req_release(&q);
	free(xml);
	return ret;
}

static int s3_sync(struct blob_writer *w)
{
	int ret;
	if (!w->multipart) {
		struct s3_req q = {.method = "PUT",
				   .key = w->key,
				   .body = w->cur.buf ? w->cur.buf : "",
				   .body_len = w->cur.len};
		ret = s3_perform(w->s, w->h, &q);
		req_release(&q);
	} else {
		ret = w->cur.len ? part_submit(w) : 0;
		int joined = senders_join(w);
		ret = ret ? ret : joined;
		if (ret == 0)
			ret = multipart_complete(w);
	}
	part_buf_free(w->cur.buf, w->s->part_size);
	w->cur.buf = NULL;
	w->stored = ret == 0;
	return ret;
}

static void writer_free(struct blob_writer *w)
{
	part_buf_free(w->cur.buf, w->s->part_size);
	for (int i = 0; i < w->queued; i++)
		part_buf_free(w->queue[i].buf, w->s->part_size);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	curl_easy_cleanup(w->h);
	free(w->etags);
	free(w);
}

static void s3_abort(struct blob_writer *w)
{
	if (!w)
		return;
	if (w->stored) {
		struct s3_req q = {.method = "DELETE", .key = w->key, .sign_body = true};
		s3_perform(w->s, w->h, &q);
		req_release(&q);
	} else if (w->multipart) {
		pthread_mutex_lock(&w->mu);
		w->err = w->err ? w->err : -ECANCELED; /* queued parts are dropped, not sent */
		pthread_mutex_unlock(&w->mu);
		senders_join(w);
		char query[1700];
		struct s3_req q = {
		    .method = "DELETE", .key = w->key, .query = query, .sign_body = true};
		if (upload_query(w, query, sizeof(query), 0) == 0)
			s3_perform(w->s, w->h, &q);
		req_release(&q);
	}
	writer_free(w);
}

/* Under the metadata store's write lock. A multipart object bears its upload's start as
 * its date, so gc's orphan walk may have judged it stale after the last part: it is
 * looked at here, where gc cannot act, before the caller maps it. */
static int s3_commit(struct blob_writer *w, const char *sha256)
{
	(void)sha256;
	int ret = 0;
	if (w->multipart) {
		struct s3_req q = {.method = "HEAD", .key = w->key, .sign_body = true};
		ret = s3_perform(w->s, w->h, &q);
		req_release(&q);
		if (ret != 0) {
			s3_abort(w);
			return ret == -ENOENT ? -EAGAIN : ret;
		}
	}
	writer_free(w);
	return ret;
}

/* ---- downloads */

struct s3_reader {
	CURL *h;
	char key[BLOB_KEY_MAX + 1];
	char *buf; /* S3_READ_CHUNK bytes of the object from buf_off */
	uint64_t buf_off;
	size_t buf_len;
};

static int s3_open(struct blob_store *bs, const char *key, struct blob_reader *out)
{
	struct s3 *s = (struct s3 *)bs;
	struct s3_reader *rd = calloc(1, sizeof(*rd));
	if (!rd || !(rd->h = curl_easy_init())) {
		free(rd);
		return -ENOMEM;
	}
	snprintf(rd->key, sizeof(rd->key), "%s", key);
	struct s3_req q = {.method = "HEAD", .key = key, .sign_body = true};
	int ret = s3_perform(s, rd->h, &q);
	req_release(&q);
	if (ret != 0 || q.length < 0) {
		curl_easy_cleanup(rd->h);
		free(rd);
		return ret ? ret : -EIO;
	}
	*out = (struct blob_reader){.fd = -1, .size = (uint64_t)q.length, .bs = bs, .h = rd};
	return 0;
}

static ssize_t s3_read(struct blob_reader *r, uint64_t off, void *buf, size_t len)
{
	struct s3 *s = (struct s3 *)r->bs;
	struct s3_reader *rd = r->h;
	if (off >= r->size)
		return 0;
	if (off < rd->buf_off || off >= rd->buf_off + rd->buf_len) {
		if (!rd->buf && !(rd->buf = malloc(S3_READ_CHUNK)))
			return -ENOMEM;
		uint64_t end = off + S3_READ_CHUNK < r->size ? off + S3_READ_CHUNK : r->size;
		char range[80];
		snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)off,
			 (unsigned long long)end - 1);
		struct s3_req q = {.method = "GET",
				   .key = rd->key,
				   .range = range,
				   .sink = rd->buf,
				   .sink_cap = S3_READ_CHUNK,
				   .sign_body = true};
		int ret = s3_perform(s, rd->h, &q);
		if (ret == 0 && q.resp_len != end - off)
			ret = -EIO; /* shorter than the row says: damaged */
		if (ret != 0) {
			rd->buf_len = 0;
			return ret;
		}
		rd->buf_off = off;
		rd->buf_len = q.resp_len;
	}
	size_t avail = (size_t)(rd->buf_off + rd->buf_len - off);
	size_t n = len < avail ? len : avail;
	memcpy(buf, rd->buf + (off - rd->buf_off), n);
	return (ssize_t)n;
}

static void s3_reader_close(struct blob_reader *r)
{
	struct s3_reader *rd = r->h;
	curl_easy_cleanup(rd->h);
	free(rd->buf);
	free(rd);
}

static int s3_remove(struct blob_store *bs, const char *key)
{
	return s3_simple((struct s3 *)bs, "DELETE", key, NULL);
}

/* HeadBucket: the store answers and the keys are good. */
static int s3_ping(struct blob_store *bs)
{
	return s3_simple((struct s3 *)bs, "HEAD", NULL, NULL);
}

/* ---- listings */

static int64_t iso_time(const char *text)
{
	struct tm tm = {0};
	const char *end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	return end ? (int64_t)timegm(&tm) : 0;
}

#define LIST_PAGE 1000
struct list_page {
	struct s3 *s;
	size_t skip; /* the prefix to take off keys */
	char key[S3_TEXT_MAX], upload_id[S3_TEXT_MAX];
	int64_t when;
	/* one page's entries, then acted on */
	char (*keys)[BLOB_KEY_MAX + 1];
	char (*ids)[S3_TEXT_MAX];
	int64_t *times;
	int n;
	bool truncated;
	char next[S3_TEXT_MAX], next_id[S3_TEXT_MAX];
};

static void list_leaf(void *ctx, const char *parent, const char *name, const char *text)
{
	struct list_page *lp = ctx;
	bool item = strcmp(parent, "Contents") == 0 || strcmp(parent, "Upload") == 0;
	if (item && strcmp(name, "Key") == 0)
		snprintf(lp->key, sizeof(lp->key), "%s", text);
	else if (item && (strcmp(name, "LastModified") == 0 || strcmp(name, "Initiated") == 0))
		lp->when = iso_time(text);
	else if (item && strcmp(name, "UploadId") == 0)
		snprintf(lp->upload_id, sizeof(lp->upload_id), "%s", text);
	else if (strcmp(name, "IsTruncated") == 0)
		lp->truncated = strcmp(text, "true") == 0;
	else if (strcmp(name, "NextContinuationToken") == 0 || strcmp(name, "NextKeyMarker") == 0)
		snprintf(lp->next, sizeof(lp->next), "%s", text);
	else if (strcmp(name, "NextUploadIdMarker") == 0)
		snprintf(lp->next_id, sizeof(lp->next_id), "%s", text);
}

static void list_closed(void *ctx, const char *name)
{
	struct list_page *lp = ctx;
	if ((strcmp(name, "Contents") != 0 && strcmp(name, "Upload") != 0) || lp->n >= LIST_PAGE)
		return;
	/* only our own keys: blobs/ and 32 hex digits */
	if (strlen(lp->key) > lp->skip && strlen(lp->key) - lp->skip <= BLOB_KEY_MAX) {
		snprintf(lp->keys[lp->n], BLOB_KEY_MAX + 1, "%s", lp->key + lp->skip);
		snprintf(lp->ids[lp->n], S3_TEXT_MAX, "%s", lp->upload_id);
		lp->times[lp->n++] = lp->when;
	}
	lp->key[0] = lp->upload_id[0] = '\0';
	lp->when = 0;
}

/* One page of ListObjectsV2 (uploads: ListMultipartUploads) under prefix/blobs/. */
static int list_page_get(struct s3 *s, CURL *h, bool uploads, struct list_page *lp)
{
	char prefix[BLOB_KEY_MAX + 1100], p[3 * sizeof(prefix)], m1[3 * S3_TEXT_MAX + 32],
	    m2[3 * S3_TEXT_MAX + 32], query[sizeof(p) + sizeof(m1) + sizeof(m2) + 64];
	snprintf(prefix, sizeof(prefix), "%sblobs/", s->prefix);
	int ret = query_param(h, p, sizeof(p), "prefix", prefix);
	if (ret != 0)
		return ret;
	/* sorted by name, as SigV4 signs the query as written */
	if (uploads) {
		if (lp->next[0] &&
		    ((ret = query_param(h, m1, sizeof(m1), "key-marker", lp->next)) ||
		     (ret = query_param(h, m2, sizeof(m2), "upload-id-marker", lp->next_id))))
			return ret;
		if (lp->next[0])
			snprintf(query, sizeof(query), "%s&%s&%s&uploads=", m1, p, m2);
		else
			snprintf(query, sizeof(query), "%s&uploads=", p);
	} else {
		if (lp->next[0] &&
		    (ret = query_param(h, m1, sizeof(m1), "continuation-token", lp->next)))
			return ret;
		snprintf(query, sizeof(query), "%s%slist-type=2&%s", lp->next[0] ? m1 : "",
			 lp->next[0] ? "&" : "", p);
	}
	struct s3_req q = {.method = "GET", .query = query, .sign_body = true};
	ret = s3_perform(s, h, &q);
	lp->n = 0;
	lp->truncated = false;
	lp->next[0] = lp->next_id[0] = '\0';
	lp->skip = strlen(s->prefix);
	struct xml_walk xw = {.leaf = list_leaf, .closed = list_closed, .ctx = lp};
	if (ret == 0 && xml_parse(&xw, q.resp ? q.resp : "", q.resp_len) != 0)
		ret = -EIO;
	req_release(&q);
	if (ret == 0 && lp->truncated && !lp->next[0])
		ret = -EIO; /* would list the same page forever */
	return ret;
}

static int list_page_init(struct list_page *lp, struct s3 *s)
{
	*lp = (struct list_page){.s = s};
	lp->keys = calloc(LIST_PAGE, sizeof(*lp->keys));
	lp->ids = calloc(LIST_PAGE, sizeof(*lp->ids));
	lp->times = calloc(LIST_PAGE, sizeof(*lp->times));
	return lp->keys && lp->ids && lp->times ? 0 : -ENOMEM;
}

static void list_page_release(struct list_page *lp)
{
	free(lp->keys);
	free(lp->ids);
	free(lp->times);
}

static int s3_list(struct blob_store *bs, int (*cb)(void *ctx, const char *key, int64_t written_s),
		   void *ctx)
{
	struct s3 *s = (struct s3 *)bs;
	struct list_page lp = {0};
	CURL *h = curl_easy_init();
	int ret = h ? list_page_init(&lp, s) : -ENOMEM;
	if (ret == 0) {
		do {
			ret = list_page_get(s, h, false, &lp);
			for (int i = 0; ret == 0 && i < lp.n; i++)
				ret = cb(ctx, lp.keys[i], lp.times[i]);
		} while (ret == 0 && lp.truncated);
	}
	list_page_release(&lp);
	curl_easy_cleanup(h);
	return ret;
}

/* Open multipart uploads under the prefix, started at least max_age_s ago: a crashed
 * node's, or one whose abort failed. */
static int s3_clean_staging(struct blob_store *bs, int64_t max_age_s, bool dry_run, int64_t *count)
{
	struct s3 *s = (struct s3 *)bs;
	struct list_page lp = {0};
	CURL *h = curl_easy_init();
	int ret = h ? list_page_init(&lp, s) : -ENOMEM;
	int64_t now = (int64_t)time(NULL);
	*count = 0;
	while (ret == 0) {
		if ((ret = list_page_get(s, h, true, &lp)) != 0)
			break;
		for (int i = 0; ret == 0 && i < lp.n; i++) {
			if (now - lp.times[i] < max_age_s)
				continue;
			char query[3 * S3_TEXT_MAX + 32];
			if (!dry_run && (ret = query_param(h, query, sizeof(query), "uploadId",
							   lp.ids[i])) == 0)
				ret = s3_simple(s, "DELETE", lp.keys[i], query);
			if (ret == -ENOENT) /* ended meanwhile */
				ret = 0;
			else if (ret == 0)
				(*count)++;
		}
		if (!lp.truncated)
			break;
	}
	list_page_release(&lp);
	curl_easy_cleanup(h);
	return ret;
}

/* ---- presigned downloads */

static int s3_presign(struct blob_store *bs, const char *key, int64_t expires_s,
		      const char *content_type, const char *disposition, char **url)
{
	struct s3 *s = (struct s3 *)bs;
	char path[S3_PATH_MAX];
	int ret = object_path(s, NULL, key, path);
	if (ret != 0)
		return ret;
	const struct s3_param params[] = {{"response-content-type", content_type},
					  {"response-content-disposition", disposition}};
	struct s3_presign p = {.host = s->host, .path = path, .region = s->region,
			       .access_key = s->access_key, .secret_key = s->secret_key,
			       .now = time(NULL), .expires_s = expires_s, .params = params,
			       .nparams = 2};
	char *query = NULL;
	if ((ret = s3_presign_query(&p, &query)) != 0)
		return ret;
	if (asprintf(url, "%s%s?%s", s->base_url, path, query) < 0)
		ret = -ENOMEM;
	free(query);
	return ret;
}

static void s3_close(struct blob_store *bs)
{
	struct s3 *s = (struct s3 *)bs;
	if (!s)
		return;
	free(s->base_url);
	free(s->bucket_path);
	free(s->prefix);
	free(s->sigv4);
	free(s->region);
	free(s->host);
	free(s->access_key);
	free(s->secret_key);
	free(s->ca_file);
	free(s);
}

static const struct blob_ops s3_ops = {
    .close = s3_close,
    .ping = s3_ping,
    .writer_new = s3_writer_new,
    .writer_key = s3_writer_key,
    .write = s3_write,
    .sync = s3_sync,
    .commit = s3_commit,
    .abort = s3_abort,
    .open = s3_open,
    .read = s3_read,
    .reader_close = s3_reader_close,
    .remove = s3_remove,
    .list = s3_list,
    .clean_staging = s3_clean_staging,
    .presign = s3_presign,
};

/* ---- the URL */

struct s3_params {
	char *endpoint, *region, *ca;
	bool path_style;
};

/* The query of an s3:// URL, each value percent-decoded. */
static int parse_params(CURL *h, const char *query, struct s3_params *p, const char **err)
{
	char *copy = strdup(query ? query : ""), *save = NULL;
	if (!copy)
		return -ENOMEM;
	int ret = 0;
	for (char *kv = strtok_r(copy, "&", &save); kv && ret == 0;
	     kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		char *v = eq ? curl_easy_unescape(h, eq + 1, 0, NULL) : NULL;
		if (eq)
			*eq = '\0';
		if (!v) {
			*err = "every parameter of the --blobs URL takes a value";
			ret = -EINVAL;
		} else if (strcmp(kv, "endpoint") == 0 && !p->endpoint) {
			p->endpoint = strdup(v);
		} else if (strcmp(kv, "region") == 0 && !p->region) {
			p->region = strdup(v);
		} else if (strcmp(kv, "ca") == 0 && !p->ca) {
			p->ca = strdup(v);
		} else if (strcmp(kv, "path_style") == 0) {
			p->path_style = strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
		} else {
			*err =
			    "the --blobs URL takes endpoint, region, path_style and ca, each once";
			ret = -EINVAL;
		}
		curl_free(v);
	}
	free(copy);
	return ret;
}

/* Fills base_url, bucket_path and prefix from the URL's parts. */
static int locate(struct s3 *s, CURL *h, const char *bucket, const char *path,
		  const struct s3_params *p, const char **err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	int ret = -EINVAL;
	if (!u || curl_url_set(u, CURLUPART_URL, p->endpoint, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)) {
		*err = "endpoint= takes an http:// or https:// URL";
		goto out;
	}
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	/* Host as clients send it, which a presigned URL signs: no port when the default */
	bool default_port = port && strcmp(port, strcmp(scheme, "https") == 0 ? "443" : "80") == 0;
	if (asprintf(&s->host, "%s%s%s%s%s", p->path_style ? "" : bucket, p->path_style ? "" : ".",
		     host, port && !default_port ? ":" : "", port && !default_port ? port : "") < 0)
		s->host = NULL;
	char *ebucket = curl_easy_escape(h, bucket, 0);
	int n = p->path_style ? asprintf(&s->base_url, "%s://%s%s%s", scheme, host, port ? ":" : "",
					 port ? port : "")
			      : asprintf(&s->base_url, "%s://%s.%s%s%s", scheme, bucket, host,
					 port ? ":" : "", port ? port : "");
	if (n < 0)
		s->base_url = NULL;
	n = p->path_style ? asprintf(&s->bucket_path, "/%s", ebucket ? ebucket : "")
			  : asprintf(&s->bucket_path, "%s", "");
	if (n < 0)
		s->bucket_path = NULL;
	curl_free(ebucket);
	while (*path == '/')
		path++;
	size_t plen = strlen(path);
	n = asprintf(&s->prefix, "%s%s", path, plen && path[plen - 1] != '/' ? "/" : "");
	if (n < 0)
		s->prefix = NULL;
	ret = s->base_url && s->bucket_path && s->prefix && s->host ? 0 : -ENOMEM;
	if (ret != 0)
		*err = "out of memory";
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return ret;
}

static int configure(struct s3 *s, CURL *h, const struct s3_config *cfg, const char **err)
{
	CURLU *u = curl_url();
	char *bucket = NULL, *path = NULL, *query = NULL, *scheme = NULL;
	struct s3_params p = {0};
	int ret = -EINVAL;
	if (!u || curl_url_set(u, CURLUPART_URL, cfg->url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    strcmp(scheme, "s3") != 0 ||
	    curl_url_get(u, CURLUPART_HOST, &bucket, CURLU_URLDECODE) != CURLUE_OK || !*bucket) {
		*err = "--blobs takes "
		       "s3://BUCKET/PREFIX?endpoint=URL&region=NAME[&path_style=1][&ca=FILE]";
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK)
		path = NULL;
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
		query = NULL;
	if ((ret = parse_params(h, query, &p, err)) != 0)
		goto out;
	char region[256];
	snprintf(region, sizeof(region), "%s", p.region ? p.region : "us-east-1");
	if (!p.endpoint && asprintf(&p.endpoint, "https://s3.%s.amazonaws.com", region) < 0)
		p.endpoint = NULL;
	if (asprintf(&s->sigv4, "aws:amz:%s:s3", region) < 0)
		s->sigv4 = NULL;
	s->region = strdup(region);
	if (!p.endpoint || !s->sigv4 || !s->region) {
		*err = "out of memory";
		ret = -ENOMEM;
		goto out;
	}
	if ((ret = locate(s, h, bucket, path ? path : "", &p, err)) != 0)
		goto out;
	s->ca_file = p.ca;
	p.ca = NULL;
out:
	free(p.endpoint);
	free(p.region);
	free(p.ca);
	curl_free(bucket);
	curl_free(path);
	curl_free(query);
	curl_free(scheme);
	curl_url_cleanup(u);
	return ret;
}

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct blob_store *blob_s3_open(const struct s3_config *cfg, const char **err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, global_init);
	struct s3 *s = calloc(1, sizeof(*s));
	CURL *h = curl_easy_init();
	if (!s || !h) {
		free(s);
		curl_easy_cleanup(h);
		*err = "out of memory";
		return NULL;
	}
	s->base.ops = &s3_ops;
	s->base.keyed_per_upload = true;
	s->part_size = cfg->part_size ? cfg->part_size : S3_PART_DEFAULT;
	uint64_t in_memory = S3_BUFFER_BUDGET / s->part_size; /* the filling part among them */
	s->senders = in_memory > S3_SENDERS_MAX ? S3_SENDERS_MAX
		     : in_memory > 1		? (int)in_memory - 1
						: 1;
	int ret = configure(s, h, cfg, err);
	curl_easy_cleanup(h);
	if (ret == 0 && (!cfg->access_key || !cfg->secret_key)) {
		*err = "no S3 keys: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give "
		       "--s3-credentials FILE";
		ret = -EINVAL;
	}
	if (ret == 0 && (!(s->access_key = strdup(cfg->access_key)) ||
			 !(s->secret_key = strdup(cfg->secret_key)))) {
		*err = "out of memory";
		ret = -ENOMEM;
	}
	if (ret != 0) {
		s3_close(&s->base);
		return NULL;
	}
	return &s->base;
}
