/* Unit test for the audit queue (audit.c): the writer is woken once as the queue passes a
 * quarter full, a full queue is written by the request that finds it full, and nothing is
 * lost, reordered or changed either way (rows read back from a real SQLite store: every
 * text and number of each event). */
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
	struct audit_event ev = {.at_ms = i, .project_id = 1, .size = i, .token_id = 7};
	strcpy(ev.action, "download");
	strcpy(ev.username, "u");
	strcpy(ev.token_kind, "personal");
	snprintf(ev.package, sizeof(ev.package), "p%d", i);
	strcpy(ev.version, "1.0");
	snprintf(ev.file_name, sizeof(ev.file_name), "dir/f%d.bin", i);
	memset(ev.sha256, 'a', 64);
	strcpy(ev.client, "127.0.0.1");
	strcpy(ev.detail, i % 2 ? "range" : "");
	audit_record(q, m, &ev);
}

static int count_rows(const char *path, int64_t *max_size)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;
	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT COUNT(*), MAX(size), SUM(package = 'p' || size"
				   " AND at = size AND action = 'download' AND username = 'u'"
				   " AND token_kind = 'personal' AND token_id = 7 AND project_id = 1"
				   " AND version = '1.0' AND file_name = 'dir/f' || size || '.bin'"
				   " AND sha256 = printf('%.64c', 'a') AND client = '127.0.0.1'"
				   " AND detail = CASE size % 2 WHEN 1 THEN 'range' ELSE '' END)"
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
	record(q, m, i++);
	CHECK(wakes == 0);
	while (wakes == 0 && i < 100000)
		record(q, m, i++);
	CHECK(wakes == 1); /* passing a quarter full wakes the writer, once */
	int quarter = i;
	int64_t max = -1;
	while (count_rows(path, &max) == 0 && i < 100000)
		record(q, m, i++); /* until one finds the queue full and writes it itself */
	CHECK(wakes == 1);
	/* about four quarters were queued before it: packed, not whole structs */
	CHECK(i > 3 * quarter && i < 5 * quarter + 2);
	CHECK(count_rows(path, &max) == i - 1 && max == i - 2);
	CHECK(audit_flush(q, m) == 0);
	CHECK(count_rows(path, &max) == i && max == i - 1);
	CHECK(i > 5000); /* a buffer holds thousands of downloads */
	audit_queue_free(q);
	m->ops->close(m);
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	return check_done("test_audit");
}
