/* depot migrate-store: moves a single-machine registry (DIR/depot.db and DIR/blobs) into
 * PostgreSQL (--meta) and object storage (--blobs); migrate_store.c does the copying, this
 * file opens the four stores and holds the source's lock meanwhile. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blob.h"
#include "cli.h"
#include "migrate_store.h"

static const struct cli_opt ms_options[] = {
	{.name = "from-data", .has_value = true, .arg = "DIR",
	 .help = "the single-machine data directory to copy (no server may run on it)"},
	CLI_BLOB_OPTIONS};
#define MS_NOPTS (1 + CLI_BLOB_NOPTS)

int cli_migrate_store(int argc, char **argv)
{
	struct cli_opt opts[MS_NOPTS];
	memcpy(opts, ms_options, sizeof(opts));
	const char *data = NULL, *from = NULL, *blobs_env = getenv("DEPOT_BLOBS");
	if (cli_parse(argc, argv, opts, MS_NOPTS, NULL, 0, &data) != 0)
		return 2;
	if (!(from = opts[0].value))
		return cli_fail("migrate-store needs --from-data DIR, the registry to copy"), 2;
	if (!cli_meta_url())
		return cli_fail("migrate-store needs --meta URL (or DEPOT_META): the PostgreSQL"
				" database to copy into"), 2;
	if (!opts[1].value && !(blobs_env && *blobs_env))
		return cli_fail("migrate-store needs --blobs URL (or DEPOT_BLOBS): the object"
				" storage to copy into"), 2;
	char path[4096];
	snprintf(path, sizeof(path), "%s/depot.db", from);
	if (access(path, R_OK) != 0)
		return cli_fail("cannot read %s: %s", path, strerror(errno));
	/* The source must hold still: no server may write it while it is copied. */
	if (cli_lock_data(from, "migrate-store", "stop it before migrate-store") != 0)
		return 1;
	const char *err = NULL;
	struct meta *src = meta_sqlite_open(path, &err);
	if (!src)
		return cli_fail("cannot open %s: %s", path, err);
	struct blob_store *src_blobs = blob_fs_open(from, &err);
	struct meta *dst = NULL;
	struct blob_store *dst_blobs = NULL;
	int status = 1;
	if (!src_blobs) {
		cli_fail("cannot open the blob store in %s: %s", from, err);
		goto out;
	}
	/* The target's schema must be current already: depot migrate --meta URL. */
	if (!(dst = cli_open_meta(from, NULL)) || !(dst_blobs = cli_open_blobs(from, opts + 1)))
		goto out;
	struct migrate_stats st;
	char msg[1024];
	int ret = migrate_store_run(src, src_blobs, from, dst, dst_blobs, stderr, &st, msg,
				    sizeof(msg));
	if (ret != 0) {
		cli_fail("migrate-store stopped: %s", msg[0] ? msg : strerror(-ret));
		goto out;
	}
	fprintf(stderr,
		"depot: migrate-store done: copied %lld row(s) and %lld file(s) (%llu bytes);"
		" %lld row(s) and %lld file(s) were there already",
		(long long)st.rows_copied, (long long)st.files_copied,
		(unsigned long long)st.bytes_copied, (long long)st.rows_present,
		(long long)st.files_present);
	if (st.files_missing)
		fprintf(stderr, "; %lld content(s) of deleted files were gone already",
			(long long)st.files_missing);
	fputc('\n', stderr);
	status = 0;
out:
	if (dst_blobs)
		dst_blobs->ops->close(dst_blobs);
	if (dst)
		dst->ops->close(dst);
	if (src_blobs)
		src_blobs->ops->close(src_blobs);
	src->ops->close(src);
	return status;
}

const struct cli_command cli_migrate_store_command = {
    .name = "migrate-store",
    .run = cli_migrate_store,
    .synopsis = "depot migrate-store --from-data DIR --meta URL --blobs URL",
    .help = "  Copies a single-machine registry (DIR/depot.db and DIR/blobs) into PostgreSQL\n"
	    "  and object storage: every row with its id and timestamps (tokens keep working),\n"
	    "  every file's content, each checked against its SHA-256. Run depot migrate\n"
	    "  --meta URL first. The target must be empty or hold an earlier, interrupted run\n"
	    "  of this command, which it completes; run again, it copies nothing. Progress\n"
	    "  goes to stderr.\n",
    .opts = ms_options,
    .nopts = MS_NOPTS,
};
