/* Publishing policies applied on the request path: GitLab's duplicate rule (namespace
 * settings with the exception regex) and package protection rules for push and delete. */
#ifndef DEPOT_POLICY_H
#define DEPOT_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth.h"
#include "meta.h"

/* GitLab's newest semantics: the project's direct group decides; the exception regex is
 * matched (anchored) against the name and the version; with duplicates allowed a match
 * forbids them, with duplicates disallowed a match allows them. */
int policy_duplicates_allowed(struct meta *m, const struct meta_project *project,
			      const char *name, const char *version, bool *allowed);
bool policy_decide_duplicates(const struct meta_dup_settings *s, const char *name,
			      const char *version);

enum protected_action { PROTECT_PUSH, PROTECT_DELETE };

/* Is a caller with these abilities blocked by a protection rule matching the package
 * name? A rule blocks every caller whose level is below its minimum: admins never are,
 * deploy tokens, anonymous callers and retention (level ACCESS_NONE) by any matching rule.
 * rule_id, when not NULL, gets the blocking rule's id. */
int policy_protected(struct meta *m, const struct abilities *ab, int64_t project_id,
		     const char *name, enum protected_action action, bool *blocked,
		     int64_t *rule_id);

/* Shared by the command line and the REST API, so both validate and print alike.
 * The updaters apply the fields present in a JSON object (unknown keys are ignored) and
 * return 0, or -1 with a message such as "<field> does not have a valid value" in err. */
int policy_settings_update(struct meta_dup_settings *s, json_t *in, char *err, size_t cap);
int policy_rule_update(struct meta_protection_rule *r, json_t *in, char *err, size_t cap);
int policy_cleanup_update(struct meta_cleanup_policy *p, json_t *in, char *err, size_t cap);
json_t *policy_settings_json(const struct meta_dup_settings *s);
json_t *policy_rule_json(const struct meta_protection_rule *r);
json_t *policy_cleanup_json(const struct meta_cleanup_policy *p);

#endif
