/* Unit tests for the authorization decision table and credential parsing (auth.c). */
#include <string.h>

#include "auth.h"
#include "auth_cache.h"
#include "check.h"

static struct abilities decide(enum identity_kind kind, bool admin, enum access_level level,
			       enum visibility vis, int64_t job_project, bool covers, unsigned scopes)
{
	struct access_facts f = {.kind = kind, .is_admin = admin, .level = level,
				 .is_job = job_project != 0, .job_project_id = job_project,
				 .project_id = 7, .visibility = vis,
				 .deploy_covers_project = covers, .scopes = scopes};
	struct abilities a;
	auth_decide(&f, &a);
	return a;
}

#define ABILITIES(a, rp, rk, c, d) \
	CHECK((a).read_project == (rp) && (a).read_package == (rk) && (a).create_package == (c) && \
	      (a).destroy_package == (d))

static void table(void)
{
	const unsigned R = SCOPE_READ_PACKAGE_REGISTRY, W = SCOPE_WRITE_PACKAGE_REGISTRY;
	/* members of a private project, by role */
	ABILITIES(decide(IDENT_USER, false, ACCESS_NONE, VIS_PRIVATE, 0, false, 0), 0, 0, 0, 0);
	ABILITIES(decide(IDENT_USER, false, ACCESS_GUEST, VIS_PRIVATE, 0, false, 0), 1, 1, 0, 0);
	ABILITIES(decide(IDENT_USER, false, ACCESS_REPORTER, VIS_PRIVATE, 0, false, 0), 1, 1, 0, 0);
	ABILITIES(decide(IDENT_USER, false, ACCESS_DEVELOPER, VIS_PRIVATE, 0, false, 0), 1, 1, 1, 0);
	ABILITIES(decide(IDENT_USER, false, ACCESS_MAINTAINER, VIS_PRIVATE, 0, false, 0), 1, 1, 1, 1);
	ABILITIES(decide(IDENT_USER, false, ACCESS_OWNER, VIS_PRIVATE, 0, false, 0), 1, 1, 1, 1);
	ABILITIES(decide(IDENT_USER, true, ACCESS_NONE, VIS_PRIVATE, 0, false, 0), 1, 1, 1, 1);
	/* visibility */
	ABILITIES(decide(IDENT_ANONYMOUS, false, ACCESS_NONE, VIS_PUBLIC, 0, false, 0), 1, 1, 0, 0);
	ABILITIES(decide(IDENT_ANONYMOUS, false, ACCESS_NONE, VIS_INTERNAL, 0, false, 0), 0, 0, 0, 0);
	ABILITIES(decide(IDENT_USER, false, ACCESS_NONE, VIS_INTERNAL, 0, false, 0), 1, 1, 0, 0);
	ABILITIES(decide(IDENT_USER, false, ACCESS_NONE, VIS_PUBLIC, 0, false, 0), 1, 1, 0, 0);
	/* job tokens: the user's role in their own project, anonymous elsewhere */
	ABILITIES(decide(IDENT_USER, false, ACCESS_DEVELOPER, VIS_PRIVATE, 7, false, 0), 1, 1, 1, 0);
	ABILITIES(decide(IDENT_USER, false, ACCESS_DEVELOPER, VIS_PRIVATE, 8, false, 0), 0, 0, 0, 0);
	ABILITIES(decide(IDENT_USER, false, ACCESS_DEVELOPER, VIS_PUBLIC, 8, false, 0), 1, 1, 0, 0);
	ABILITIES(decide(IDENT_USER, false, ACCESS_DEVELOPER, VIS_INTERNAL, 8, false, 0), 0, 0, 0, 0);
	ABILITIES(decide(IDENT_USER, true, ACCESS_NONE, VIS_PRIVATE, 8, false, 0), 0, 0, 0, 0);
	/* deploy tokens */
	ABILITIES(decide(IDENT_DEPLOY, false, ACCESS_NONE, VIS_PRIVATE, 0, true, R), 1, 1, 0, 0);
	ABILITIES(decide(IDENT_DEPLOY, false, ACCESS_NONE, VIS_PRIVATE, 0, true, W), 1, 1, 1, 1);
	ABILITIES(decide(IDENT_DEPLOY, false, ACCESS_NONE, VIS_PRIVATE, 0, true, R | W), 1, 1, 1, 1);
	ABILITIES(decide(IDENT_DEPLOY, false, ACCESS_NONE, VIS_PRIVATE, 0, false, R | W), 0, 0, 0, 0);
	ABILITIES(decide(IDENT_DEPLOY, false, ACCESS_NONE, VIS_INTERNAL, 0, false, R | W), 0, 0, 0, 0);
	ABILITIES(decide(IDENT_DEPLOY, false, ACCESS_NONE, VIS_PUBLIC, 0, false, R | W), 1, 1, 0, 0);
}

/* The settings of packages: maintainers of a project, owners of a group, admins; never a
 * job token (even its admin's, even in its own project) nor a deploy token. */
static struct abilities decide_group(enum identity_kind kind, bool admin, enum access_level level,
				     enum visibility vis, bool job)
{
	struct access_facts f = {.kind = kind, .is_admin = admin, .level = level, .is_job = job,
				 .job_project_id = job ? 7 : 0, .is_group = true,
				 .visibility = vis};
	struct abilities a;
	auth_decide(&f, &a);
	return a;
}

static void admin_packages(void)
{
	const unsigned W = SCOPE_WRITE_PACKAGE_REGISTRY;
	CHECK(!decide(IDENT_USER, false, ACCESS_DEVELOPER, VIS_PRIVATE, 0, false, 0).admin_packages);
	CHECK(decide(IDENT_USER, false, ACCESS_MAINTAINER, VIS_PRIVATE, 0, false, 0).admin_packages);
	CHECK(decide(IDENT_USER, true, ACCESS_NONE, VIS_PRIVATE, 0, false, 0).admin_packages);
	CHECK(!decide(IDENT_USER, false, ACCESS_OWNER, VIS_PRIVATE, 7, false, 0).admin_packages);
	CHECK(!decide(IDENT_USER, true, ACCESS_NONE, VIS_PRIVATE, 7, false, 0).admin_packages);
	CHECK(!decide(IDENT_DEPLOY, false, ACCESS_NONE, VIS_PRIVATE, 0, true, W).admin_packages);
	/* the level protection rules compare with */
	CHECK(decide(IDENT_USER, true, ACCESS_NONE, VIS_PRIVATE, 7, false, 0).level == ACCESS_ADMIN);
	CHECK(decide(IDENT_USER, false, ACCESS_OWNER, VIS_PUBLIC, 8, false, 0).level == ACCESS_NONE);
	CHECK(decide(IDENT_DEPLOY, false, ACCESS_NONE, VIS_PRIVATE, 0, true, W).level == ACCESS_NONE);
	/* groups */
	struct abilities a = decide_group(IDENT_USER, false, ACCESS_OWNER, VIS_PRIVATE, false);
	CHECK(a.read_project && a.admin_packages);
	a = decide_group(IDENT_USER, false, ACCESS_MAINTAINER, VIS_PRIVATE, false);
	CHECK(a.read_project && !a.admin_packages);
	a = decide_group(IDENT_USER, true, ACCESS_NONE, VIS_PRIVATE, false);
	CHECK(a.read_project && a.admin_packages);
	/* a job token is anonymous on every group, whoever its user */
	a = decide_group(IDENT_USER, false, ACCESS_OWNER, VIS_PRIVATE, true);
	CHECK(!a.read_project && !a.admin_packages && a.level == ACCESS_NONE);
	a = decide_group(IDENT_USER, true, ACCESS_NONE, VIS_PRIVATE, true);
	CHECK(!a.read_project && !a.admin_packages);
	a = decide_group(IDENT_USER, true, ACCESS_NONE, VIS_PUBLIC, true);
	CHECK(a.read_project && !a.admin_packages);
	a = decide_group(IDENT_DEPLOY, false, ACCESS_NONE, VIS_PRIVATE, false);
	CHECK(!a.read_project);
}

static void scopes(void)
{
	struct identity id = {.kind = IDENT_USER};
	id.token.kind = TOKEN_PERSONAL;
	id.token.scopes = SCOPE_READ_API;
	CHECK(auth_scope_allows(&id, true));
	CHECK(!auth_scope_allows(&id, false));
	id.token.scopes = SCOPE_API;
	CHECK(auth_scope_allows(&id, false));
	id.token.kind = TOKEN_JOB;
	id.token.scopes = 0;
	CHECK(auth_scope_allows(&id, false));
	unsigned mask;
	CHECK(scopes_parse("api,read_api", &mask) == 0 && mask == (SCOPE_API | SCOPE_READ_API));
	CHECK(scopes_parse("read_package_registry write_package_registry", &mask) == 0);
	CHECK(scopes_parse("api,sudo", &mask) == -1);
	CHECK(scopes_parse("", &mask) == -1);
}

static void credentials(void)
{
	struct credentials c;
	memset(&c, 0, sizeof(c));
	CHECK(credentials_parse_authorization("Basic dXNlcjpzZWNyZXQ=", &c) == 0); /* user:secret */
	CHECK(c.has_basic && strcmp(c.basic_user, "user") == 0 && strcmp(c.basic_pass, "secret") == 0);
	credentials_release(&c);
	memset(&c, 0, sizeof(c));
	CHECK(credentials_parse_authorization("basic Z2l0bGFiLWNpLXRva2VuOmE6Yg==", &c) == 0);
	CHECK(strcmp(c.basic_user, "gitlab-ci-token") == 0 && strcmp(c.basic_pass, "a:b") == 0);
	credentials_release(&c);
	memset(&c, 0, sizeof(c));
	CHECK(credentials_parse_authorization("Basic OnRvaw==", &c) == 0); /* ":tok" */
	CHECK(c.basic_user[0] == '\0' && strcmp(c.basic_pass, "tok") == 0);
	credentials_release(&c);
	CHECK(credentials_parse_authorization("Basic bm9jb2xvbg==", &c) == -1); /* "nocolon" */
	CHECK(credentials_parse_authorization("Basic !!!!", &c) == -1);
	CHECK(credentials_parse_authorization("Basic abc", &c) == -1);
	CHECK(credentials_parse_authorization("Basic ", &c) == -1);
	CHECK(credentials_parse_authorization("Basic dXNlcgA6eA==", &c) == -1); /* NUL inside */
	CHECK(!c.has_basic);
	CHECK(credentials_parse_authorization("Bearer glpat-x", &c) == 0);
	CHECK(c.bearer && strcmp(c.bearer, "glpat-x") == 0);
	memset(&c, 0, sizeof(c));
	CHECK(credentials_parse_authorization("Digest whatever", &c) == 0 && !c.bearer && !c.has_basic);
}

/* Is memo all zeros (nothing of a secret left)? */
static bool wiped(const struct auth_key_memo *memo)
{
	const unsigned char *p = (const unsigned char *)memo;
	for (size_t i = 0; i < sizeof(*memo); i++)
		if (p[i])
			return false;
	return true;
}

/* A connection's memo of its last credentials gives the key auth_cache_key gives, whatever
 * comes in what order (absent and empty parts differ), without hashing again for the same,
 * and keeps no secret it does not use. */
static void key_memo(void)
{
	struct auth_cache *ac = auth_cache_new();
	CHECK(ac != NULL);
	if (!ac)
		return;
	static char long_token[300];
	memset(long_token, 'x', sizeof(long_token) - 1);
	const char *lists[][AUTH_KEY_MEMO_PARTS] = {
		{"tok-a", NULL, NULL, NULL, NULL, NULL}, {"tok-a", NULL, NULL, NULL, NULL, NULL},
		{"tok-b", NULL, NULL, NULL, NULL, NULL}, {"tok-a", NULL, NULL, NULL, NULL, NULL},
		{NULL, "tok-a", NULL, NULL, NULL, NULL}, {"", NULL, NULL, NULL, NULL, NULL},
		{NULL, "", NULL, NULL, NULL, NULL},	 {"", NULL, NULL, NULL, NULL, NULL},
		{NULL, NULL, NULL, NULL, "u", "tok-a"},	 {NULL, NULL, NULL, NULL, "u:", "tok-a"},
		{NULL, NULL, NULL, NULL, "ut", "ok-a"},	 {NULL, NULL, NULL, NULL, "u", "tok-a"},
		{long_token, NULL, NULL, NULL, NULL, NULL}, {long_token, NULL, NULL, NULL, NULL, NULL},
		{"tok-a", NULL, NULL, NULL, NULL, NULL},
	};
	struct auth_key_memo memo = {0};
	int differ = 0;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		unsigned char want[AUTH_CACHE_KEY_LEN], got[AUTH_CACHE_KEY_LEN];
		auth_cache_key(ac, lists[i], AUTH_KEY_MEMO_PARTS, want);
		auth_cache_key_memo(ac, &memo, lists[i], AUTH_KEY_MEMO_PARTS, got);
		differ += memcmp(want, got, sizeof(want)) != 0;
		differ += memo.valid != (lists[i][0] != long_token);
	}
	CHECK(differ == 0);
	CHECK(memo.valid && memcmp(memo.bytes, "tok-a", 5) == 0);
	/* the same again takes the memo's key, no digest: a planted key comes back */
	unsigned char got[AUTH_CACHE_KEY_LEN];
	memset(memo.key, 0xab, sizeof(memo.key));
	auth_cache_key_memo(ac, &memo, lists[0], AUTH_KEY_MEMO_PARTS, got);
	CHECK(got[0] == 0xab && got[AUTH_CACHE_KEY_LEN - 1] == 0xab);
	/* too long to keep: the last ones are wiped all the same */
	auth_cache_key_memo(ac, &memo, lists[12], AUTH_KEY_MEMO_PARTS, got);
	CHECK(!memo.valid && wiped(&memo));
	auth_cache_key_memo(ac, &memo, lists[2], AUTH_KEY_MEMO_PARTS, got);
	CHECK(memo.valid);
	auth_key_memo_release(&memo);
	CHECK(wiped(&memo));
	/* no memo: the plain key */
	unsigned char want[AUTH_CACHE_KEY_LEN];
	auth_cache_key(ac, lists[2], AUTH_KEY_MEMO_PARTS, want);
	auth_cache_key_memo(ac, NULL, lists[2], AUTH_KEY_MEMO_PARTS, got);
	CHECK(memcmp(want, got, sizeof(want)) == 0);
	auth_cache_free(ac);
}

int main(void)
{
	table();
	admin_packages();
	scopes();
	credentials();
	key_memo();
	return check_done("test_auth");
}
