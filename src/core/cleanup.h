/* Retention: runs a project's cleanup policy. GitLab's keep_n_duplicated_package_files keeps
 * the N newest files of each name in each package; beyond GitLab, versions go when they are
 * not among the N newest of their name, older than D days, or not downloaded for D days —
 * except versions matching the keep-regex. Removals go through the same deletes as the API
 * (rows marked pending destruction, blobs left to the sweep) and are logged with their rule. */
#ifndef DEPOT_CLEANUP_H
#define DEPOT_CLEANUP_H

#include <stdbool.h>
#include <stdint.h>

#include "meta.h"

/* Called once per removed (or, in a dry run, removable) file or version. */
typedef void (*cleanup_report_fn)(void *ctx, const char *line);

/* Runs the policy of one project (project_id != 0) or of every project that has one. */
int cleanup_run(struct meta *m, int64_t project_id, bool dry_run, int64_t now_ms,
		cleanup_report_fn report, void *ctx, int64_t *removed);

/* The keep_n_duplicated_package_files values GitLab accepts; "all" is 0. */
int cleanup_keep_files_parse(const char *s, int *out);
void cleanup_keep_files_name(int n, char *out, size_t cap);

#endif
