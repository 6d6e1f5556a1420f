/* Web sessions bound to personal access tokens (see web_session.h). */
#include "web_session.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "http.h"

static int read_key(int fd, unsigned char key[WEB_SESSION_KEY_LEN])
{
	size_t got = 0;
	while (got < WEB_SESSION_KEY_LEN) {
		ssize_t n = read(fd, key + got, WEB_SESSION_KEY_LEN - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EINVAL; /* short: not a key this wrote */
		got += (size_t)n;
	}
	return 0;
}

int web_session_key_load(const char *path, unsigned char key[WEB_SESSION_KEY_LEN])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		int ret = read_key(fd, key);
		close(fd);
		return ret;
	}
	if (errno != ENOENT)
		return -errno;
	/* Written whole under another name first, so a crash never leaves a short key. */
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	if (RAND_bytes(key, WEB_SESSION_KEY_LEN) != 1)
		return -EIO;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int ret = write(fd, key, WEB_SESSION_KEY_LEN) == WEB_SESSION_KEY_LEN && fsync(fd) == 0
			  ? 0
			  : -EIO;
	close(fd);
	/* link, not rename: a key another process created meanwhile wins, and is read */
	if (ret == 0 && link(tmp, path) != 0)
		ret = errno == EEXIST ? 1 : -errno;
	unlink(tmp);
	if (ret == 1) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		ret = read_key(fd, key);
		close(fd);
	}
	return ret;
}

static void hmac_hex(const unsigned char *key, const char *label, const char *msg,
		     char out[WEB_CSRF_LEN + 1])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	char buf[WEB_SESSION_VALUE_MAX + 32];
	int n = snprintf(buf, sizeof(buf), "%s:%s", label, msg);
	size_t blen = n < 0 ? 0 : (size_t)n >= sizeof(buf) ? sizeof(buf) - 1 : (size_t)n;
	HMAC(EVP_sha256(), key, WEB_SESSION_KEY_LEN, (const unsigned char *)buf, blen, mac, &len);
	for (size_t i = 0; i < 32 && i < len; i++)
		snprintf(out + (size_t)2 * i, 3, "%02x", mac[i]);
	out[WEB_CSRF_LEN] = '\0';
}

void web_session_value(const unsigned char *key, int64_t token_id, int64_t issued_s,
		       char out[WEB_SESSION_VALUE_MAX + 1])
{
	char body[48], mac[WEB_CSRF_LEN + 1];
	snprintf(body, sizeof(body), "%" PRId64 ".%" PRId64, token_id, issued_s);
	hmac_hex(key, "session", body, mac);
	snprintf(out, WEB_SESSION_VALUE_MAX + 1, "%s.%s", body, mac);
}

void web_session_csrf(const unsigned char *key, const char *value, char out[WEB_CSRF_LEN + 1])
{
	hmac_hex(key, "csrf", value, out);
}

/* A positive decimal number of at most 18 digits, ending at *end. */
static int parse_num(const char *s, char stop, int64_t *out, const char **end)
{
	int64_t v = 0;
	const char *p = s;
	for (; *p >= '0' && *p <= '9' && p - s < 18; p++)
		v = v * 10 + (*p - '0');
	if (p == s || *p != stop || v <= 0)
		return -1;
	*out = v;
	*end = p + 1;
	return 0;
}

int64_t web_session_second(const struct meta_token *t, int64_t now_s)
{
	return now_s > t->sessions_after_s ? now_s : t->sessions_after_s + 1;
}

int web_session_parse(const unsigned char *key, const char *value, int64_t now_s,
		      int64_t *token_id, int64_t *issued_s)
{
	int64_t id, issued;
	const char *p;
	if (strlen(value) > WEB_SESSION_VALUE_MAX || parse_num(value, '.', &id, &p) != 0 ||
	    parse_num(p, '.', &issued, &p) != 0 || strlen(p) != WEB_CSRF_LEN)
		return -1;
	char want[WEB_SESSION_VALUE_MAX + 1];
	web_session_value(key, id, issued, want);
	if (strlen(want) != strlen(value) || CRYPTO_memcmp(want, value, strlen(want)) != 0)
		return -1;
	if (issued > now_s + 60 || now_s - issued > WEB_SESSION_MAX_AGE_S)
		return -1;
	*token_id = id;
	*issued_s = issued;
	return 0;
}

enum auth_error web_session_identify(struct request *r, int64_t now_ms)
{
	const unsigned char *key = r->app->session_key;
	const char *value = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND,
							WEB_SESSION_COOKIE);
	if (!key || !value)
		return AUTH_OK;
	r->web_client = true;
	int64_t id, issued;
	if (web_session_parse(key, value, now_ms / 1000, &id, &issued) != 0)
		return AUTH_INVALID;
	struct meta *m = r->app->meta;
	struct meta_token t;
	int ret = m->ops->token_get(m, id, &t);
	if (ret == -ENOENT || (ret == 0 && t.kind != TOKEN_PERSONAL))
		return AUTH_INVALID;
	if (ret != 0)
		return ret == -EAGAIN ? AUTH_UNAVAILABLE : AUTH_BACKEND;
	r->ident.token = t; /* for the log: which token's session failed */
	if (t.revoked)
		return AUTH_REVOKED;
	if (issued <= t.sessions_after_s)
		return AUTH_INVALID; /* signed out (web_sign_out_done) */
	if (t.expires_at_ms != 0 && t.expires_at_ms <= now_ms)
		return AUTH_EXPIRED;
	ret = m->ops->user_get(m, t.user_id, &r->ident.user);
	if (ret == -ENOENT)
		return AUTH_INVALID;
	if (ret != 0)
		return ret == -EAGAIN ? AUTH_UNAVAILABLE : AUTH_BACKEND;
	r->ident.kind = IDENT_USER;
	r->via_session = true;
	return AUTH_OK;
}

int web_csrf_or_reply(struct request *r)
{
	if (!r->via_session || http_is_read(r))
		return 0;
	const char *value = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND,
							WEB_SESSION_COOKIE);
	const char *given = http_header(r, "X-CSRF-Token");
	char want[WEB_CSRF_LEN + 1];
	if (value && given && strlen(given) == WEB_CSRF_LEN) {
		web_session_csrf(r->app->session_key, value, want);
		if (CRYPTO_memcmp(want, given, WEB_CSRF_LEN) == 0)
			return 0;
	}
	http_reply_message(r, MHD_HTTP_FORBIDDEN, "403 Forbidden - invalid CSRF token");
	return -1;
}
