/* The web interface's sessions: a person signs in with a personal access token and gets a
 * cookie bound to that token, "<token id>.<issued, unix s>.<HMAC-SHA256 hex>" under a
 * server key. Nothing is stored per session: every request reads the token again, so
 * revoking or expiring the token ends the session. Changes made with the cookie carry a
 * CSRF token (X-CSRF-Token), an HMAC of the cookie under the same key. */
#ifndef DEPOT_WEB_SESSION_H
#define DEPOT_WEB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

struct request;

#define WEB_SESSION_KEY_LEN 32
#define WEB_SESSION_COOKIE "depot_session"
/* A session lasts at most this long (7 days), whatever its token's expiry (GitLab: a week). */
#define WEB_SESSION_MAX_AGE_S 604800L
/* "<id>.<issued>.<64 hex>" */
#define WEB_SESSION_VALUE_MAX 120
#define WEB_CSRF_LEN 64

/* Reads the server key from path, or creates it there (0600, random) when absent.
 * Returns 0, or a negative errno. */
int web_session_key_load(const char *path, unsigned char key[WEB_SESSION_KEY_LEN]);

/* The cookie value for token_id issued at issued_s into out. */
void web_session_value(const unsigned char *key, int64_t token_id, int64_t issued_s,
		       char out[WEB_SESSION_VALUE_MAX + 1]);
/* The CSRF token of a cookie value. */
void web_session_csrf(const unsigned char *key, const char *value, char out[WEB_CSRF_LEN + 1]);

/* The second a session of t signed in now is stamped with, and up to which a sign-out now
 * ends t's sessions: now, or just after the token's last sign-out if that was this
 * second (or one stamped ahead by it). */
int64_t web_session_second(const struct meta_token *t, int64_t now_s);

/* Checks a cookie value's MAC and age; its token id into *token_id, when it was signed in
 * into *issued_s. 0, or -1. */
int web_session_parse(const unsigned char *key, const char *value, int64_t now_s,
		      int64_t *token_id, int64_t *issued_s);

/* The identity of a request that presented no other credential: its session cookie's
 * personal access token's user (AUTH_OK and anonymous without a cookie); the errors are
 * auth_resolve's. Marks the request as authenticated by the cookie. */
enum auth_error web_session_identify(struct request *r, int64_t now_ms);

/* For a request authenticated by the cookie that changes something: 403 unless it carries
 * the session's CSRF token. Returns 0, or -1 having replied. */
int web_csrf_or_reply(struct request *r);

#endif
