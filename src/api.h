/* The HTTP API: the route table, and helpers the handlers share to identify the caller and
 * load the project a request names, replying with GitLab's statuses when they fail. */
#ifndef DEPOT_API_H
#define DEPOT_API_H

#include <stddef.h>

#include "http.h"
#include "meta.h"

extern const struct route api_routes[];
extern const size_t api_routes_count;

/* Resolves the caller into r->ident and checks the token's scope for this method.
 * Returns 0, or -1 having replied (401 for bad tokens, 403 insufficient_scope). */
int api_identify_or_reply(struct request *r);

/* Loads the project named by capture cap and the caller's abilities on it. A project that
 * does not exist or that the caller cannot see answers 401 to anonymous callers and
 * 404 {"message": not_found} to others. Returns 0, or -1 having replied. */
int api_project_or_reply(struct request *r, int cap, const char *not_found,
			 struct meta_project *project, struct abilities *ab);

/* 400 {"error": "<param> <fragment>"} when fragment is non-NULL; returns -1 then, else 0. */
int api_param_or_reply(struct request *r, const char *param, const char *fragment);

/* The current user (api_user.c). */
void api_user_done(struct request *r);
/* A GET/HEAD route's on_start: the work waits for on_done, because answering on the first
 * callback makes libmicrohttpd close the connection instead of keeping it alive. */
void api_read_start(struct request *r);

/* Generic packages (api_generic.c). */
void generic_upload_start(struct request *r);
void generic_upload_body(struct request *r, const char *data, size_t len);
void generic_upload_done(struct request *r);
void generic_upload_free(struct request *r);
void generic_download_done(struct request *r);
void generic_files_done(struct request *r);

#endif
