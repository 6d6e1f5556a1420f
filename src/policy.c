/* Duplicate and protection policies (see policy.h). */
#include "policy.h"

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

int policy_protected(struct meta *m, const struct identity *id, const struct abilities *ab,
		     int64_t project_id, const char *name, enum protected_action action,
		     bool *blocked)
{
	int push = 0, del = 0;
	int ret = m->ops->rules_match(m, project_id, name, &push, &del);
	if (ret != 0)
		return ret;
	int minimum = action == PROTECT_PUSH ? push : del;
	if (minimum == 0)
		*blocked = false;
	else if (id->kind != IDENT_USER)
		*blocked = true;
	else
		*blocked = (int)ab->level < minimum;
	return 0;
}
