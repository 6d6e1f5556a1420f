/* Names of access and visibility levels. */
#include "roles.h"

#include <string.h>

static const struct {
	const char *name;
	enum access_level level;
} access_names[] = {
	{"guest", ACCESS_GUEST},		{"reporter", ACCESS_REPORTER},
	{"developer", ACCESS_DEVELOPER},	{"maintainer", ACCESS_MAINTAINER},
	{"owner", ACCESS_OWNER},		{"admin", ACCESS_ADMIN},
};

static const struct {
	const char *name;
	enum visibility v;
} vis_names[] = {
	{"private", VIS_PRIVATE},
	{"internal", VIS_INTERNAL},
	{"public", VIS_PUBLIC},
};

int access_level_parse(const char *name, enum access_level *out)
{
	for (size_t i = 0; i < sizeof(access_names) / sizeof(access_names[0]); i++)
		if (strcmp(name, access_names[i].name) == 0) {
			*out = access_names[i].level;
			return 0;
		}
	return -1;
}

const char *access_level_name(enum access_level level)
{
	for (size_t i = 0; i < sizeof(access_names) / sizeof(access_names[0]); i++)
		if (access_names[i].level == level)
			return access_names[i].name;
	return "none";
}

int visibility_parse(const char *name, enum visibility *out)
{
	for (size_t i = 0; i < sizeof(vis_names) / sizeof(vis_names[0]); i++)
		if (strcmp(name, vis_names[i].name) == 0) {
			*out = vis_names[i].v;
			return 0;
		}
	return -1;
}

const char *visibility_name(enum visibility v)
{
	for (size_t i = 0; i < sizeof(vis_names) / sizeof(vis_names[0]); i++)
		if (vis_names[i].v == v)
			return vis_names[i].name;
	return "private";
}
