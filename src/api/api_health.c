/* The probes load balancers and orchestrators use, with GitLab's names: /-/health (the
 * process answers) and /-/readiness (both stores answer; 503 with the failing check
 * otherwise). Neither needs credentials, so neither says more than which store failed;
 * the reason goes to the log. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "log.h"

void health_done(struct request *r)
{
	static const char body[] = "depot OK";
	const char *h[] = {MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8", NULL};
	http_reply_copy(r, MHD_HTTP_OK, body, sizeof(body) - 1, h);
}

/* Each store's last answer to a probe (0: fine): a load balancer probing every second
 * would otherwise log the same failure every second. */
static _Atomic int last_meta_err, last_blob_err;

/* One check as GitLab writes it: [{"status": "ok"}], or failed with a message; the log
 * says when a store stops answering (or fails differently) and when it answers again. */
static json_t *check(const char *what, _Atomic int *last, int err, bool *ok)
{
	int was = atomic_exchange(last, err);
	if (err == 0) {
		if (was != 0)
			log_line("depot: readiness: the %s store answers again", what);
		return json_pack("[{s:s}]", "status", "ok");
	}
	if (was != err)
		log_line("depot: readiness: the %s store does not answer: %s", what,
			 strerror(-err));
	*ok = false;
	char msg[64];
	snprintf(msg, sizeof(msg), "the %s store does not answer", what);
	return json_pack("[{s:s,s:s}]", "status", "failed", "message", msg);
}

void readiness_done(struct request *r)
{
	struct app *app = r->app;
	bool ok = true;
	json_t *meta = check("metadata", &last_meta_err, app->meta->ops->ping(app->meta), &ok);
	json_t *blobs = check("blob", &last_blob_err, app->blobs->ops->ping(app->blobs), &ok);
	http_reply_json(r, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
			json_pack("{s:s,s:o,s:o}", "status", ok ? "ok" : "failed", "meta_check", meta,
				  "blobs_check", blobs));
}
