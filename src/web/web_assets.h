/* The web interface's static files, compiled in from web/ by tools/embed_web.py. */
#ifndef DEPOT_WEB_ASSETS_H
#define DEPOT_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
	const char *name; /* relative to the prefix: "app.js" */
	const char *content_type;
	const unsigned char *data;
	size_t len;
};

/* "/-/assets/<hash of every file>" */
extern const char web_assets_prefix[];
extern const char web_assets_hash[];
extern const struct web_asset web_assets[];
extern const size_t web_assets_count;
/* The page shell (index.html with the prefix filled in). */
extern const unsigned char web_index_html[];
extern const size_t web_index_html_len;

#endif
