/* Numbers for operators: requests by route and status, their durations, bytes in and out,
 * uploads and downloads, store errors, group-commit batch sizes, open connections and
 * uploads under way, served as GET /-/metrics in Prometheus's text format (0.0.4) to
 * loopback and to the --metrics-allow ranges. Counting is a few relaxed atomic additions
 * into arrays sized at start: no lock and no allocation per request. */
#ifndef DEPOT_METRICS_H
#define DEPOT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "cidr.h"

struct metrics;
struct request;
struct route;

/* Counters for a server of this route table (labels are its patterns); allow: who besides
 * loopback may read them (copied; NULL: loopback only). NULL when out of memory. */
struct metrics *metrics_new(const struct route *routes, size_t nroutes,
			    const struct cidr_list *allow);
/* Only once no thread counts any more (after the server and the committer stopped).
 * Accepts NULL. */
void metrics_free(struct metrics *mx);

/* The request's server's counters (r->app->metrics); NULL when it has none, which every
 * function below accepts. */
struct metrics *metrics_of(const struct request *r);
/* Once the request's route is known: an upload is then under way. */
void metrics_request_begin(struct request *r);
/* When the request is over, whether a route was found or not. */
void metrics_request_end(struct request *r, int64_t duration_us);
/* A 500 or 503 answered for err (-EAGAIN: a store is unreachable); out of memory is not a
 * store's error and is not counted. */
void metrics_store_error(struct request *r, int err);
/* Bytes of a body of unknown length (a stream), as they are sent: the request's own
 * count (bytes_out) covers bodies whose length is known. */
void metrics_add_sent(struct metrics *mx, size_t n);
/* A client connection opened (+1) or closed (-1). */
void metrics_connection(struct metrics *mx, int delta);
/* One group commit of n uploads (commit.c). */
void metrics_commit_batch(struct metrics *mx, size_t n);

/* GET /-/metrics: the text, or 404 as for an unknown path to anyone else. */
void metrics_done(struct request *r);

#endif
