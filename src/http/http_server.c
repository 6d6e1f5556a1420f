/* The libmicrohttpd glue: one access callback that routes, gathers credentials and drives
 * a route's handlers through the request's life; reply helpers; one log line per request. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth_cache.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "timeutil.h"

struct http_server {
	struct MHD_Daemon *daemon;
	_Atomic long active; /* requests begun and not yet completed */
	bool tls;
	unsigned idle_timeout_s;
	char *external_url;
	char *trusted_proxies;
	struct app *app;
	struct metrics *metrics;
	const struct route *routes;
	struct route_index *route_index; /* routes[], by pattern and method */
};

struct conn_peer;

/* Query-string tokens are decoded into these; freed with the request. */
struct request_owned {
	struct request req;
	struct conn_peer *peer; /* the connection's; NULL when it has none */
	char *private_token_param;
	char *job_token_param;
	bool has_query; /* the target has a query: without one, no parameter to look up */
};

static enum http_method parse_method(const char *m)
{
	static const char *const names[] = {"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"};
	for (int i = 0; i < 6; i++)
		if (strcmp(m, names[i]) == 0)
			return (enum http_method)i;
	return HTTP_OTHER;
}

static const char *method_name(enum http_method m)
{
	static const char *const names[] = {"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OTHER"};
	return names[m];
}

int http_capture(const struct request *r, int i, char *out, size_t cap)
{
	if (i >= r->ncaps)
		return -1;
	return pct_decode(r->caps[i].start, r->caps[i].len, out, cap, false) < 0 ? -1 : 0;
}

/* An address as text in its canonical form, or -1 when text is not one. */
static int canonical_addr(const char *text, size_t len, char *out, size_t cap)
{
	char buf[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	int family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(family, buf, bin) != 1 || !inet_ntop(family, bin, out, (socklen_t)cap))
		return -1;
	return 0;
}

bool http_addr_list_valid(const char *list)
{
	char one[INET6_ADDRSTRLEN];
	for (const char *p = list;; p++) {
		size_t n = strcspn(p, ",");
		if (canonical_addr(p, n, one, sizeof(one)) != 0)
			return false;
		p += n;
		if (!*p)
			return true;
	}
}

static bool addr_listed(const char *list, const char *addr)
{
	char one[INET6_ADDRSTRLEN];
	for (const char *p = list;; p++) {
		size_t n = strcspn(p, ",");
		if (canonical_addr(p, n, one, sizeof(one)) == 0 && strcmp(one, addr) == 0)
			return true;
		p += n;
		if (!*p)
			return false;
	}
}

static enum MHD_Result last_forwarded_for(void *cls, enum MHD_ValueKind kind, const char *key,
					  const char *value)
{
	(void)kind;
	if (strcasecmp(key, "X-Forwarded-For") == 0)
		*(const char **)cls = value;
	return MHD_YES;
}

/* Behind a trusted proxy, the client is the address it appended last to X-Forwarded-For
 * (the last header of that name: earlier ones, and earlier entries, come from the client
 * and could say anything). Anything but an address leaves the proxy's own. */
static void forwarded_client(struct request *r)
{
	const char *xff = NULL;
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, last_forwarded_for, &xff);
	if (!xff)
		return;
	const char *last = strrchr(xff, ',');
	last = last ? last + 1 : xff;
	last += strspn(last, " \t");
	size_t n = strcspn(last, " \t");
	char addr[sizeof(r->client_addr)];
	if (last[n + strspn(last + n, " \t")] == '\0' &&
	    canonical_addr(last, n, addr, sizeof(addr)) == 0)
		memcpy(r->client_addr, addr, sizeof(addr));
}

/* What a connection keeps across its requests (libmicrohttpd's socket context): its peer's
 * address as text, found at its first request that asks (inet_ntop costs more than the
 * rest of a small GET's addressing), whether that peer is a trusted proxy, and the last
 * credentials presented with their identity cache key (a secret: wiped at the end). */
struct conn_peer {
	char addr[INET6_ADDRSTRLEN];
	bool proxy;
	struct auth_key_memo key_memo;
};

static void conn_peer_fill(struct conn_peer *p, struct MHD_Connection *conn, const char *proxies)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, p->addr,
			  sizeof(p->addr));
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, p->addr,
			  sizeof(p->addr));
	else
		snprintf(p->addr, sizeof(p->addr), "?");
	p->proxy = proxies && addr_listed(proxies, p->addr);
}

const char *http_client_addr(struct request *r)
{
	if (r->client_addr[0])
		return r->client_addr;
	struct conn_peer own = {0}, *peer = ((struct request_owned *)r)->peer;
	if (!peer)
		peer = &own;
	if (!peer->addr[0])
		conn_peer_fill(peer, r->conn, r->trusted_proxies);
	_Static_assert(sizeof(r->client_addr) >= sizeof(peer->addr), "client_addr holds an address");
	memcpy(r->client_addr, peer->addr, sizeof(peer->addr));
	if (peer->proxy)
		forwarded_client(r); /* X-Forwarded-For is the request's */
	return r->client_addr;
}

const char *http_header(const struct request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

int http_query(const struct request *r, const char *name, char *out, size_t cap)
{
	const char *raw = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
	if (!raw)
		return 0;
	return pct_decode(raw, strlen(raw), out, cap, true) < 0 ? -1 : 1;
}

bool http_is_read(const struct request *r)
{
	return r->method == HTTP_GET || r->method == HTTP_HEAD;
}

bool http_host_valid(const char *host)
{
	static const char name_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					 "0123456789.-_";
	const char *p = host;
	if (*p == '[') { /* an IPv6 literal */
		size_t n = strspn(p + 1, "0123456789ABCDEFabcdef:.");
		if (n < 2 || p[1 + n] != ']')
			return false;
		p += n + 2;
	} else {
		size_t n = strspn(p, name_chars);
		if (n == 0 || n > HTTP_HOST_NAME_MAX)
			return false;
		p += n;
	}
	if (*p == '\0')
		return true;
	if (*p++ != ':')
		return false;
	size_t digits = strspn(p, "0123456789");
	if (digits == 0 || digits > 5 || p[digits])
		return false;
	long port = strtol(p, NULL, 10);
	return port >= 1 && port <= 65535;
}

/* The address and port the client reached, as a URL's host[:port]. */
static void local_authority(const struct request *r, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char ip[NI_MAXHOST], port[NI_MAXSERV];
	if (!ci || getsockname(ci->connect_fd, (struct sockaddr *)&ss, &len) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, len, ip, sizeof(ip), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(out, cap, "localhost");
	else
		snprintf(out, cap, strchr(ip, ':') ? "[%s]:%s" : "%s:%s", ip, port);
}

void http_base_url(const struct request *r, char *out, size_t cap)
{
	if (r->external_url) {
		snprintf(out, cap, "%s", r->external_url);
		return;
	}
	/* The Host the client used, when it is one: anything else (a path, quotes, angle
	 * brackets) would end up inside the URLs and Link headers built from it. */
	const char *host = r->hdr.host;
	char local[NI_MAXHOST + NI_MAXSERV + 4];
	if (!host || !http_host_valid(host)) {
		local_authority(r, local, sizeof(local));
		host = local;
	}
	snprintf(out, cap, "%s://%s", r->tls ? "https" : "http", host);
}

struct query_walk {
	void (*cb)(void *ctx, const char *key, const char *value);
	void *ctx;
};

static enum MHD_Result query_walk_one(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	(void)kind;
	struct query_walk *w = cls;
	w->cb(w->ctx, key, value);
	return MHD_YES;
}

void http_query_each(const struct request *r,
		     void (*cb)(void *ctx, const char *key, const char *value), void *ctx)
{
	struct query_walk w = {cb, ctx};
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_walk_one, &w);
}

static void add_common_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "X-Frame-Options", "SAMEORIGIN");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

static void queue(struct request *r, unsigned status, struct MHD_Response *resp)
{
	if (!resp) {
		log_line("depot: cannot create a response");
		return;
	}
	add_common_headers(resp);
	if (status == MHD_HTTP_UNAUTHORIZED && !r->web_client) {
		const char *xhr = http_header(r, "X-Requested-With");
		if (!(xhr && strcasecmp(xhr, "XMLHttpRequest") == 0))
			MHD_add_response_header(resp, "WWW-Authenticate",
						"Basic realm=\"GitLab Packages Registry\"");
	}
	r->replied = true;
	r->status = status;
	if (r->in_body) {
		r->pending = resp;
		r->pending_status = status;
		return;
	}
	char url[LOG_TEXT_MAX];
	if (MHD_queue_response(r->conn, status, resp) != MHD_YES)
		log_line("depot: cannot queue a %u response for %s", status,
			 log_escape(r->url, url, sizeof(url)));
	MHD_destroy_response(resp);
}

void http_reply_json(struct request *r, unsigned status, json_t *body)
{
	http_reply_json_headers(r, status, body, NULL);
}

void http_reply_no_content(struct request *r)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	queue(r, MHD_HTTP_NO_CONTENT, resp);
}

void http_reply_json_headers(struct request *r, unsigned status, json_t *body,
			     const char *const *headers)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(body);
	if (!text) {
		text = strdup("{\"message\":\"500 Internal Server Error\"}");
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		if (!text)
			return;
	}
	size_t len = strlen(text);
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	for (size_t i = 0; headers && headers[i]; i += 2)
		MHD_add_response_header(resp, headers[i], headers[i + 1]);
	r->bytes_out = len;
	queue(r, status, resp);
}

void http_reply_message(struct request *r, unsigned status, const char *message)
{
	http_reply_json(r, status, json_pack("{s:s}", "message", message));
}

void http_reply_error(struct request *r, unsigned status, const char *error)
{
	http_reply_json(r, status, json_pack("{s:s}", "error", error));
}

void http_reply_unauthorized(struct request *r)
{
	http_reply_message(r, MHD_HTTP_UNAUTHORIZED, "401 Unauthorized");
}

void http_reply_auth_error(struct request *r, enum auth_error err)
{
	switch (err) {
	case AUTH_EXPIRED:
		http_reply_json(r, MHD_HTTP_UNAUTHORIZED,
				json_pack("{s:s,s:s}", "error", "invalid_token", "error_description",
					  "Token is expired. You can either do re-authorization "
					  "or token refresh."));
		break;
	case AUTH_REVOKED:
		http_reply_json(r, MHD_HTTP_UNAUTHORIZED,
				json_pack("{s:s,s:s}", "error", "invalid_token", "error_description",
					  "Token was revoked. You have to re-authorize from the user."));
		break;
	case AUTH_BACKEND:
		http_reply_internal(r, "token lookup failed", -EIO);
		break;
	case AUTH_UNAVAILABLE:
		http_reply_internal(r, "token lookup failed", -EAGAIN);
		break;
	default:
		http_reply_unauthorized(r);
		break;
	}
}

void http_reply_internal(struct request *r, const char *why, int err)
{
	char url[LOG_TEXT_MAX];
	metrics_store_error(r, err);
	if (err == -EAGAIN) { /* a store is unreachable: another try, or node, may succeed */
		log_line("depot: %s %s: %s (a store is unavailable)", method_name(r->method),
			 log_escape(r->url, url, sizeof(url)), why);
		http_reply_message(r, MHD_HTTP_SERVICE_UNAVAILABLE, "503 Service Unavailable");
		return;
	}
	log_line("depot: %s %s: %s (%s)", method_name(r->method),
		 log_escape(r->url, url, sizeof(url)), why, strerror(-err));
	http_reply_message(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "500 Internal Server Error");
}

/* A response holding its own copy of data, with headers; NULL when out of memory. */
static struct MHD_Response *copy_response(const char *data, size_t len,
					  const char *const *headers)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	for (size_t i = 0; resp && headers && headers[i]; i += 2)
		MHD_add_response_header(resp, headers[i], headers[i + 1]);
	return resp;
}

void http_reply_copy(struct request *r, unsigned status, const char *data, size_t len,
		     const char *const *headers)
{
	struct MHD_Response *resp = copy_response(data, len, headers);
	r->bytes_out = r->method == HTTP_HEAD ? 0 : len;
	queue(r, status, resp);
}

struct reply_slot {
	int64_t key; /* 0: empty */
	unsigned status;
	size_t len;
	struct MHD_Response *resp; /* the cache's reference; connections hold their own */
};

struct reply_cache {
	pthread_mutex_t lock;
	size_t n;
	struct reply_slot slot[];
};

struct reply_cache *reply_cache_new(size_t slots)
{
	struct reply_cache *c = calloc(1, sizeof(*c) + slots * sizeof(c->slot[0]));
	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->n = slots;
	return c;
}

void reply_cache_free(struct reply_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		if (c->slot[i].resp)
			MHD_destroy_response(c->slot[i].resp);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* libmicrohttpd counts a response's references: queueing adds the connection's, so an
 * entry replaced while being sent stays alive until that connection is done with it. */
static void queue_kept(struct request *r, unsigned status, size_t len, struct MHD_Response *resp)
{
	r->replied = true;
	r->status = status;
	r->bytes_out = r->method == HTTP_HEAD ? 0 : len;
	if (MHD_queue_response(r->conn, status, resp) != MHD_YES) {
		char url[LOG_TEXT_MAX];
		log_line("depot: cannot queue a %u response for %s", status,
			 log_escape(r->url, url, sizeof(url)));
	}
}

bool http_reply_cached(struct request *r, struct reply_cache *c, int64_t key)
{
	if (!c || key <= 0 || r->in_body)
		return false;
	pthread_mutex_lock(&c->lock);
	struct reply_slot *s = &c->slot[(uint64_t)key % c->n];
	bool hit = s->key == key;
	if (hit) /* under the lock: a replacement cannot free it before it is queued */
		queue_kept(r, s->status, s->len, s->resp);
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void http_reply_copy_kept(struct request *r, struct reply_cache *c, int64_t key,
			  unsigned status, const char *data, size_t len,
			  const char *const *headers)
{
	if (!c || key <= 0 || r->in_body) {
		http_reply_copy(r, status, data, len, headers);
		return;
	}
	struct MHD_Response *resp = copy_response(data, len, headers);
	if (!resp) {
		log_line("depot: cannot create a response");
		return;
	}
	add_common_headers(resp);
	queue_kept(r, status, len, resp);
	pthread_mutex_lock(&c->lock);
	struct reply_slot *s = &c->slot[(uint64_t)key % c->n];
	struct MHD_Response *old = s->resp;
	*s = (struct reply_slot){key, status, len, resp};
	pthread_mutex_unlock(&c->lock);
	if (old)
		MHD_destroy_response(old);
}

void http_reply_empty(struct request *r, unsigned status, const char *const *headers)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	for (size_t i = 0; resp && headers && headers[i]; i += 2)
		MHD_add_response_header(resp, headers[i], headers[i + 1]);
	queue(r, status, resp);
}

void http_reply_fd(struct request *r, unsigned status, int fd, uint64_t offset, uint64_t size,
		   const char *const *headers)
{
	struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(size, fd, offset);
	if (!resp) {
		close(fd);
		http_reply_internal(r, "cannot create a file response", -ENOMEM);
		return;
	}
	for (size_t i = 0; headers && headers[i]; i += 2)
		MHD_add_response_header(resp, headers[i], headers[i + 1]);
	r->bytes_out = r->method == HTTP_HEAD ? 0 : size;
	queue(r, status, resp);
}

struct stream {
	ssize_t (*read)(void *cls, char *buf, size_t max);
	void *cls;
	void (*free_cls)(void *cls);
	struct metrics *metrics; /* the server's: outlives the response */
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct stream *st = cls;
	ssize_t n = st->read(st->cls, buf, max);
	if (n > 0)
		metrics_add_sent(st->metrics, (size_t)n);
	return n > 0 ? n : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
				  : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls)
{
	struct stream *st = cls;
	st->free_cls(st->cls);
	free(st);
}

struct reader {
	ssize_t (*read)(void *cls, uint64_t pos, char *buf, size_t max);
	void *cls;
	void (*free_cls)(void *cls);
};

static ssize_t reader_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct reader *rd = cls;
	ssize_t n = rd->read(rd->cls, pos, buf, max);
	return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR; /* never short of size */
}

static void reader_free(void *cls)
{
	struct reader *rd = cls;
	rd->free_cls(rd->cls);
	free(rd);
}

void http_reply_reader(struct request *r, unsigned status, uint64_t size,
		       ssize_t (*read)(void *cls, uint64_t pos, char *buf, size_t max), void *cls,
		       void (*free_cls)(void *cls), const char *const *headers)
{
	struct reader *rd = malloc(sizeof(*rd));
	struct MHD_Response *resp = NULL;
	if (rd) {
		*rd = (struct reader){read, cls, free_cls};
		resp = MHD_create_response_from_callback(size, (size_t)256 * 1024, reader_read, rd,
							 reader_free);
	}
	if (!resp) {
		free(rd);
		free_cls(cls);
		http_reply_internal(r, "cannot create a streamed response", -ENOMEM);
		return;
	}
	for (size_t i = 0; headers && headers[i]; i += 2)
		MHD_add_response_header(resp, headers[i], headers[i + 1]);
	r->bytes_out = r->method == HTTP_HEAD ? 0 : size;
	queue(r, status, resp);
}

void http_reply_stream(struct request *r, unsigned status, const char *const *headers,
		       ssize_t (*read)(void *cls, char *buf, size_t max), void *cls,
		       void (*free_cls)(void *cls))
{
	struct stream *st = malloc(sizeof(*st));
	struct MHD_Response *resp = NULL;
	if (st) {
		*st = (struct stream){read, cls, free_cls, metrics_of(r)};
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read,
							 st, stream_free);
	}
	if (!resp) {
		free(st);
		free_cls(cls);
		http_reply_internal(r, "cannot create a streamed response", -ENOMEM);
		return;
	}
	for (size_t i = 0; headers && headers[i]; i += 2)
		MHD_add_response_header(resp, headers[i], headers[i + 1]);
	queue(r, status, resp);
}

void http_body_collect(struct request *r, const char *data, size_t len)
{
	if (r->body_len + len > HTTP_BODY_MAX) {
		http_reply_message(r, MHD_HTTP_CONTENT_TOO_LARGE, "413 Request Entity Too Large");
		return;
	}
	char *grown = realloc(r->body, r->body_len + len + 1);
	if (!grown) {
		http_reply_internal(r, "out of memory", -ENOMEM);
		return;
	}
	r->body = grown;
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
}

json_t *http_body_json(struct request *r)
{
	json_error_t err;
	json_t *j = r->body ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err) : NULL;
	if (!j || !json_is_object(j)) {
		json_decref(j);
		http_reply_message(r, MHD_HTTP_BAD_REQUEST,
				   "400 Bad request - the body must be a JSON object");
		return NULL;
	}
	return j;
}

/* Request shapes libmicrohttpd lets through but that HTTP forbids, several of them the
 * stuff of request smuggling behind a proxy that reads them differently. */
struct shape {
	int content_lengths;
	bool transfer_encoding, te_chunked, bad_name, bad_value;
	struct request_headers *hdr; /* filled on the way */
};

/* Keeps value as one of the headers every request needs, unless one came before. */
static void keep_first(const char **slot, const char *value)
{
	if (!*slot)
		*slot = value;
}

/* Is key (len bytes) one of the headers every request needs? Then it is kept: the length
 * rules out all but one or two names, so most headers cost no comparison. */
static void keep_known(struct shape *sh, const char *key, size_t len, const char *value)
{
	struct request_headers *h = sh->hdr;
	switch (len) {
	case 4:
		if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
			keep_first(&h->host, value);
		break;
	case 6:
		if (strcasecmp(key, MHD_HTTP_HEADER_EXPECT) == 0)
			keep_first(&h->expect, value);
		break;
	case 9:
		if (strcasecmp(key, "JOB-TOKEN") == 0)
			keep_first(&h->job_token, value);
		break;
	case 12:
		if (strcasecmp(key, "DEPLOY-TOKEN") == 0)
			keep_first(&h->deploy_token, value);
		break;
	case 13:
		if (strcasecmp(key, "PRIVATE-TOKEN") == 0)
			keep_first(&h->private_token, value);
		else if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
			keep_first(&h->authorization, value);
		break;
	case 14:
		if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
			sh->content_lengths++;
			keep_first(&h->content_length, value);
		}
		break;
	case 17:
		if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
			sh->transfer_encoding = true;
			sh->te_chunked = value && strcasecmp(value, "chunked") == 0;
			keep_first(&h->transfer_encoding, value);
		}
		break;
	default:
		break;
	}
}

/* The bytes of a header name (RFC 9110's tchar), by byte value: a constant table, as
 * every byte of every header of every request is looked up. */
static const bool tchar[256] = {
	['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true,
	['!'] = true, ['#'] = true, ['$'] = true, ['%'] = true, ['&'] = true, ['\''] = true,
	['*'] = true, ['+'] = true, ['-'] = true, ['.'] = true, ['^'] = true, ['_'] = true,
	['`'] = true, ['|'] = true, ['~'] = true,
};

/* The control bytes a header value may not hold (a tab it may). NUL ends the value. */
static const bool value_control[256] = {
	[1 ... 8] = true, [10 ... 31] = true, [127] = true,
};

static enum MHD_Result shape_one(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	(void)kind;
	struct shape *sh = cls;
	const unsigned char *p = (const unsigned char *)key;
	while (tchar[*p])
		p++;
	if (*p || p == (const unsigned char *)key) {
		sh->bad_name = true; /* refused whatever else the headers say */
		return MHD_YES;
	}
	const unsigned char *v = (const unsigned char *)(value ? value : "");
	while (*v && !value_control[*v])
		v++;
	if (*v)
		sh->bad_value = true;
	keep_known(sh, key, (size_t)(p - (const unsigned char *)key), value);
	return MHD_YES;
}

/* libmicrohttpd hands the URL over as a C string, so a raw NUL byte in the request line
 * would silently cut it short. The URL, the query's keys and values and the version all
 * point into the request line as received (depot unescapes nothing in place), so every
 * byte between the URL's start and the version must belong to one of them or be the NUL
 * that ends one; anything else was hidden behind a NUL. */
struct line_cover {
	const char *start;
	size_t len;
	unsigned char *covered;
};

static void cover(struct line_cover *lc, const char *s)
{
	if (!s || s < lc->start || s >= lc->start + lc->len)
		return;
	size_t from = (size_t)(s - lc->start), n = strlen(s) + 1; /* with its NUL */
	for (size_t i = from; i < from + n && i < lc->len; i++)
		lc->covered[i] = 1;
}

static enum MHD_Result cover_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	(void)kind;
	cover(cls, key);
	cover(cls, value);
	return MHD_YES;
}

static bool hidden_bytes_in_line(struct request *r, const char *version)
{
	if (!version || version <= r->url || version - r->url > 65536)
		return false; /* not laid out as expected: nothing to conclude */
	unsigned char small[1024]; /* most request lines fit: no allocation per request */
	struct line_cover lc = {r->url, (size_t)(version - r->url), small};
	if (lc.len > sizeof(small) && !(lc.covered = malloc(lc.len)))
		return false;
	memset(lc.covered, 0, lc.len);
	cover(&lc, r->url);
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, cover_arg, &lc);
	lc.covered[lc.len - 1] = 1; /* the space before the version */
	bool hidden = memchr(lc.covered, 0, lc.len) != NULL;
	if (lc.covered != small)
		free(lc.covered);
	return hidden;
}

/* The request target as depot sees it: the path and the query's raw keys and values.
 * libmicrohttpd lets control bytes through, which would reach the log and the handlers. */
struct target_scan {
	size_t len;
	size_t nargs;
	bool control;
};

static void scan_text(struct target_scan *ts, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++, ts->len++)
		if (*p < 0x20 || *p == 0x7f)
			ts->control = true;
}

static enum MHD_Result scan_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	(void)kind;
	struct target_scan *ts = cls;
	ts->len += ts->nargs++ ? 1 : 0; /* the '&' before it */
	scan_text(ts, key);
	if (value) {
		ts->len++; /* '=' */
		scan_text(ts, value);
	}
	return MHD_YES;
}

static void scan_target(struct request *r, struct target_scan *ts)
{
	scan_text(ts, r->url);
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, scan_arg, ts);
	ts->len += ts->nargs ? 1 : 0; /* '?' */
}

/* 0, or the status of a reply already sent for a malformed request. On the way, the
 * headers every request needs are kept in r->hdr. */
static unsigned reject_bad_shape(struct request_owned *ro, const char *version)
{
	struct request *r = &ro->req;
	struct shape sh = {.hdr = &r->hdr};
	struct target_scan ts = {0};
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, shape_one, &sh);
	r->announced_len = r->hdr.content_length ? strtoull(r->hdr.content_length, NULL, 10) : 0;
	scan_target(r, &ts);
	ro->has_query = ts.nargs > 0;
	const char *why = NULL;
	unsigned status = MHD_HTTP_BAD_REQUEST;
	if (hidden_bytes_in_line(r, version))
		why = "NUL byte in the request line";
	else if (ts.control)
		why = "control character in the request target";
	else if (ts.len > HTTP_TARGET_MAX) {
		http_reply_message(r, MHD_HTTP_URI_TOO_LONG, "414 URI Too Long");
		return MHD_HTTP_URI_TOO_LONG;
	} else if (sh.bad_name)
		why = "invalid header name";
	else if (sh.bad_value)
		why = "control character in a header value";
	else if (sh.content_lengths > 1)
		why = "more than one Content-Length";
	else if (sh.transfer_encoding && sh.content_lengths)
		why = "both Content-Length and Transfer-Encoding";
	else if (sh.transfer_encoding && !sh.te_chunked)
		why = "unsupported Transfer-Encoding", status = MHD_HTTP_NOT_IMPLEMENTED;
	else if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 && !r->hdr.host)
		why = "no Host header";
	if (!why)
		return 0;
	char msg[128];
	snprintf(msg, sizeof(msg), "%u %s - %s", status,
		 status == MHD_HTTP_BAD_REQUEST ? "Bad request" : "Not Implemented", why);
	http_reply_message(r, status, msg);
	return status;
}

/* The methods a route answers, as route_index kinds: a GET route serves HEAD too. */
static unsigned route_methods(const struct route *rt)
{
	return (1u << rt->method) | (rt->method == HTTP_GET ? 1u << HTTP_HEAD : 0);
}

/* Builds the index of routes[], whose entry numbers are their places in the table; NULL
 * having said why on stderr. */
static struct route_index *route_index_of(const struct route *routes, size_t nroutes)
{
	struct route_index *ix = route_index_new();
	if (!ix)
		fprintf(stderr, "depot: cannot index the routes: %s\n", strerror(ENOMEM));
	for (size_t i = 0; ix && i < nroutes; i++) {
		int rc = route_index_add(ix, routes[i].pattern, route_methods(&routes[i]));
		if (rc != (int)i) {
			fprintf(stderr, "depot: cannot index the route %s: %s\n", routes[i].pattern,
				strerror(rc < 0 ? -rc : EINVAL));
			route_index_free(ix);
			return NULL;
		}
	}
	return ix;
}

/* The first route in table order that answers the request's method and matches its path. */
static const struct route *find_route(const struct http_server *s, struct request *r)
{
	int i = route_index_find(s->route_index, r->url, 1u << r->method, r->caps, &r->ncaps);
	return i < 0 ? NULL : &s->routes[i];
}

/* Decodes a query-string token into an owned copy; NULL when absent or malformed. */
static char *query_token(struct request_owned *ro, const char *name)
{
	char buf[TOKEN_PRESENTED_MAX + 1];
	if (!ro->has_query)
		return NULL;
	return http_query(&ro->req, name, buf, sizeof(buf)) == 1 ? strdup(buf) : NULL;
}

static void gather_credentials(struct request_owned *ro)
{
	struct request *r = &ro->req;
	struct credentials *c = &r->creds;
	c->private_token = r->hdr.private_token;
	c->job_token = r->hdr.job_token;
	c->deploy_token = r->hdr.deploy_token;
	if (!c->private_token)
		c->private_token = ro->private_token_param = query_token(ro, "private_token");
	if (!c->job_token)
		c->job_token = ro->job_token_param = query_token(ro, "job_token");
	const char *authz = r->hdr.authorization;
	if (authz && credentials_parse_authorization(authz, c) != 0)
		credentials_release(c); /* a malformed Basic value presents nothing */
	c->key_memo = ro->peer ? &ro->peer->key_memo : NULL;
}

/* Sets the connection's inactivity timeout; 0 restores the server's. */
static void set_timeout(const struct http_server *s, struct request *r, unsigned secs)
{
	if (r->timeout_s == secs)
		return;
	r->timeout_s = secs;
	MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT,
				  secs ? secs : s->idle_timeout_s);
}

static bool body_announced(const struct request *r)
{
	return r->announced_len > 0 || r->hdr.transfer_encoding;
}

/* A reply decided from the headers of a request with a body of at most this size waits
 * until the body is read (see on_access); curl asks for 100 Continue above it. */
#define EARLY_REPLY_DRAIN_MAX ((uint64_t)1 << 20)

static bool reply_after_body(const struct request *r)
{
	const char *e = r->hdr.expect;
	uint64_t n = r->announced_len;
	return n > 0 && n <= EARLY_REPLY_DRAIN_MAX && !(e && strcasecmp(e, "100-continue") == 0);
}

/* libmicrohttpd's edge-triggered epoll loop takes a short read to mean "nothing more for
 * now", so an end of input that arrived together with the last bytes of a body is never
 * read, and the client waits for the idle timeout. It is seen here instead: nothing but
 * the end left in the socket. The connection then gets a one-second timeout, which closes
 * it if the body is incomplete and still lets a body complete in libmicrohttpd's buffer
 * be answered, as that needs no more input (a client may half-close after its request). */
static void watch_input_end(const struct http_server *s, struct request *r)
{
	if (r->input_ended)
		return;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	char c;
	if (!ci || recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) != 0)
		return;
	r->input_ended = true;
	set_timeout(s, r, 1);
}

/* Did the read that brought this chunk of n bytes leave the socket empty, so that an end
 * of input behind it would go unseen (watch_input_end)? For a Content-Length body over
 * plain TCP a chunk is what one read brought: one as large as the largest so far filled
 * the read buffer, and libmicrohttpd reads again at once (and finds any end itself); a
 * first or smaller one may have emptied the socket. A peek per chunk was a third of a
 * large upload's system calls (one per ~16 KiB). Chunked and TLS bodies: every chunk. */
static bool may_have_drained(struct request *r, size_t n)
{
	bool largest = r->largest_chunk && n >= r->largest_chunk;
	if (n > r->largest_chunk)
		r->largest_chunk = n;
	return !largest || r->tls || r->hdr.transfer_encoding;
}

/* From a body callback, after watch_input_end: is the body known to be cut short? Over
 * plain TCP each callback of a Content-Length body hands over every byte received, so an
 * end of input short of the length means nothing more can come. (With TLS, decrypted
 * bytes may still wait in the TLS library; a chunked body's end may wait in
 * libmicrohttpd's buffer: the one-second timeout decides those.) */
static bool body_cut_short(const struct request *r)
{
	return r->input_ended && !r->tls && r->bytes_in < r->announced_len;
}

/* For a chunk of a body nobody reads (refused mid-body, or a route that takes none): false
 * once the client has had the idle timeout to finish sending. Bounded by time, not bytes,
 * so a refusal reaches a client still sending a large body, and one trickling forever is
 * cut off all the same; the timeout shrinks with the time left, so stalling does not
 * extend it either. */
static bool discard_allowed(const struct http_server *s, struct request *r)
{
	int64_t now = mono_us();
	if (!r->discard_since_us)
		r->discard_since_us = now;
	int64_t left_us = (int64_t)s->idle_timeout_s * 1000000 - (now - r->discard_since_us);
	if (left_us <= 0)
		return false;
	if (!r->input_ended)
		set_timeout(s, r, (unsigned)((left_us + 999999) / 1000000));
	return true;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version,
				 const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct request *r = *con_cls;
	if (!r) {
		struct request_owned *ro = calloc(1, sizeof(*ro));
		if (!ro)
			return MHD_NO;
		s->active++;
		r = &ro->req;
		*con_cls = r;
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		ro->peer = ci ? ci->socket_context : NULL;
		r->conn = conn;
		r->app = s->app;
		r->external_url = s->external_url;
		r->trusted_proxies = s->trusted_proxies;
		r->tls = s->tls;
		r->url = url;
		r->method = parse_method(method);
		r->start_us = mono_us();
		if (reject_bad_shape(ro, version))
			return MHD_YES;
		r->route = find_route(s, r);
		if (!r->route) {
			http_reply_error(r, MHD_HTTP_NOT_FOUND, "404 Not Found");
			return MHD_YES;
		}
		metrics_request_begin(r);
		gather_credentials(ro);
		/* A reply decided from the headers waits for a small body too (read and
		 * dropped, as mid-body): libmicrohttpd would send it at once and close with the
		 * body unread, which resets the connection, and a proxy in front (HAProxy)
		 * still sending the body then loses the reply. Not when the client waits for
		 * 100 Continue (the body never comes), nor for a large body (answered at once,
		 * as before, rather than after all of it). */
		r->in_body = reply_after_body(r);
		r->route->on_start(r);
		r->in_body = false;
		if (!r->replied && body_announced(r))
			watch_input_end(s, r);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		r->bytes_in += *upload_data_size;
		r->in_body = true;
		if (!r->replied && r->route->on_body)
			r->route->on_body(r, upload_data, *upload_data_size);
		else if (!discard_allowed(s, r))
			return MHD_NO; /* refused, and still sending: hang up */
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (may_have_drained(r, n))
			watch_input_end(s, r);
		return body_cut_short(r) ? MHD_NO : MHD_YES; /* MHD_NO closes the connection */
	}
	r->in_body = false;
	r->suspended = false; /* resumed, if it was */
	if (r->timeout_s && !r->input_ended)
		set_timeout(s, r, 0); /* the connection may serve another request */
	if (r->pending) {
		char u[LOG_TEXT_MAX];
		if (MHD_queue_response(conn, r->pending_status, r->pending) != MHD_YES)
			log_line("depot: cannot queue a %u response for %s", r->pending_status,
				 log_escape(r->url, u, sizeof(u)));
		MHD_destroy_response(r->pending);
		r->pending = NULL;
		return MHD_YES;
	}
	if (!r->replied)
		r->route->on_done(r);
	if (!r->replied && !r->suspended)
		http_reply_internal(r, "handler sent no reply", -EIO);
	return MHD_YES;
}

void http_suspend(struct request *r)
{
	r->suspended = true;
	MHD_suspend_connection(r->conn);
}

void http_resume(struct request *r)
{
	MHD_resume_connection(r->conn);
}

void http_server_quiesce(struct http_server *s)
{
	MHD_socket fd = MHD_quiesce_daemon(s->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

bool http_server_drain(struct http_server *s, int64_t timeout_ms)
{
	int64_t waited = 0;
	while (s->active > 0 && waited < timeout_ms) {
		struct timespec ts = {0, 20000000L};
		nanosleep(&ts, NULL);
		waited += 20;
	}
	return s->active == 0;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)conn;
	struct http_server *s = cls;
	struct request *r = *con_cls;
	if (!r)
		return;
	s->active--;
	struct request_owned *ro = (struct request_owned *)r;
	const struct meta_token *t = &r->ident.token;
	int64_t took_us = mono_us() - r->start_us;
	metrics_request_end(r, took_us);
	/* METHOD URL STATUS in=N out=N 1.2ms token=KIND:ID|- [aborted]: the token's kind and
	 * id, never its secret; the duration in tenths of a millisecond */
	unsigned long long tenths = ((unsigned long long)took_us + 50) / 100;
	struct log_text line;
	log_text_start(&line);
	log_text_str(&line, method_name(r->method));
	log_text_str(&line, " ");
	log_text_escaped(&line, r->url);
	log_text_str(&line, " ");
	log_text_uint(&line, r->status);
	log_text_str(&line, " in=");
	log_text_uint(&line, (unsigned long long)r->bytes_in);
	log_text_str(&line, " out=");
	log_text_uint(&line, (unsigned long long)r->bytes_out);
	log_text_str(&line, " ");
	log_text_uint(&line, tenths / 10);
	log_text_str(&line, ".");
	log_text_uint(&line, tenths % 10);
	log_text_str(&line, "ms token=");
	if (t->id) {
		log_text_str(&line, token_kind_name(t->kind));
		log_text_str(&line, ":");
		log_text_uint(&line, (unsigned long long)t->id);
	} else {
		log_text_str(&line, "-");
	}
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		log_text_str(&line, " aborted");
	log_text_end(&line);
	if (r->route && r->route->on_free)
		r->route->on_free(r);
	if (r->pending)
		MHD_destroy_response(r->pending);
	free(r->body);
	json_decref(r->params);
	credentials_release(&r->creds);
	free(ro->private_token_param);
	free(ro->job_token_param);
	free(ro);
	*con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	(void)conn;
	const struct http_server *s = cls;
	bool started = toe == MHD_CONNECTION_NOTIFY_STARTED;
	metrics_connection(s->metrics, started ? 1 : -1);
	if (started) {
		*socket_context = calloc(1, sizeof(struct conn_peer)); /* NULL: each request finds it */
	} else if (*socket_context) {
		struct conn_peer *peer = *socket_context;
		auth_key_memo_release(&peer->key_memo);
		free(peer);
		*socket_context = NULL;
	}
}

/* Keeps the raw URL: %2F in a project path must stay distinguishable from '/'. Handlers
 * decode each segment and parameter themselves. */
static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls, (void)c;
	return strlen(s);
}

bool http_addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

/* --external-url, checked once: every absolute URL depot builds starts with it, in JSON
 * bodies and in Link headers, so it must be a URL that needs no encoding there. A copy
 * without trailing slashes (caller frees), or NULL having said why on stderr. */
static char *external_url_dup(const char *url)
{
	static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				      "0123456789-._~:/[]@!$&'()*+,;=%";
	size_t len = strlen(url), scheme = strncmp(url, "https://", 8) == 0   ? 8
					  : strncmp(url, "http://", 7) == 0 ? 7
									    : 0;
	while (len > scheme && url[len - 1] == '/')
		len--;
	if (!scheme || len == scheme || len > HTTP_BASE_URL_MAX || strspn(url, allowed) < len) {
		fprintf(stderr, "depot: --external-url takes an http:// or https:// URL of at most %d "
				"characters, without spaces, quotes, <, >, ? or #\n",
			HTTP_BASE_URL_MAX);
		return NULL;
	}
	return strndup(url, len);
}

struct http_server *http_server_start(struct app *app, const struct http_options *opt,
				      const struct route *routes, size_t nroutes)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
	struct addrinfo *ai = NULL;
	char port[16];
	snprintf(port, sizeof(port), "%u", opt->port);
	int gai = getaddrinfo(opt->host[0] ? opt->host : NULL, port, &hints, &ai);
	if (gai != 0) {
		fprintf(stderr, "depot: cannot resolve %s: %s\n", opt->host, gai_strerror(gai));
		return NULL;
	}
	struct http_server *s = calloc(1, sizeof(*s));
	if (!s) {
		freeaddrinfo(ai);
		return NULL;
	}
	s->app = app;
	s->metrics = opt->metrics;
	s->idle_timeout_s = opt->idle_timeout_s;
	if ((opt->external_url && !(s->external_url = external_url_dup(opt->external_url))) ||
	    (opt->trusted_proxies && !(s->trusted_proxies = strdup(opt->trusted_proxies)))) {
		free(s->external_url);
		freeaddrinfo(ai);
		free(s);
		return NULL;
	}
	s->routes = routes;
	if (!(s->route_index = route_index_of(routes, nroutes))) {
		free(s->external_url);
		free(s->trusted_proxies);
		freeaddrinfo(ai);
		free(s);
		return NULL;
	}
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->tls = opt->tls_cert_pem && opt->tls_key_pem;
	if (s->tls)
		flags |= MHD_USE_TLS;
	else if (!http_addr_is_loopback(ai->ai_addr))
		fprintf(stderr, "depot: warning: serving plain HTTP on a non-loopback address: "
				"tokens cross the network in clear; use --tls-cert and --tls-key\n");
	s->daemon = MHD_start_daemon(
		flags, (uint16_t)opt->port, NULL, NULL, on_access, s, MHD_OPTION_SOCK_ADDR,
		ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, opt->threads,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
		on_connection, s, MHD_OPTION_UNESCAPE_CALLBACK,
		unescape_none, NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024,
		MHD_OPTION_CONNECTION_TIMEOUT, opt->idle_timeout_s, MHD_OPTION_LISTEN_BACKLOG_SIZE,
		1024u, MHD_OPTION_CONNECTION_LIMIT, opt->max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, opt->max_per_ip,
		/* TLS options last: without TLS, MHD_OPTION_END here ends the list */
		s->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, opt->tls_cert_pem,
		MHD_OPTION_HTTPS_MEM_KEY, opt->tls_key_pem, MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!s->daemon) {
		fprintf(stderr, "depot: cannot listen on %s:%u\n", opt->host, opt->port);
		route_index_free(s->route_index);
		free(s->external_url);
		free(s->trusted_proxies);
		free(s);
		return NULL;
	}
	fprintf(stderr, "depot: listening on %s://%s:%u (%u worker threads)\n",
		s->tls ? "https" : "http", opt->host, http_server_port(s), opt->threads);
	return s;
}

unsigned http_server_port(const struct http_server *s)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	return info ? info->port : 0;
}

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	route_index_free(s->route_index);
	free(s->external_url);
	free(s->trusted_proxies);
	free(s);
}
