/* Failed-authentication throttling per client address: after max failures within a window
 * (default RATELIMIT_MAX a minute), the address is answered 429 with Retry-After until the window ends, so tokens
 * cannot be guessed at network speed. A fixed table: an address evicts another when full. */
#ifndef DEPOT_RATELIMIT_H
#define DEPOT_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_MAX 20
#define RATELIMIT_WINDOW_MS 60000

struct ratelimit;

struct ratelimit *ratelimit_new(int max_failures);
void ratelimit_free(struct ratelimit *rl);
/* Is the address throttled at now_ms? Sets *retry_after_s when it is. */
bool ratelimit_blocked(struct ratelimit *rl, const char *addr, int64_t now_ms, int *retry_after_s);
/* Counts one failed authentication. */
void ratelimit_fail(struct ratelimit *rl, const char *addr, int64_t now_ms);

#endif
