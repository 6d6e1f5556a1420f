/* The group committer (see commit.h). */
#include "commit.h"

#include <pthread.h>
#include <stdlib.h>

#define BATCH_MAX 256

struct committer {
	struct meta *m;
	struct metrics *metrics;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct commit_job *head, *tail;
	bool stopping;
	bool joined; /* the thread is gone (committer_stop ran) */
	pthread_t thread;
};

static void run_batch(struct committer *c, struct commit_job *jobs)
{
	struct meta_publish_item items[BATCH_MAX];
	struct commit_job *ordered[BATCH_MAX];
	while (jobs) {
		size_t n = 0;
		for (; jobs && n < BATCH_MAX; jobs = jobs->next) {
			ordered[n] = jobs;
			items[n++] = jobs->item;
		}
		c->m->ops->publish_batch(c->m, items, n);
		metrics_commit_batch(c->metrics, n);
		for (size_t i = 0; i < n; i++) {
			ordered[i]->item = items[i];
			ordered[i]->done = true;
			ordered[i]->wake(ordered[i]->ctx); /* the job may be gone after this */
		}
	}
}

static void *committer_loop(void *arg)
{
	struct committer *c = arg;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->head && !c->stopping)
			pthread_cond_wait(&c->cond, &c->lock);
		struct commit_job *jobs = c->head;
		c->head = c->tail = NULL;
		if (!jobs && c->stopping)
			break;
		pthread_mutex_unlock(&c->lock);
		run_batch(c, jobs);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

struct committer *committer_start(struct meta *m, struct metrics *mx)
{
	struct committer *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->m = m;
	c->metrics = mx;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (pthread_create(&c->thread, NULL, committer_loop, c) != 0) {
		pthread_mutex_destroy(&c->lock);
		pthread_cond_destroy(&c->cond);
		free(c);
		return NULL;
	}
	return c;
}

int committer_submit(struct committer *c, struct commit_job *job)
{
	int ret = 0;
	job->next = NULL;
	job->done = false;
	pthread_mutex_lock(&c->lock);
	if (c->stopping) {
		ret = -1;
	} else {
		if (c->tail)
			c->tail->next = job;
		else
			c->head = job;
		c->tail = job;
		pthread_cond_signal(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void committer_stop(struct committer *c)
{
	if (!c || c->joined)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	c->joined = true;
}

void committer_free(struct committer *c)
{
	if (!c)
		return;
	committer_stop(c);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}
