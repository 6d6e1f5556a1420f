/* The thin layer over libmicrohttpd: the request context handlers see, the explicit route
 * table, and reply helpers that produce GitLab's JSON bodies and common headers. */
#ifndef DEPOT_HTTP_H
#define DEPOT_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth.h"
#include "route.h"

struct app;

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_PUT, HTTP_POST, HTTP_DELETE, HTTP_PATCH, HTTP_OTHER };

struct request;

/* A route's handlers. on_start runs once the headers are in; on_body for each chunk of the
 * body (may be NULL when the route takes none); on_done once the body is complete;
 * on_free when the request ends, whether it completed or not, to release state. A handler
 * that replies early (an error before the body) makes the rest of the body be discarded. */
struct route {
	enum http_method method;
	const char *pattern;
	void (*on_start)(struct request *r);
	void (*on_body)(struct request *r, const char *data, size_t len);
	void (*on_done)(struct request *r);
	void (*on_free)(struct request *r);
	/* What the caller must be able to do on the project or group the path names; the
	 * helpers that load that subject check it (403 when it is missing). */
	enum ability need;
	/* GitLab's REST resources (users, groups, projects, members, tokens): as there, job
	 * and deploy tokens are not looked at, the caller is anonymous. */
	bool rest;
	/* The web interface's pages, assets and sign-in (web.c): tested by test_web.py, not
	 * by the access matrices. */
	bool web;
};

struct request {
	struct MHD_Connection *conn;
	struct app *app;
	enum http_method method;
	const char *url; /* raw path, still percent-encoded */
	const char *external_url; /* configured base URL for links, or NULL */
	const char *trusted_proxies; /* --trusted-proxy, or NULL */
	bool tls;
	const struct route *route;
	struct route_capture caps[ROUTE_MAX_CAPTURES];
	int ncaps;
	/* The headers every request needs, found in the one walk that checks the shape of
	 * all of them (reject_bad_shape): the first of each name, as http_header finds it.
	 * Any other header: http_header. */
	struct request_headers {
		const char *host, *content_length, *transfer_encoding, *expect;
		const char *private_token, *job_token, *deploy_token, *authorization;
	} hdr;
	uint64_t announced_len; /* Content-Length as parsed once; 0 when none (or chunked) */
	struct credentials creds;
	struct identity ident;
	bool via_session; /* ident came from the web session cookie (web_session.c) */
	/* A page's request (it presented the session cookie; or X-Requested-With:
	 * XMLHttpRequest): a 401 carries no Basic challenge, which would make the browser
	 * prompt for a password. */
	bool web_client;
	bool replied;
	bool in_body; /* between the first and the last callback of a body */
	/* libmicrohttpd cannot queue a reply mid-body: one decided then waits here until the
	 * body ends, while the rest of the body is discarded. */
	struct MHD_Response *pending;
	unsigned pending_status;
	int64_t discard_since_us; /* when discarding began; 0 before */
	unsigned timeout_s;	  /* the connection's timeout as last set here; 0: the default */
	bool input_ended;	  /* the client has half-closed */
	size_t largest_chunk;	  /* of the body so far (http_server.c's may_have_drained) */
	unsigned status;
	uint64_t bytes_in;
	uint64_t bytes_out;
	int64_t start_us;
	void *state; /* the route's own; released by route->on_free */
	bool suspended; /* waiting on another thread; on_done runs again when resumed */
	char client_addr[48];
	char *body;  /* collected by http_body_collect; freed with the request */
	size_t body_len;
	json_t *params; /* api_params' merged parameters; released with the request */
};

#define HTTP_BODY_MAX (64u << 10)

/* From on_done: park the request without a reply; another thread calls http_resume when
 * the work is done, and on_done runs again to reply. */
void http_suspend(struct request *r);
/* Callable from any thread. */
void http_resume(struct request *r);

/* An on_body handler for small bodies (JSON settings): collects up to HTTP_BODY_MAX bytes,
 * answering 413 past that. */
void http_body_collect(struct request *r, const char *data, size_t len);
/* The collected body as a JSON object, or NULL having replied 400. */
json_t *http_body_json(struct request *r);

/* Decodes capture i into out (cap bytes). Returns 0, or -1 if malformed or too long. */
int http_capture(const struct request *r, int i, char *out, size_t cap);
/* The client's address as text ("127.0.0.1", "::1"); "?" when unknown. Behind a trusted
 * proxy (http_options.trusted_proxies), the one it names in X-Forwarded-For. */
const char *http_client_addr(struct request *r);
/* Is list one or more comma-separated IPv4 or IPv6 addresses? */
bool http_addr_list_valid(const char *list);
/* A request header, or NULL. */
const char *http_header(const struct request *r, const char *name);
/* A decoded query parameter: 1 present, 0 absent, -1 malformed or too long. */
int http_query(const struct request *r, const char *name, char *out, size_t cap);
bool http_is_read(const struct request *r);
/* The longest base URL: a longer --external-url is refused at start. */
#define HTTP_BASE_URL_MAX 511
/* The longest host name accepted from a Host header. */
#define HTTP_HOST_NAME_MAX 255
/* The longest request target (path and query): 414 beyond it, so that every URL built
 * from a request (Link headers) stays whole and bounded. */
#define HTTP_TARGET_MAX 4096
/* The base of absolute URLs into out (cap > HTTP_BASE_URL_MAX: never cut): the configured
 * external URL, else "http(s)://<Host>" when Host is a valid host[:port], else the
 * address and port the client reached. */
void http_base_url(const struct request *r, char *out, size_t cap);
/* Is this a syntactically valid host[:port] (a DNS-style name or IPv4 address, or an IPv6
 * literal in brackets; port 1-65535)? */
bool http_host_valid(const char *host);
/* Calls cb for each raw (still encoded) query parameter; value may be NULL. */
void http_query_each(const struct request *r,
		     void (*cb)(void *ctx, const char *key, const char *value), void *ctx);

/* Replies; each returns nothing and marks the request replied. Bodies are JSON. A reply
 * made while the body is still arriving is sent once the body has ended: the rest is read
 * and dropped (neither stored nor hashed) for at most the idle timeout, and a client still
 * sending after that has its connection closed. */
void http_reply_json(struct request *r, unsigned status, json_t *body); /* steals body */
/* The same with extra headers as name/value pairs, NULL-terminated. */
void http_reply_json_headers(struct request *r, unsigned status, json_t *body,
			     const char *const *headers);
/* 204 with no body. */
void http_reply_no_content(struct request *r);
void http_reply_message(struct request *r, unsigned status, const char *message);
void http_reply_error(struct request *r, unsigned status, const char *error);
/* 401 with GitLab's realm header. */
void http_reply_unauthorized(struct request *r);
/* An auth_resolve failure, with GitLab's body for it. */
void http_reply_auth_error(struct request *r, enum auth_error err);
/* 500 with GitLab's body, logging why. */
void http_reply_internal(struct request *r, const char *why, int err);
/* Serves size bytes of fd from offset (fd is owned by the reply from now on) with extra
 * headers as name/value pairs, NULL-terminated. */
void http_reply_fd(struct request *r, unsigned status, int fd, uint64_t offset, uint64_t size,
		   const char *const *headers);
/* Serves a copy of len bytes of data, with extra headers. */
void http_reply_copy(struct request *r, unsigned status, const char *data, size_t len,
		     const char *const *headers);
/* A reply without a body (304), with extra headers. */
void http_reply_empty(struct request *r, unsigned status, const char *const *headers);

/* Replies built once and sent again: small representations that never change under their
 * key (a file row's content and headers), so the hot ones skip building a response (a
 * copy and a dozen headers) per request. Bounded, one entry per slot; thread-safe. */
struct reply_cache;
struct reply_cache *reply_cache_new(size_t slots); /* NULL when out of memory */
void reply_cache_free(struct reply_cache *c);
/* Sends the reply kept under key (key > 0) and answers true, or sends nothing. */
bool http_reply_cached(struct request *r, struct reply_cache *c, int64_t key);
/* http_reply_copy, the reply then kept under key for http_reply_cached. */
void http_reply_copy_kept(struct request *r, struct reply_cache *c, int64_t key,
			  unsigned status, const char *data, size_t len,
			  const char *const *headers);
/* A body of unknown length, sent chunked as read produces it: read fills up to max bytes
 * of buf and returns how many, 0 at the end, or -1 on a failure (the connection is then
 * closed, so the client sees an incomplete body rather than a short one). read runs on the
 * request's thread while the response is sent, possibly after the handlers are done: it
 * must not use r. free_cls(cls) runs once the response is released (also on failure). */
void http_reply_stream(struct request *r, unsigned status, const char *const *headers,
		       ssize_t (*read)(void *cls, char *buf, size_t max), void *cls,
		       void (*free_cls)(void *cls));

/* A body of size bytes (Content-Length known: Range replies too), read as it is sent:
 * read(cls, pos, buf, max) fills up to max bytes from pos of the body and returns how
 * many, or a negative errno (the connection is then closed). Runs on the request's thread,
 * possibly after the handlers are done: it must not use r. free_cls(cls) runs once the
 * response is released (also on failure). */
void http_reply_reader(struct request *r, unsigned status, uint64_t size,
		       ssize_t (*read)(void *cls, uint64_t pos, char *buf, size_t max), void *cls,
		       void (*free_cls)(void *cls), const char *const *headers);

/* Is this a loopback address (127.0.0.0/8, ::1)? Plain HTTP anywhere else gets a warning,
 * since tokens would cross the network in clear. */
struct sockaddr;
bool http_addr_is_loopback(const struct sockaddr *sa);

struct http_server;
struct metrics;
struct http_options {
	const char *host;
	unsigned port;
	unsigned threads;
	unsigned max_connections;
	unsigned max_per_ip;	 /* connections from one address */
	unsigned idle_timeout_s; /* a connection silent this long is closed (slow bodies too) */
	const char *external_url; /* base of absolute URLs in replies; NULL: from Host */
	/* Comma-separated addresses of proxies in front (a load balancer): for a connection
	 * from one of them, the client is the last address of X-Forwarded-For. NULL: none. */
	const char *trusted_proxies;
	struct metrics *metrics;  /* counts connections (metrics.h); NULL: none */
	const char *tls_cert_pem; /* HTTPS when both are set (PEM contents) */
	const char *tls_key_pem;
};
/* Starts serving the route table; returns NULL on failure (message on stderr). */
struct http_server *http_server_start(struct app *app, const struct http_options *opt,
				      const struct route *routes, size_t nroutes);
void http_server_stop(struct http_server *s);
/* Stops accepting connections; requests under way go on. */
void http_server_quiesce(struct http_server *s);
/* Waits up to timeout_ms for the requests under way to complete; false if some did not. */
bool http_server_drain(struct http_server *s, int64_t timeout_ms);
/* The port actually bound (differs from the requested one when that was 0). */
unsigned http_server_port(const struct http_server *s);

#endif
