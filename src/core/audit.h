/* The audit log: every upload, download and delete — who (user, token kind and id), what
 * (project, package, version, file, size, SHA-256), when and from where — appended to a
 * table the database refuses to update or delete. Requests queue events in memory; the
 * server's maintenance thread writes them every second (and at shutdown) in one
 * transaction, so a download never waits for a database write. */
#ifndef DEPOT_AUDIT_H
#define DEPOT_AUDIT_H

#include <stdint.h>

#include "meta.h"

struct audit_event {
	int64_t at_ms;
	char action[16];	/* upload, download, delete */
	char username[USERNAME_MAX + 1];
	char token_kind[12];
	int64_t token_id;
	int64_t project_id;
	char package[PACKAGE_NAME_MAX + 1];
	char version[PACKAGE_VERSION_MAX + 1];
	char file_name[STORED_NAME_MAX + 1];
	int64_t size;
	char sha256[65];
	char client[48];
	char detail[96];	/* e.g. the cleanup rule that deleted it */
};

/* Bytes of events each of a queue's two buffers holds, packed (a download's is about 150
 * bytes: some 7,000 of them, 70 ms at 100,000 a second). Past a quarter of it the writer
 * is woken; when it is full, the request that finds it so writes it. */
#define AUDIT_QUEUE_BYTES (1u << 20)

struct audit_queue;

struct audit_queue *audit_queue_new(void);
void audit_queue_free(struct audit_queue *q);
/* Called, without the queue's lock, as the queue passes a quarter full: a writer thread
 * woken then flushes long before requests find the queue full and write it themselves (a
 * request that waits for a batch to be written and synced is a latency spike). */
void audit_queue_set_wake(struct audit_queue *q, void (*wake)(void *ctx), void *ctx);
/* Queues a copy of ev; writes the queue at once when it is full. */
void audit_record(struct audit_queue *q, struct meta *m, const struct audit_event *ev);
/* Writes what is queued. */
int audit_flush(struct audit_queue *q, struct meta *m);

#endif
