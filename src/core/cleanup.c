/* Retention (see cleanup.h). */
#include "cleanup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "log.h"
#include "policy.h"
#include "timeutil.h"
#include "uregex.h"

#define DAY_MS (86400LL * 1000)

int cleanup_keep_files_parse(const char *s, int *out)
{
	static const char *const values[] = {"all", "1", "10", "20", "30", "40", "50"};
	for (int i = 0; i < 7; i++)
		if (strcmp(s, values[i]) == 0) {
			*out = i == 0 ? 0 : atoi(values[i]);
			return 0;
		}
	return -1;
}

void cleanup_keep_files_name(int n, char *out, size_t cap)
{
	if (n == 0)
		snprintf(out, cap, "all");
	else
		snprintf(out, cap, "%d", n);
}

struct run {
	struct meta *m;
	const struct meta_cleanup_policy *policy; /* of the project being run; NULL between */
	const char *project_path;
	bool dry_run;
	int64_t now;
	cleanup_report_fn report;
	void *ctx;
	int64_t removed;
	/* rows collected before acting: deletes must not interleave with the read */
	struct meta_package_file *files;
	struct meta_package *pkgs;
	size_t n, cap;
};

/* Retention deletes go to the audit log like any other, with the rule as detail. */
static void audit_delete(struct run *r, const char *name, const char *version,
			 const char *file_name, const char *rule)
{
	struct audit_event ev = {.at_ms = now_ms(), .project_id = r->policy->project_id};
	snprintf(ev.action, sizeof(ev.action), "delete");
	snprintf(ev.username, sizeof(ev.username), "cleanup");
	snprintf(ev.package, sizeof(ev.package), "%s", name);
	snprintf(ev.version, sizeof(ev.version), "%s", version);
	snprintf(ev.file_name, sizeof(ev.file_name), "%s", file_name ? file_name : "");
	snprintf(ev.detail, sizeof(ev.detail), "%s", rule);
	int ret = r->m->ops->audit_append(r->m, &ev, 1);
	if (ret != 0)
		log_line("depot: cannot write the audit log: %s", strerror(-ret));
}

/* One line per removal: "removed file acme/app pkg/1.0/f.txt (package_file 12) by
 * keep_n_duplicated_package_files=1"; "would remove ..." in a dry run. */
static void say(struct run *r, const char *kind, const char *what, const char *rule)
{
	char line[2048];
	snprintf(line, sizeof(line), "%s %s %s %s by %s", r->dry_run ? "would remove" : "removed",
		 kind, r->project_path, what, rule);
	if (!r->dry_run)
		log_line("depot: cleanup %s", line);
	if (r->report)
		r->report(r->ctx, line);
	r->removed++;
}

/* Retention deletes as a caller with no role at all: any delete-protection rule that
 * matches the package keeps it, and the run says so with the rule's id. */
static int kept_by_rule(struct run *r, const char *kind, const char *name, const char *what,
			bool *kept)
{
	const struct abilities nobody = {.level = ACCESS_NONE};
	int64_t rule_id = 0;
	int ret = policy_protected(r->m, &nobody, r->policy->project_id, name, PROTECT_DELETE,
				  kept, &rule_id);
	if (ret != 0 || !*kept)
		return ret;
	char line[2048];
	snprintf(line, sizeof(line), "kept %s %s %s: delete-protected by rule %lld", kind,
		 r->project_path, what, (long long)rule_id);
	if (!r->dry_run)
		log_line("depot: cleanup %s", line);
	if (r->report)
		r->report(r->ctx, line);
	return 0;
}

static int grow(struct run *r, size_t elem, void **arr)
{
	if (r->n < r->cap)
		return 0;
	size_t cap = r->cap ? r->cap * 2 : 64;
	void *p = realloc(*arr, cap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	r->cap = cap;
	return 0;
}

static int collect_file(void *ctx, const struct meta_package_file *f)
{
	struct run *r = ctx;
	if (grow(r, sizeof(*f), (void **)&r->files) != 0)
		return -ENOMEM;
	r->files[r->n++] = *f;
	return 0;
}

static int collect_package(void *ctx, const struct meta_package *p)
{
	struct run *r = ctx;
	if (grow(r, sizeof(*p), (void **)&r->pkgs) != 0)
		return -ENOMEM;
	r->pkgs[r->n++] = *p;
	return 0;
}

static int duplicated_files(struct run *r)
{
	int keep = r->policy->keep_n_files;
	int ret = r->m->ops->files_beyond(r->m, r->policy->project_id, keep, collect_file, r);
	char rule[64], what[STORED_NAME_MAX + 600];
	snprintf(rule, sizeof(rule), "keep_n_duplicated_package_files=%d", keep);
	for (size_t i = 0; ret == 0 && i < r->n; i++) {
		const struct meta_package_file *f = &r->files[i];
		struct meta_package pkg;
		if ((ret = r->m->ops->package_get(r->m, r->policy->project_id, f->package_id, &pkg)) != 0)
			break;
		snprintf(what, sizeof(what), "%s/%s/%s (package_file %lld)", pkg.name,
			 pkg.version, f->file_name, (long long)f->id);
		bool kept = false;
		if ((ret = kept_by_rule(r, "file", pkg.name, what, &kept)) != 0)
			break;
		if (kept)
			continue;
		if (!r->dry_run) {
			ret = r->m->ops->files_destroy(r->m, f->package_id, f->id, NULL, false);
			if (ret == -ENOENT) { /* deleted meanwhile */
				ret = 0;
				continue;
			}
			if (ret != 0)
				break;
			audit_delete(r, pkg.name, pkg.version, f->file_name, rule);
		}
		say(r, "file", what, rule);
	}
	free(r->files);
	r->files = NULL;
	r->n = r->cap = 0;
	return ret;
}

/* The first rule that removes this version, or NULL. rank counts the newer versions of the
 * same name that the keep-regex does not keep. */
static const char *version_rule(const struct run *r, const struct meta_package *p, int rank,
				char *buf, size_t cap)
{
	const struct meta_cleanup_policy *pol = r->policy;
	int64_t last_used = p->last_downloaded_at_ms ? p->last_downloaded_at_ms : p->created_at_ms;
	if (pol->keep_n_versions > 0 && rank >= pol->keep_n_versions)
		snprintf(buf, cap, "keep_n_versions=%d", pol->keep_n_versions);
	else if (pol->older_than_days > 0 && p->created_at_ms < r->now - pol->older_than_days * DAY_MS)
		snprintf(buf, cap, "older_than_days=%d", pol->older_than_days);
	else if (pol->not_downloaded_days > 0 &&
		 last_used < r->now - pol->not_downloaded_days * DAY_MS)
		snprintf(buf, cap, "not_downloaded_days=%d", pol->not_downloaded_days);
	else
		return NULL;
	return buf;
}

static int old_versions(struct run *r)
{
	const struct meta_cleanup_policy *pol = r->policy;
	char err[160], rule[64], what[600];
	struct uregex *keep = NULL;
	if (pol->keep_regex[0] && !(keep = uregex_compile(pol->keep_regex, err, sizeof(err))))
		return -EINVAL;
	int ret = r->m->ops->project_packages(r->m, pol->project_id, collect_package, r);
	int rank = 0;
	for (size_t i = 0; ret == 0 && i < r->n; i++) {
		const struct meta_package *p = &r->pkgs[i];
		if (i == 0 || strcmp(p->name, r->pkgs[i - 1].name) != 0)
			rank = 0;
		if (keep && uregex_match(keep, p->version))
			continue;
		const char *why = version_rule(r, p, rank++, rule, sizeof(rule));
		if (!why)
			continue;
		snprintf(what, sizeof(what), "%s/%s (package %lld)", p->name, p->version,
			 (long long)p->id);
		bool kept = false;
		if ((ret = kept_by_rule(r, "version", p->name, what, &kept)) != 0)
			break;
		if (kept)
			continue;
		if (!r->dry_run) {
			ret = r->m->ops->package_destroy(r->m, p->id);
			if (ret == -ENOENT) { /* deleted meanwhile (another node's run) */
				ret = 0;
				continue;
			}
			if (ret != 0)
				break;
			audit_delete(r, p->name, p->version, NULL, why);
		}
		say(r, "version", what, why);
	}
	uregex_free(keep);
	free(r->pkgs);
	r->pkgs = NULL;
	r->n = r->cap = 0;
	return ret;
}

static int run_project(struct meta *m, int64_t project_id, struct run *base)
{
	struct meta_cleanup_policy pol;
	struct meta_project project;
	int ret = m->ops->cleanup_get(m, project_id, &pol);
	if (ret == 0)
		ret = m->ops->project_get(m, project_id, &project);
	if (ret != 0)
		return ret;
	base->policy = &pol;
	base->project_path = project.path;
	if (pol.keep_n_files > 0)
		ret = duplicated_files(base);
	if (ret == 0 && (pol.keep_n_versions > 0 || pol.older_than_days > 0 ||
			 pol.not_downloaded_days > 0))
		ret = old_versions(base);
	base->policy = NULL; /* both pointed into this frame */
	base->project_path = NULL;
	return ret;
}

struct all_ctx {
	struct meta *m;
	struct run *run;
};

static int run_one(void *ctx, int64_t project_id)
{
	struct all_ctx *a = ctx;
	return run_project(a->m, project_id, a->run);
}

int cleanup_run(struct meta *m, int64_t project_id, bool dry_run, int64_t now_ms,
		cleanup_report_fn report, void *ctx, int64_t *removed)
{
	struct run r = {.m = m, .dry_run = dry_run, .now = now_ms, .report = report, .ctx = ctx};
	int ret;
	if (project_id) {
		ret = run_project(m, project_id, &r);
	} else {
		struct all_ctx a = {m, &r};
		ret = m->ops->cleanup_projects(m, run_one, &a);
	}
	*removed = r.removed;
	return ret;
}
