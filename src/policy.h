/* Publishing policies applied on the request path: GitLab's duplicate rule (namespace
 * settings with the exception regex) and package protection rules for push and delete. */
#ifndef DEPOT_POLICY_H
#define DEPOT_POLICY_H

#include <stdbool.h>

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

/* Is the caller blocked by a protection rule matching the package name? Admins never are;
 * deploy tokens (and anonymous callers) are blocked by any matching rule. */
int policy_protected(struct meta *m, const struct identity *id, const struct abilities *ab,
		     int64_t project_id, const char *name, enum protected_action action,
		     bool *blocked);

#endif
