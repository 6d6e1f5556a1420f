/* Failed-authentication throttling (see ratelimit.h). */
#include "ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 1024

struct entry {
	char addr[48];
	int64_t window_start;
	int failures;
};

struct ratelimit {
	pthread_mutex_t lock;
	int max;
	struct entry e[SLOTS];
};

struct ratelimit *ratelimit_new(int max_failures)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));
	if (rl) {
		pthread_mutex_init(&rl->lock, NULL);
		rl->max = max_failures;
	}
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

static struct entry *slot(struct ratelimit *rl, const char *addr)
{
	size_t h = 5381;
	for (const char *p = addr; *p; p++)
		h = h * 33 + (unsigned char)*p;
	return &rl->e[h % SLOTS];
}

bool ratelimit_blocked(struct ratelimit *rl, const char *addr, int64_t now, int *retry_after_s)
{
	bool blocked = false;
	pthread_mutex_lock(&rl->lock);
	struct entry *e = slot(rl, addr);
	if (strcmp(e->addr, addr) == 0 && e->failures >= rl->max &&
	    now < e->window_start + RATELIMIT_WINDOW_MS) {
		blocked = true;
		*retry_after_s = (int)((e->window_start + RATELIMIT_WINDOW_MS - now + 999) / 1000);
	}
	pthread_mutex_unlock(&rl->lock);
	return blocked;
}

void ratelimit_fail(struct ratelimit *rl, const char *addr, int64_t now)
{
	pthread_mutex_lock(&rl->lock);
	struct entry *e = slot(rl, addr);
	if (strcmp(e->addr, addr) != 0 || now >= e->window_start + RATELIMIT_WINDOW_MS) {
		snprintf(e->addr, sizeof(e->addr), "%s", addr);
		e->window_start = now;
		e->failures = 0;
	}
	e->failures++;
	pthread_mutex_unlock(&rl->lock);
}
