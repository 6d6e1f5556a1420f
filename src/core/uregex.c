/* User-supplied regexes over PCRE2 with resource limits (see uregex.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "uregex.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Backtracking budget: ample for any sane pattern over names of at most 255 bytes, and
 * a few milliseconds at worst for a pathological one. */
#define MATCH_LIMIT 100000
#define DEPTH_LIMIT 1000

struct uregex {
	pcre2_code *code;
	pcre2_match_context *mctx;
};

void uregex_free(struct uregex *re)
{
	if (!re)
		return;
	pcre2_code_free(re->code);
	pcre2_match_context_free(re->mctx);
	free(re);
}

struct uregex *uregex_compile(const char *pattern, char *err, size_t errcap)
{
	if (strlen(pattern) > UREGEX_MAX_LEN) {
		snprintf(err, errcap, "is too long (maximum is %d characters)", UREGEX_MAX_LEN);
		return NULL;
	}
	/* \A(?:...)\z, as GitLab anchors the pattern before matching. */
	char anchored[UREGEX_MAX_LEN + 16];
	snprintf(anchored, sizeof(anchored), "\\A(?:%s)\\z", pattern);
	struct uregex *re = calloc(1, sizeof(*re));
	if (!re) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	int code;
	PCRE2_SIZE offset;
	re->code = pcre2_compile((PCRE2_SPTR)anchored, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C,
				 &code, &offset, NULL);
	if (!re->code) {
		PCRE2_UCHAR msg[128];
		pcre2_get_error_message(code, msg, sizeof(msg));
		snprintf(err, errcap, "is invalid: %s", (const char *)msg);
		uregex_free(re);
		return NULL;
	}
	re->mctx = pcre2_match_context_create(NULL);
	if (!re->mctx) {
		snprintf(err, errcap, "out of memory");
		uregex_free(re);
		return NULL;
	}
	pcre2_set_match_limit(re->mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(re->mctx, DEPTH_LIMIT);
	return re;
}

bool uregex_match(const struct uregex *re, const char *subject)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
	if (!md)
		return false;
	int rc = pcre2_match(re->code, (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, re->mctx);
	pcre2_match_data_free(md);
	return rc >= 0;
}

bool uregex_matches(const char *pattern, const char *subject)
{
	char err[160];
	struct uregex *re = uregex_compile(pattern, err, sizeof(err));
	bool m = re && uregex_match(re, subject);
	uregex_free(re);
	return m;
}
