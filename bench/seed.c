/* bench-seed DATA_DIR PROJECT_PATH COUNT: adds COUNT package files (100 per package) to a
 * project through the metadata interface, in large transactions, so the cost-growth
 * benchmark can compare 1,000 rows with 1,000,000 without uploading them. The rows point
 * at one existing blob (SHA-256 given in $BENCH_SHA256), so downloads of them work. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

struct batch {
	const struct meta_project *project;
	struct digest_hex digests;
	long long from, to;
};

static int insert_batch(struct meta *m, void *ctx)
{
	struct batch *b = ctx;
	char name[64], version[32], file[64];
	struct meta_package_file out;
	for (long long i = b->from; i < b->to; i++) {
		snprintf(name, sizeof(name), "seed%lld", i / 100000);
		snprintf(version, sizeof(version), "1.%lld", (i / 100) % 1000);
		snprintf(file, sizeof(file), "file%lld.bin", i % 100);
		struct meta_publish p = {.project_id = b->project->id, .name = name,
					 .version = version, .status = -1, .file_name = file,
					 .size = 1024, .digests = &b->digests};
		int ret = m->ops->file_publish(m, &p, &out);
		if (ret != 0)
			return ret;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4 || !getenv("BENCH_SHA256")) {
		fprintf(stderr, "usage: BENCH_SHA256=... bench-seed DATA_DIR PROJECT_PATH COUNT\n");
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/depot.db", argv[1]);
	const char *err;
	struct meta *m = meta_sqlite_open(path, &err);
	if (!m) {
		fprintf(stderr, "bench-seed: %s\n", err);
		return 1;
	}
	struct meta_project project;
	if (m->ops->project_find(m, argv[2], &project) != 0) {
		fprintf(stderr, "bench-seed: no project %s\n", argv[2]);
		return 1;
	}
	struct batch b = {.project = &project};
	snprintf(b.digests.sha256, sizeof(b.digests.sha256), "%s", getenv("BENCH_SHA256"));
	snprintf(b.digests.md5, sizeof(b.digests.md5), "%032d", 0);
	snprintf(b.digests.sha1, sizeof(b.digests.sha1), "%040d", 0);
	long long count = atoll(argv[3]);
	int ret = 0;
	for (b.from = 0; ret == 0 && b.from < count; b.from = b.to) {
		b.to = b.from + 20000 < count ? b.from + 20000 : count;
		ret = m->ops->locked(m, insert_batch, &b);
	}
	m->ops->close(m);
	if (ret != 0) {
		fprintf(stderr, "bench-seed: %s\n", strerror(-ret));
		return 1;
	}
	return 0;
}
