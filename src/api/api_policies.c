/* Publishing policies over REST: a group's duplicate settings (owners and admins change
 * them), a project's protection rules and cleanup policy (maintainers and above; never job
 * or deploy tokens). Who may is decided by the route's ability (auth.c); validation and
 * JSON are shared with the CLI (policy.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "policy.h"

enum { CAP_ID, CAP_RULE };

static void reply_invalid(struct request *r, const char *err)
{
	http_reply_error(r, MHD_HTTP_BAD_REQUEST, err);
}

static void reply_stored(struct request *r, int ret, unsigned status, json_t *body)
{
	if (ret != 0) {
		json_decref(body);
		http_reply_internal(r, "policy store failed", ret);
	} else {
		http_reply_json(r, status, body);
	}
}

void settings_get_done(struct request *r)
{
	struct meta_group g;
	struct meta_dup_settings s;
	if (api_caller_or_reply(r) != 0 || api_group_or_reply(r, CAP_ID, &g, NULL) != 0)
		return;
	int ret = r->app->meta->ops->settings_get(r->app->meta, g.id, &s);
	reply_stored(r, ret, MHD_HTTP_OK, ret ? NULL : policy_settings_json(&s));
}

void settings_put_done(struct request *r)
{
	struct meta *m = r->app->meta;
	struct meta_group g;
	struct meta_dup_settings s;
	if (api_caller_or_reply(r) != 0 || api_group_or_reply(r, CAP_ID, &g, NULL) != 0)
		return;
	json_t *body = http_body_json(r);
	if (!body)
		return;
	char err[256];
	int ret = m->ops->settings_get(m, g.id, &s);
	if (ret == 0 && policy_settings_update(&s, body, err, sizeof(err)) != 0) {
		json_decref(body);
		reply_invalid(r, err);
		return;
	}
	json_decref(body);
	if (ret == 0)
		ret = m->ops->settings_set(m, g.id, &s);
	reply_stored(r, ret, MHD_HTTP_OK, ret ? NULL : policy_settings_json(&s));
}

/* Caller and project; the route's ability (admin_packages) is checked on loading it. */
static int maintainer_project_or_reply(struct request *r, struct meta_project *project)
{
	struct abilities ab;
	if (api_caller_or_reply(r) != 0 ||
	    api_project_or_reply_as(r, CAP_ID, "404 Project Not Found", false, project, &ab) != 0)
		return -1;
	return 0;
}

static int add_rule(void *ctx, const struct meta_protection_rule *rule)
{
	json_t *o = policy_rule_json(rule);
	return o && json_array_append_new(ctx, o) == 0 ? 0 : -ENOMEM;
}

void rules_list_done(struct request *r)
{
	struct meta_project project;
	struct page pg;
	if (maintainer_project_or_reply(r, &project) != 0 || api_page_or_reply(r, &pg) != 0)
		return;
	json_t *all = json_array();
	int ret = all ? r->app->meta->ops->rules_list(r->app->meta, project.id, add_rule, all)
		      : -ENOMEM;
	if (ret != 0) {
		json_decref(all);
		http_reply_internal(r, "rule listing failed", ret);
		return;
	}
	/* Rules per project are few: page the full list in memory. */
	json_t *page = json_array();
	size_t total = json_array_size(all);
	for (size_t i = (size_t)((pg.page - 1) * pg.per_page);
	     page && i < total && json_array_size(page) < (size_t)pg.per_page; i++)
		json_array_append(page, json_array_get(all, i));
	json_decref(all);
	api_reply_page(r, page, (int64_t)total, &pg);
}

static int rule_from_body(struct request *r, struct meta_protection_rule *rule)
{
	json_t *body = http_body_json(r);
	if (!body)
		return -1;
	char err[256];
	int ret = policy_rule_update(rule, body, err, sizeof(err));
	json_decref(body);
	if (ret != 0)
		reply_invalid(r, err);
	return ret;
}

static void reply_rule(struct request *r, int ret, unsigned status,
		       const struct meta_protection_rule *rule)
{
	if (ret == -EEXIST)
		http_reply_message(r, MHD_HTTP_UNPROCESSABLE_CONTENT,
				   "Package name pattern has already been taken");
	else if (ret == -ENOENT)
		http_reply_message(r, MHD_HTTP_NOT_FOUND, "404 Not found");
	else
		reply_stored(r, ret, status, ret || !rule ? NULL : policy_rule_json(rule));
}

void rules_create_done(struct request *r)
{
	struct meta_project project;
	if (maintainer_project_or_reply(r, &project) != 0)
		return;
	struct meta_protection_rule rule = {.project_id = project.id};
	if (rule_from_body(r, &rule) != 0)
		return;
	int ret = r->app->meta->ops->rule_insert(r->app->meta, &rule);
	reply_rule(r, ret, MHD_HTTP_CREATED, &rule);
}

/* The rule the URL names, in this project. */
static int rule_or_reply(struct request *r, const struct meta_project *project,
			 struct meta_protection_rule *rule)
{
	char v[32], *end;
	int ret = -ENOENT;
	if (http_capture(r, CAP_RULE, v, sizeof(v)) == 0) {
		long long id = strtoll(v, &end, 10);
		if (!*end && end != v)
			ret = r->app->meta->ops->rule_get(r->app->meta, project->id, id, rule);
	}
	if (ret != 0)
		reply_rule(r, ret, 0, NULL);
	return ret;
}

void rules_update_done(struct request *r)
{
	struct meta_project project;
	struct meta_protection_rule rule;
	if (maintainer_project_or_reply(r, &project) != 0 || rule_or_reply(r, &project, &rule) != 0 ||
	    rule_from_body(r, &rule) != 0)
		return;
	int ret = r->app->meta->ops->rule_update(r->app->meta, &rule);
	reply_rule(r, ret, MHD_HTTP_OK, &rule);
}

void rules_delete_done(struct request *r)
{
	struct meta_project project;
	struct meta_protection_rule rule;
	if (maintainer_project_or_reply(r, &project) != 0 || rule_or_reply(r, &project, &rule) != 0)
		return;
	int ret = r->app->meta->ops->rule_delete(r->app->meta, project.id, rule.id);
	if (ret != 0)
		reply_rule(r, ret, 0, NULL);
	else
		http_reply_no_content(r);
}

void cleanup_policy_get_done(struct request *r)
{
	struct meta_project project;
	struct meta_cleanup_policy p;
	if (maintainer_project_or_reply(r, &project) != 0)
		return;
	int ret = r->app->meta->ops->cleanup_get(r->app->meta, project.id, &p);
	reply_stored(r, ret, MHD_HTTP_OK, ret ? NULL : policy_cleanup_json(&p));
}

void cleanup_policy_put_done(struct request *r)
{
	struct meta *m = r->app->meta;
	struct meta_project project;
	struct meta_cleanup_policy p;
	if (maintainer_project_or_reply(r, &project) != 0)
		return;
	json_t *body = http_body_json(r);
	if (!body)
		return;
	char err[256];
	int ret = m->ops->cleanup_get(m, project.id, &p);
	if (ret == 0 && policy_cleanup_update(&p, body, err, sizeof(err)) != 0) {
		json_decref(body);
		reply_invalid(r, err);
		return;
	}
	json_decref(body);
	if (ret == 0)
		ret = m->ops->cleanup_set(m, &p);
	reply_stored(r, ret, MHD_HTTP_OK, ret ? NULL : policy_cleanup_json(&p));
}
