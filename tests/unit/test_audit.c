/* Unit test for the audit queue (audit.c): the writer is woken once as the queue passes
 * half full, a full queue is written by the request that finds it full, and nothing is
 * lost or reordered either way (rows read back from a real SQLite store). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "check.h"

static int wakes;

static void wake(void *ctx)
{
	(void)ctx;
	wakes++;
}

static void record(struct audit_queue *q, struct meta *m, int i)
{
	struct audit_event ev = {.at_ms = i, .project_id = 1, .size = i};
	strcpy(ev.action, "download");
	strcpy(ev.username, "u");
	strcpy(ev.token_kind, "personal");
	snprintf(ev.package, sizeof(ev.package), "p%d", i);
	audit_record(q, m, &ev);
}

static int count_rows(const char *path, int64_t *max_size)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;
	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT COUNT(*), MAX(size), SUM(package = 'p' || size)"
				   " FROM audit_log", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) ==
							      sqlite3_column_int(st, 2)) {
			n = sqlite3_column_int(st, 0);
			*max_size = sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

int main(void)
{
	char dir[] = "/tmp/depot-test-audit.XXXXXX", path[64];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/depot.db", dir);
	const char *err = NULL;
	struct meta *m = meta_sqlite_open(path, &err);
	struct audit_queue *q = audit_queue_new();
	CHECK(m && q);
	if (!m || !q)
		return check_done("test_audit");
	audit_queue_set_wake(q, wake, NULL);
	int i = 0;
	while (i < AUDIT_QUEUE_MAX / 2 - 1)
		record(q, m, i++);
	CHECK(wakes == 0);
	record(q, m, i++);
	CHECK(wakes == 1); /* passing half full wakes the writer, once */
	while (i < AUDIT_QUEUE_MAX)
		record(q, m, i++);
	CHECK(wakes == 1);
	int64_t max = -1;
	CHECK(count_rows(path, &max) == 0); /* nothing written yet: the writer was not run */
	record(q, m, i++);		     /* full: this request writes the queue itself */
	CHECK(count_rows(path, &max) == AUDIT_QUEUE_MAX && max == AUDIT_QUEUE_MAX - 1);
	CHECK(audit_flush(q, m) == 0);
	CHECK(count_rows(path, &max) == AUDIT_QUEUE_MAX + 1 && max == AUDIT_QUEUE_MAX);
	audit_queue_free(q);
	m->ops->close(m);
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	return check_done("test_audit");
}
