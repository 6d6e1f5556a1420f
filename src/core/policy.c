/* Duplicate and protection policies (see policy.h). */
#include "policy.h"

#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "uregex.h"

bool policy_decide_duplicates(const struct meta_dup_settings *s, const char *name,
			      const char *version)
{
	bool match = false;
	if (s->exception_regex[0]) {
		char err[160];
		struct uregex *re = uregex_compile(s->exception_regex, err, sizeof(err));
		match = re && (uregex_match(re, name) || uregex_match(re, version));
		uregex_free(re);
	}
	return s->allowed ? !match : match;
}

int policy_duplicates_allowed(struct meta *m, const struct meta_project *project,
			      const char *name, const char *version, bool *allowed)
{
	struct meta_dup_settings s;
	int ret = m->ops->settings_get(m, project->group_id, &s);
	if (ret == 0)
		*allowed = policy_decide_duplicates(&s, name, version);
	return ret;
}

int policy_protected(struct meta *m, const struct abilities *ab, int64_t project_id,
		     const char *name, enum protected_action action, bool *blocked,
		     int64_t *rule_id)
{
	struct meta_rule_match match;
	int ret = m->ops->rules_match(m, project_id, name, &match);
	if (ret != 0)
		return ret;
	int minimum = action == PROTECT_PUSH ? match.push_level : match.delete_level;
	*blocked = minimum != 0 && (int)ab->level < minimum;
	if (rule_id)
		*rule_id = action == PROTECT_PUSH ? match.push_rule_id : match.delete_rule_id;
	return 0;
}

static int fail(char *err, size_t cap, const char *field, const char *what)
{
	snprintf(err, cap, "%s %s", field, what);
	return -1;
}

/* A user regex field: a string of at most 255 characters that PCRE2 compiles. */
static int regex_field(json_t *in, const char *field, char *dst, size_t dcap, char *err,
		       size_t cap)
{
	json_t *v = json_object_get(in, field);
	if (!v)
		return 0;
	if (!json_is_string(v))
		return fail(err, cap, field, "is invalid");
	char msg[200];
	struct uregex *re = uregex_compile(json_string_value(v), msg, sizeof(msg));
	if (!re)
		return fail(err, cap, field, msg);
	uregex_free(re);
	snprintf(dst, dcap, "%s", json_string_value(v));
	return 0;
}

int policy_settings_update(struct meta_dup_settings *s, json_t *in, char *err, size_t cap)
{
	json_t *v = json_object_get(in, "generic_duplicates_allowed");
	if (v && !json_is_boolean(v))
		return fail(err, cap, "generic_duplicates_allowed", "is invalid");
	if (regex_field(in, "generic_duplicate_exception_regex", s->exception_regex,
			sizeof(s->exception_regex), err, cap) != 0)
		return -1;
	if (v)
		s->allowed = json_is_true(v);
	return 0;
}

json_t *policy_settings_json(const struct meta_dup_settings *s)
{
	return json_pack("{s:b,s:s}", "generic_duplicates_allowed", s->allowed,
			 "generic_duplicate_exception_regex", s->exception_regex);
}

/* A level field: one of names, or null for "not set". */
static int level_field(json_t *in, const char *field, const char *const *names, int *out,
		       char *err, size_t cap)
{
	json_t *v = json_object_get(in, field);
	if (!v)
		return 0;
	if (json_is_null(v)) {
		*out = 0;
		return 0;
	}
	enum access_level level;
	for (int i = 0; json_is_string(v) && names[i]; i++)
		if (strcmp(json_string_value(v), names[i]) == 0 &&
		    access_level_parse(names[i], &level) == 0) {
			*out = (int)level;
			return 0;
		}
	return fail(err, cap, field, "does not have a valid value");
}

int policy_rule_update(struct meta_protection_rule *r, json_t *in, char *err, size_t cap)
{
	static const char *const push[] = {"maintainer", "owner", "admin", NULL};
	static const char *const del[] = {"owner", "admin", NULL};
	json_t *v = json_object_get(in, "package_name_pattern");
	if (v) {
		const char *pat = json_string_value(v);
		size_t n = pat ? strlen(pat) : 0;
		if (n == 0 || n > 255)
			return fail(err, cap, "package_name_pattern", "is invalid");
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)pat[i] < 0x20 || pat[i] == 0x7f)
				return fail(err, cap, "package_name_pattern", "is invalid");
		snprintf(r->pattern, sizeof(r->pattern), "%s", pat);
	}
	v = json_object_get(in, "package_type");
	if (v && !(json_is_string(v) && strcmp(json_string_value(v), "generic") == 0))
		return fail(err, cap, "package_type", "does not have a valid value");
	if (level_field(in, "minimum_access_level_for_push", push, &r->push_level, err, cap) != 0 ||
	    level_field(in, "minimum_access_level_for_delete", del, &r->delete_level, err, cap) != 0)
		return -1;
	if (!r->pattern[0])
		return fail(err, cap, "package_name_pattern", "is missing");
	if (!r->push_level && !r->delete_level) {
		snprintf(err, cap, "a rule needs minimum_access_level_for_push or "
				   "minimum_access_level_for_delete");
		return -1;
	}
	return 0;
}

static json_t *level_json(int level)
{
	return level ? json_string(access_level_name((enum access_level)level)) : json_null();
}

json_t *policy_rule_json(const struct meta_protection_rule *r)
{
	return json_pack("{s:I,s:I,s:s,s:s,s:o,s:o}", "id", (json_int_t)r->id, "project_id",
			 (json_int_t)r->project_id, "package_name_pattern", r->pattern,
			 "package_type", "generic", "minimum_access_level_for_push",
			 level_json(r->push_level), "minimum_access_level_for_delete",
			 level_json(r->delete_level));
}

/* A count field: a non-negative integer (a decimal string is accepted too), null or 0 for off. */
static int count_field(json_t *in, const char *field, int *out, char *err, size_t cap)
{
	json_t *v = json_object_get(in, field);
	if (!v)
		return 0;
	long long n = 0;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		n = strtoll(s, &end, 10);
		if (end == s || *end)
			return fail(err, cap, field, "is invalid");
	} else if (!json_is_null(v)) {
		return fail(err, cap, field, "is invalid");
	}
	if (n < 0 || n > 1000000)
		return fail(err, cap, field, "is invalid");
	*out = (int)n;
	return 0;
}

int policy_cleanup_update(struct meta_cleanup_policy *p, json_t *in, char *err, size_t cap)
{
	json_t *v = json_object_get(in, "keep_n_duplicated_package_files");
	if (v && (!json_is_string(v) ||
		  cleanup_keep_files_parse(json_string_value(v), &p->keep_n_files) != 0))
		return fail(err, cap, "keep_n_duplicated_package_files", "is invalid");
	if (count_field(in, "keep_n_versions", &p->keep_n_versions, err, cap) != 0 ||
	    count_field(in, "older_than_days", &p->older_than_days, err, cap) != 0 ||
	    count_field(in, "not_downloaded_days", &p->not_downloaded_days, err, cap) != 0)
		return -1;
	return regex_field(in, "keep_regex", p->keep_regex, sizeof(p->keep_regex), err, cap);
}

static json_t *count_json(int n)
{
	return n ? json_integer(n) : json_null();
}

json_t *policy_cleanup_json(const struct meta_cleanup_policy *p)
{
	char keep[16];
	cleanup_keep_files_name(p->keep_n_files, keep, sizeof(keep));
	return json_pack("{s:s,s:o,s:o,s:o,s:s}", "keep_n_duplicated_package_files", keep,
			 "keep_n_versions", count_json(p->keep_n_versions), "older_than_days",
			 count_json(p->older_than_days), "not_downloaded_days",
			 count_json(p->not_downloaded_days), "keep_regex", p->keep_regex);
}
