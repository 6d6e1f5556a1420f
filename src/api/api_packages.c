/* GitLab's Packages API for a project and a group: list, inspect, delete, and download
 * by id, with GitLab's filters, ordering, pagination and status rules
 * (gitlab-behaviour.md 4.4-4.9). Deletes only mark rows pending destruction; the sweep
 * (gc.c) removes blobs no live file needs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "timeutil.h"

enum { CAP_ID, CAP_PACKAGE, CAP_FILE };

static const char *const package_types[] = {
	"generic", "maven", "npm", "conan", "nuget", "pypi", "composer", "helm", "terraform_module",
	"golang", "debian", "rubygems", "rpm", "ml_model", "cargo", NULL};
static const char *const sorts[] = {"asc", "desc", NULL};

/* Statuses GitLab shows in listings, and the ones detail views serve. */
static bool displayable(enum package_status s)
{
	return s == PKG_DEFAULT || s == PKG_ERROR || s == PKG_DEPRECATED;
}

/* Caller and project, with the ability the route needs (read_package, or destroy_package
 * for DELETE). */
static int project_or_reply(struct request *r, struct meta_project *project, struct abilities *ab)
{
	if (api_caller_or_reply(r) != 0 ||
	    api_project_or_reply_as(r, CAP_ID, "404 Project Not Found", false, project, ab) != 0)
		return -1;
	return 0;
}

static int id_capture(struct request *r, int cap, int64_t *out)
{
	char v[32], *end;
	if (http_capture(r, cap, v, sizeof(v)) != 0)
		return -1;
	long long n = strtoll(v, &end, 10);
	if (*end || end == v)
		return -1;
	*out = n;
	return 0;
}

/* The package the URL names, in this project; 404 "404 Not found" when it does not exist
 * or is not displayable. */
static int package_or_reply(struct request *r, const struct meta_project *project,
			    struct meta_package *pkg, bool (*status_ok)(enum package_status))
{
	int64_t id;
	int ret = id_capture(r, CAP_PACKAGE, &id) == 0
			  ? r->app->meta->ops->package_get(r->app->meta, project->id, id, pkg)
			  : -ENOENT;
	if (ret == 0 && !status_ok(pkg->status))
		ret = -ENOENT;
	if (ret == -ENOENT)
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not found");
	else if (ret != 0)
		http_reply_internal(r, "package lookup failed", ret);
	return ret == 0 ? 0 : -1;
}

static json_t *time_or_null(int64_t ms)
{
	char ts[ISO8601_LEN + 1];
	if (!ms)
		return json_null();
	iso8601_ms(ms, ts);
	return json_string(ts);
}

/* API::Entities::Package; listings add depot's size and file_count (with_size). */
static json_t *package_json(struct request *r, const struct meta_package *p,
			    const char *project_path, bool can_destroy, bool with_project,
			    bool with_size)
{
	json_t *links = json_object();
	char buf[1024];
	if (p->status == PKG_DEFAULT || p->status == PKG_DEPRECATED) {
		snprintf(buf, sizeof(buf), "/%s/-/packages/%lld", project_path, (long long)p->id);
		json_object_set_new(links, "web_path", json_string(buf));
	}
	if (can_destroy) {
		char base[512];
		http_base_url(r, base, sizeof(base));
		snprintf(buf, sizeof(buf), "%s/api/v4/projects/%lld/packages/%lld", base,
			 (long long)p->project_id, (long long)p->id);
		json_object_set_new(links, "delete_api_path", json_string(buf));
	}
	json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:[]}", "id", (json_int_t)p->id,
			      "name", p->name, "version", p->version, "package_type", "generic",
			      "status", package_status_name(p->status), "_links", links,
			      "created_at", time_or_null(p->created_at_ms), "last_downloaded_at",
			      time_or_null(p->last_downloaded_at_ms), "tags");
	if (o && with_size) {
		json_object_set_new(o, "size", json_integer(p->size));
		json_object_set_new(o, "file_count", json_integer(p->file_count));
	}
	if (o && with_project) {
		json_object_set_new(o, "project_id", json_integer(p->project_id));
		json_object_set_new(o, "project_path", json_string(project_path));
	}
	return o;
}

/* Listing state shared by the project and group listings. */
struct listing {
	struct request *r;
	json_t *items;
	const char *project_path; /* NULL: take each row's own */
	bool can_destroy;	  /* project listing: the caller's right on that project */
	bool group;
};

static int add_package(void *ctx, const struct meta_package *p)
{
	struct listing *l = ctx;
	json_t *o = package_json(l->r, p, l->project_path ? l->project_path : p->project_path,
				 l->can_destroy, l->group, true);
	return o && json_array_append_new(l->items, o) == 0 ? 0 : -ENOMEM;
}

/* Reads the listing parameters shared by project and group listings into q. */
static int package_query_or_reply(struct request *r, struct package_query *q, struct page *pg,
				  char *name, size_t name_cap, char *version, size_t version_cap,
				  bool group, bool *no_match)
{
	/* size: depot's, for the web interface's largest packages */
	static const char *const orders[] = {"created_at", "name", "version", "type",
					     "project_path", "size", NULL};
	static const char *const statuses[] = {"default", "hidden", "processing", "error",
					       "pending_destruction", "deprecated", NULL};
	int order = 0, sort = 0, type = 0, status = -1;
	bool versionless = false;
	if (api_page_or_reply(r, pg) != 0 || api_enum_or_reply(r, "order_by", orders, &order) != 0 ||
	    api_enum_or_reply(r, "sort", sorts, &sort) != 0 ||
	    api_enum_or_reply(r, "package_type", package_types, &type) != 0 ||
	    api_enum_or_reply(r, "status", statuses, &status) != 0 ||
	    api_bool_or_reply(r, "include_versionless", &versionless) != 0)
		return -1;
	if (order == PKG_ORDER_PROJECT_PATH && !group)
		return api_param_or_reply(r, "order_by", "does not have a valid value");
	int got = http_query(r, "package_name", name, name_cap);
	if (got < 0)
		return api_param_or_reply(r, "package_name", "is invalid");
	q->name_like = got ? name : NULL;
	got = http_query(r, "package_version", version, version_cap);
	if (got < 0)
		return api_param_or_reply(r, "package_version", "is invalid");
	q->version = got ? version : NULL;
	q->status = status;
	q->order = (enum package_order)order;
	q->desc = sort == 1;
	q->limit = pg->per_page;
	q->offset = (pg->page - 1) * pg->per_page;
	*no_match = type != 0; /* depot holds generic packages only */
	return 0;
}

static void list_and_reply(struct request *r, struct package_query *q, struct listing *l,
			   const struct page *pg, bool no_match)
{
	int64_t total = 0;
	int ret = 0;
	l->items = json_array();
	if (!l->items)
		ret = -ENOMEM;
	else if (!no_match && q->nprojects > 0)
		ret = r->app->meta->ops->packages_list(r->app->meta, q, add_package, l, &total);
	if (ret != 0) {
		json_decref(l->items);
		http_reply_internal(r, "package listing failed", ret);
		return;
	}
	api_reply_page(r, l->items, total, pg);
}

void packages_list_done(struct request *r)
{
	struct meta_project project;
	struct abilities ab;
	struct package_query q = {0};
	struct page pg;
	char name[PACKAGE_NAME_MAX + 1], version[PACKAGE_VERSION_MAX + 1];
	bool no_match = false;
	if (project_or_reply(r, &project, &ab) != 0 ||
	    package_query_or_reply(r, &q, &pg, name, sizeof(name), version, sizeof(version), false,
				   &no_match) != 0)
		return;
	q.project_ids = &project.id;
	q.nprojects = 1;
	struct listing l = {.r = r, .project_path = project.path, .can_destroy = ab.destroy_package};
	list_and_reply(r, &q, &l, &pg, no_match);
}

static int add_version(void *ctx, const struct meta_package *p)
{
	struct listing *l = ctx;
	json_t *o = package_json(l->r, p, l->project_path, l->can_destroy, false, false);
	return o && json_array_append_new(l->items, o) == 0 ? 0 : -ENOMEM;
}

void packages_get_done(struct request *r)
{
	struct meta_project project;
	struct abilities ab;
	struct meta_package pkg;
	if (project_or_reply(r, &project, &ab) != 0 ||
	    package_or_reply(r, &project, &pkg, displayable) != 0)
		return;
	if (pkg.status == PKG_ERROR) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "Package not found");
		return;
	}
	struct listing l = {.r = r, .project_path = project.path, .can_destroy = ab.destroy_package,
			    .items = json_array()};
	json_t *o = package_json(r, &pkg, project.path, ab.destroy_package, false, false);
	int ret = o && l.items ? 0 : -ENOMEM;
	if (ret == 0)
		ret = r->app->meta->ops->package_versions(r->app->meta, &pkg, add_version, &l);
	if (ret != 0) {
		json_decref(o);
		json_decref(l.items);
		http_reply_internal(r, "package versions failed", ret);
		return;
	}
	json_object_set_new(o, "versions", l.items);
	http_reply_json(r, MHD_HTTP_OK, o);
}

void packages_delete_done(struct request *r)
{
	struct meta_project project;
	struct abilities ab;
	struct meta_package pkg;
	if (project_or_reply(r, &project, &ab) != 0 ||
	    package_or_reply(r, &project, &pkg, displayable) != 0 ||
	    api_delete_allowed_or_reply(r, &ab, &pkg) != 0 ||
	    api_unmodified_or_reply(r, pkg.updated_at_ms) != 0)
		return;
	int ret = r->app->meta->ops->package_destroy(r->app->meta, pkg.id);
	if (ret == -ENOENT) { /* deleted meanwhile, by another request */
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not found");
		return;
	}
	if (ret != 0) {
		http_reply_internal(r, "package delete failed", ret);
		return;
	}
	api_audit(r, "delete", pkg.project_id, pkg.name, pkg.version, NULL, 0, NULL, "package");
	http_reply_no_content(r);
}

static int uploader_found(void *ctx, int64_t file_id, const char *username)
{
	json_t *items = ctx, *o;
	size_t i;
	json_array_foreach(items, i, o) {
		if (json_integer_value(json_object_get(o, "id")) == file_id) {
			json_t *name = json_string(username);
			if (name) /* not UTF-8 (it always is): stays null */
				json_object_set_new(o, "uploaded_by", name);
		}
	}
	return 0;
}

/* depot's uploaded_by on each file of a listing's page (null when the audit log has no
 * upload event for it), in one query for the page. */
static int add_uploaders(struct request *r, int64_t package_id, json_t *items)
{
	size_t n = json_array_size(items), i;
	json_t *o;
	if (n == 0)
		return 0;
	int64_t *ids = calloc(n, sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	json_array_foreach(items, i, o) {
		ids[i] = json_integer_value(json_object_get(o, "id"));
		json_object_set_new(o, "uploaded_by", json_null());
	}
	int ret = r->app->meta->ops->files_uploaded_by(r->app->meta, package_id, ids, n,
						       uploader_found, items);
	free(ids);
	return ret;
}

void package_files_list_done(struct request *r)
{
	static const char *const orders[] = {"id", "created_at", "file_name", NULL};
	struct meta_project project;
	struct abilities ab;
	struct meta_package pkg;
	struct page pg;
	int order = 0, sort = 0;
	if (project_or_reply(r, &project, &ab) != 0 || api_page_or_reply(r, &pg) != 0 ||
	    api_enum_or_reply(r, "order_by", orders, &order) != 0 ||
	    api_enum_or_reply(r, "sort", sorts, &sort) != 0 ||
	    package_or_reply(r, &project, &pkg, displayable) != 0)
		return;
	struct file_query q = {.package_id = pkg.id, .order = (enum file_order)order,
			       .desc = sort == 1, .limit = pg.per_page,
			       .offset = (pg.page - 1) * pg.per_page};
	int64_t total = 0;
	json_t *items = json_array();
	int ret = items ? r->app->meta->ops->package_files_list(r->app->meta, &q, api_file_json, items,
								&total)
			: -ENOMEM;
	if (ret == 0)
		ret = add_uploaders(r, pkg.id, items);
	if (ret != 0) {
		json_decref(items);
		http_reply_internal(r, "file listing failed", ret);
		return;
	}
	api_reply_page(r, items, total, &pg);
}

static bool not_pending(enum package_status s)
{
	return s != PKG_PENDING_DESTRUCTION;
}

static bool installable(enum package_status s)
{
	return s == PKG_DEFAULT || s == PKG_HIDDEN || s == PKG_DEPRECATED;
}

void package_file_delete_done(struct request *r)
{
	struct meta *m = r->app->meta;
	struct meta_project project;
	struct abilities ab;
	struct meta_package pkg;
	struct meta_package_file f;
	int64_t file_id;
	if (project_or_reply(r, &project, &ab) != 0 ||
	    package_or_reply(r, &project, &pkg, not_pending) != 0 ||
	    api_delete_allowed_or_reply(r, &ab, &pkg) != 0)
		return;
	int ret = id_capture(r, CAP_FILE, &file_id) == 0
			  ? m->ops->package_file_get(m, pkg.id, file_id, &f)
			  : -ENOENT;
	if (ret == 0 && f.status != FILE_DEFAULT)
		ret = -ENOENT;
	if (ret == 0 && api_unmodified_or_reply(r, f.updated_at_ms) != 0)
		return;
	if (ret == 0)
		ret = m->ops->files_destroy(m, pkg.id, file_id, NULL, false);
	if (ret == -ENOENT) {
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not Found");
	} else if (ret != 0) {
		http_reply_internal(r, "file delete failed", ret);
	} else {
		char detail[48];
		snprintf(detail, sizeof(detail), "package_file %lld", (long long)file_id);
		api_audit(r, "delete", pkg.project_id, pkg.name, pkg.version, f.file_name, 0, NULL,
			  detail);
		http_reply_no_content(r);
	}
}

void package_file_download_done(struct request *r)
{
	struct meta_project project;
	struct abilities ab;
	struct meta_package pkg;
	struct meta_package_file f;
	int64_t file_id;
	if (project_or_reply(r, &project, &ab) != 0)
		return;
	int64_t pkg_id;
	int ret = id_capture(r, CAP_PACKAGE, &pkg_id) == 0 && id_capture(r, CAP_FILE, &file_id) == 0
			  ? r->app->meta->ops->package_get(r->app->meta, project.id, pkg_id, &pkg)
			  : -ENOENT;
	if (ret == 0 && !installable(pkg.status))
		ret = -ENOENT;
	if (ret == 0)
		ret = r->app->meta->ops->package_file_get(r->app->meta, pkg.id, file_id, &f);
	if (ret == 0 && f.status != FILE_DEFAULT)
		ret = -ENOENT;
	if (ret == -ENOENT)
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not Found");
	else if (ret != 0)
		http_reply_internal(r, "file lookup failed", ret);
	else
		api_send_file(r, &pkg, &f);
}

/* Group listing: the projects of the group (and subgroups) whose packages the caller may
 * read. */
struct readable_projects {
	struct request *r;
	int64_t *ids;
	size_t n, cap;
	int err;
};

static int collect_readable(void *ctx, const struct meta_project *p)
{
	struct readable_projects *rp = ctx;
	struct abilities ab;
	int ret = auth_abilities(rp->r->app->meta, &rp->r->ident, p, &ab);
	if (ret != 0 || !ab.read_package)
		return ret;
	if (rp->n == rp->cap) {
		size_t cap = rp->cap ? rp->cap * 2 : 16;
		int64_t *ids = realloc(rp->ids, cap * sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		rp->ids = ids;
		rp->cap = cap;
	}
	rp->ids[rp->n++] = p->id;
	return 0;
}

void group_packages_list_done(struct request *r)
{
	struct meta_group g;
	struct package_query q = {0};
	struct page pg;
	char name[PACKAGE_NAME_MAX + 1], version[PACKAGE_VERSION_MAX + 1];
	bool no_match = false, direct_only = false;
	if (api_caller_or_reply(r) != 0 || api_group_or_reply(r, CAP_ID, &g, NULL) != 0 ||
	    api_bool_or_reply(r, "exclude_subgroups", &direct_only) != 0 ||
	    package_query_or_reply(r, &q, &pg, name, sizeof(name), version, sizeof(version), true,
				   &no_match) != 0)
		return;
	struct readable_projects rp = {.r = r};
	int ret = r->app->meta->ops->group_projects(r->app->meta, g.id, direct_only,
						    collect_readable, &rp);
	if (ret != 0) {
		free(rp.ids);
		http_reply_internal(r, "group projects failed", ret);
		return;
	}
	q.project_ids = rp.ids;
	q.nprojects = rp.n;
	struct listing l = {.r = r, .group = true};
	list_and_reply(r, &q, &l, &pg, no_match);
	free(rp.ids);
}
