/* Access levels and visibility levels, with GitLab's numeric values, and their names as
 * the command line and the API spell them. */
#ifndef DEPOT_ROLES_H
#define DEPOT_ROLES_H

enum access_level {
	ACCESS_NONE = 0,
	ACCESS_GUEST = 10,
	ACCESS_REPORTER = 20,
	ACCESS_DEVELOPER = 30,
	ACCESS_MAINTAINER = 40,
	ACCESS_OWNER = 50,
	ACCESS_ADMIN = 60, /* instance admin; only used in comparisons */
};

enum visibility {
	VIS_PRIVATE = 0,
	VIS_INTERNAL = 10,
	VIS_PUBLIC = 20,
};

/* Returns 0 and sets *out, or -1 for an unknown name. */
int access_level_parse(const char *name, enum access_level *out);
const char *access_level_name(enum access_level level);
int visibility_parse(const char *name, enum visibility *out);
const char *visibility_name(enum visibility v);

#endif
