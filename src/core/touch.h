/* Batched last_downloaded_at: downloads record the time in memory and a background flush
 * writes them in one transaction, so a download never waits for a database write (and
 * its fsync). At most a flush interval of download times is lost in a crash. */
#ifndef DEPOT_TOUCH_H
#define DEPOT_TOUCH_H

#include <stdint.h>

#include "meta.h"

struct touch_log;

/* NULL when out of memory. touch_log_free flushes nothing; call touch_log_flush first. */
struct touch_log *touch_log_new(void);
void touch_log_free(struct touch_log *t);
/* Records a download of the package at when_ms (the latest time per package wins). */
void touch_log_record(struct touch_log *t, int64_t package_id, int64_t when_ms);
/* Writes the recorded times. Returns 0 or a negative errno; failed entries are kept. */
int touch_log_flush(struct touch_log *t, struct meta *m);

#endif
