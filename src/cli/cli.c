/* Option parsing and shared helpers for the admin command line. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob.h"

int cli_fail(const char *fmt, ...)
{
	va_list ap;
	fputs("depot: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap); /* NOLINT: see log.c */
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int cli_number(const struct cli_opt *o, long long min, long long max, const char *what,
	       long long *out)
{
	if (!o->value)
		return 0;
	char *end;
	errno = 0;
	long long v = strtoll(o->value, &end, 10);
	if (*end || end == o->value || errno || v < min || v > max) {
		cli_fail("--%s takes %s", o->name, what);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_parse(int argc, char **argv, struct cli_opt *opts, size_t nopts, const char **pos,
	      size_t npos_expected, const char **data_dir)
{
	size_t npos;
	if (cli_parse_n(argc, argv, opts, nopts, pos, npos_expected, &npos, data_dir) != 0)
		return -1;
	if (npos != npos_expected) {
		cli_fail("expected %zu argument%s, got %zu", npos_expected,
			 npos_expected == 1 ? "" : "s", npos);
		return -1;
	}
	return 0;
}

/* --meta, or DEPOT_META: the metadata store when it is not the data directory's SQLite. */
static const char *meta_url;

const char *cli_meta_url(void)
{
	return meta_url;
}

/* --data and --meta, which every command takes: 1 when a[i] was one of them (i advanced
 * past its value), 0 when not, -1 having printed the error. */
static int common_option(int argc, char **argv, int *i, const char **data_dir)
{
	const char *name = argv[*i] + 2;
	size_t nlen = strcspn(name, "=");
	bool data = nlen == 4 && strncmp(name, "data", 4) == 0;
	if (!data && !(nlen == 4 && strncmp(name, "meta", 4) == 0))
		return 0;
	const char *v = name[nlen] ? name + nlen + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
	if (!v || !*v) {
		cli_fail(data ? "--data needs a directory" : "--meta needs a PostgreSQL URL");
		return -1;
	}
	*(data ? data_dir : &meta_url) = v;
	return 1;
}

int cli_parse_n(int argc, char **argv, struct cli_opt *opts, size_t nopts, const char **pos,
		size_t maxpos, size_t *npos_out, const char **data_dir)
{
	size_t npos = 0;
	const char *env = getenv("DEPOT_DATA");
	*data_dir = env && *env ? env : "./depot-data";
	env = getenv("DEPOT_META");
	meta_url = env && *env ? env : NULL;
	for (size_t k = 0; k < nopts; k++)
		if (!opts[k].value)
			opts[k].value = opts[k].def;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			if (npos >= maxpos) {
				cli_fail("unexpected argument '%s'", a);
				return -1;
			}
			pos[npos++] = a;
			continue;
		}
		int common = common_option(argc, argv, &i, data_dir);
		if (common < 0)
			return -1;
		if (common)
			continue;
		const char *name = a + 2;
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		struct cli_opt *o = NULL;
		for (size_t k = 0; k < nopts; k++)
			if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, name, nlen) == 0)
				o = &opts[k];
		/* The blob store's options go to every command, as --data and --meta do, so a
		 * deployment can give each the same store options; those that never touch
		 * content (user, token, ...) take and ignore them. */
		static struct cli_opt blob_opts[] = {CLI_BLOB_OPTIONS};
		for (size_t k = 0; !o && k < CLI_BLOB_NOPTS; k++)
			if (strlen(blob_opts[k].name) == nlen &&
			    strncmp(blob_opts[k].name, name, nlen) == 0)
				o = &blob_opts[k];
		if (!o) {
			cli_fail("unknown option '--%.*s'", (int)nlen, name);
			return -1;
		}
		o->present = true;
		if (o->has_value) {
			o->value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
			if (!o->value) {
				cli_fail("--%s needs a value", o->name);
				return -1;
			}
			if (o->all && o->all->n == CLI_VALUES_MAX) {
				cli_fail("--%s is given more than %d times", o->name, CLI_VALUES_MAX);
				return -1;
			}
			if (o->all)
				o->all->v[o->all->n++] = o->value;
		} else if (eq) {
			cli_fail("--%s takes no value", o->name);
			return -1;
		}
	}
	*npos_out = npos;
	return 0;
}

static int make_data_dir(const char *data_dir)
{
	if (mkdir(data_dir, 0750) != 0 && errno != EEXIST) {
		cli_fail("cannot create %s: %s", data_dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Who holds the lock: the kernel's answer for the pid (the file's when the holder is in
 * another pid namespace), the file for what it does. */
static void lock_holder(int fd, long *pid, char *role, size_t cap)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char buf[64] = "";
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	char *end;
	*pid = strtol(buf, &end, 10);
	if (end == buf || *end != ' ')
		*pid = 0;
	snprintf(role, cap, "%s", *pid ? end + 1 : "");
	role[strcspn(role, "\n")] = '\0';
	if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0) {
		if (fl.l_pid != *pid)
			role[0] = '\0'; /* the file is another holder's */
		*pid = fl.l_pid;
	}
}

int cli_lock_data(const char *data_dir, const char *role, const char *refusal)
{
	char path[4096];
	if (make_data_dir(data_dir) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/depot.lock", data_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		cli_fail("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	/* A POSIX record lock: the kernel drops it when the process ends, however it ends,
	 * and F_GETLK names the holder. Nothing else in the process opens this file, so no
	 * close elsewhere lets it go early. */
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	if (fcntl(fd, F_SETLK, &fl) != 0) {
		if (errno == EACCES || errno == EAGAIN) {
			long pid;
			char who[48];
			lock_holder(fd, &pid, who, sizeof(who));
			cli_fail("%s is in use by %s%s (pid %ld); %s", data_dir,
				 who[0] ? "depot " : "another process", who, pid, refusal);
		} else {
			cli_fail("cannot lock %s: %s", path, strerror(errno));
		}
		close(fd);
		return -1;
	}
	char line[64];
	int n = snprintf(line, sizeof(line), "%ld %s\n", (long)getpid(), role);
	if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n) {
		cli_fail("cannot write %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return 0; /* fd stays open: closing it would let go of the lock */
}

/* One line of an option list: "  --name ARG    help (default DEF)". */
static void help_option(FILE *f, const struct cli_opt *o)
{
	char left[64];
	const char *arg = o->has_value ? (o->arg ? o->arg : "VALUE") : NULL;
	snprintf(left, sizeof(left), "--%s%s%s", o->name, arg ? " " : "", arg ? arg : "");
	fprintf(f, "  %-29s %s%s%s%s\n", left, o->help ? o->help : "", o->def ? " (default " : "",
		o->def ? o->def : "", o->def ? ")" : "");
}

void cli_help(FILE *f, const struct cli_command *c)
{
	static const struct cli_opt data = {.name = "data",
					    .has_value = true,
					    .arg = "DIR",
					    .help = "data directory",
					    .def = "$DEPOT_DATA or ./depot-data"};
	static const struct cli_opt meta = {
	    .name = "meta",
	    .has_value = true,
	    .arg = "URL",
	    .help = "metadata in PostgreSQL: postgres://USER@HOST:PORT/DB"
		    " or a libpq connection string (password:"
		    " PGPASSWORD or PGPASSFILE)",
	    .def = "$DEPOT_META, else SQLite in --data"};
	const char *line = c->synopsis;
	for (bool first = true; *line; first = false) {
		size_t n = strcspn(line, "\n");
		fprintf(f, "%s%.*s\n", first ? "usage: " : "       ", (int)n, line);
		line += n + (line[n] == '\n');
	}
	if (c->help)
		fprintf(f, "\n%s", c->help);
	fputc('\n', f);
	for (size_t i = 0; i < c->nopts; i++)
		help_option(f, &c->opts[i]);
	if (c->remote)
		return;
	help_option(f, &data);
	help_option(f, &meta);
	bool own_blobs = false;
	for (size_t i = 0; i < c->nopts; i++)
		own_blobs = own_blobs || strcmp(c->opts[i].name, "blobs") == 0;
	if (!own_blobs)
		fprintf(f, "  %-29s %s\n", "--blobs, --s3-*",
			"taken and ignored: this command does not touch file contents");
}

/* The store --meta names, or the data directory's SQLite; migrate: apply pending schema
 * migrations (SQLite always does, at open: one process owns a data directory). */
static struct meta *open_meta(const char *data_dir, bool migrate, bool *created)
{
	const char *err = NULL;
	if (created)
		*created = false;
	if (meta_url) {
		struct meta *m = meta_pg_open(meta_url, migrate, &err);
		if (!m)
			cli_fail("cannot open the PostgreSQL metadata store: %s", err);
		return m;
	}
	if (make_data_dir(data_dir) != 0)
		return NULL;
	char path[4096];
	snprintf(path, sizeof(path), "%s/depot.db", data_dir);
	bool exists = access(path, F_OK) == 0;
	struct meta *m = meta_sqlite_open(path, &err);
	if (!m) {
		cli_fail("cannot open %s: %s", path, err);
		return NULL;
	}
	if (created)
		*created = !exists;
	return m;
}

struct meta *cli_open_meta(const char *data_dir, bool *created)
{
	return open_meta(data_dir, false, created);
}

int cli_migrate(int argc, char **argv)
{
	const char *data = NULL;
	if (cli_parse(argc, argv, NULL, 0, NULL, 0, &data) != 0)
		return 2;
	struct meta *m = open_meta(data, true, NULL);
	if (!m)
		return 1;
	m->ops->close(m);
	fprintf(stderr, "depot: the metadata schema is at version %d\n", meta_schema_version);
	return 0;
}

const struct cli_command cli_migrate_command = {
    .name = "migrate",
    .run = cli_migrate,
    .synopsis = "depot migrate [--meta URL]",
    .help = "  Applies the pending schema migrations to the metadata store. serve refuses a\n"
	    "  PostgreSQL store whose schema is older than it needs; SQLite is migrated\n"
	    "  whenever it is opened. Two at once are safe: one waits for the other.\n",
};
/* An AWS-style credentials file: "name = value" lines, of which aws_access_key_id and
 * aws_secret_access_key are read ([section] lines and # comments are skipped). The values
 * go to *access and *secret (caller frees). */
static int read_credentials(const char *path, char **access, char **secret)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '=');
		if (!eq || line[0] == '#' || line[0] == '[')
			continue;
		char *name = line, *value = eq + 1, *end = eq;
		while (*name == ' ' || *name == '\t')
			name++;
		while (end > name && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*end = '\0';
		value += strspn(value, " \t");
		value[strcspn(value, " \t\r\n")] = '\0';
		char **out = strcasecmp(name, "aws_access_key_id") == 0	      ? access
			     : strcasecmp(name, "aws_secret_access_key") == 0 ? secret
									      : NULL;
		if (out) {
			free(*out);
			*out = strdup(value);
		}
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	return 0;
}

const char *cli_blobs_url(const struct cli_opt *opts)
{
	const char *url = opts[0].value ? opts[0].value : getenv("DEPOT_BLOBS");
	return url && *url ? url : NULL;
}

struct blob_store *cli_open_blobs(const char *data_dir, const struct cli_opt *opts)
{
	const char *url = cli_blobs_url(opts);
	const char *err = NULL;
	struct blob_store *bs = NULL;
	if (!url) {
		if (make_data_dir(data_dir) != 0)
			return NULL;
		if (!(bs = blob_fs_open(data_dir, &err)))
			cli_fail("cannot open the blob store in %s: %s", data_dir, err);
		return bs;
	}
	long long part = S3_PART_DEFAULT;
	if (cli_number(&opts[2], (long long)S3_PART_MIN, 5LL << 30, "5242880 to 5368709120 bytes",
		       &part) != 0)
		return NULL;
	char *access = NULL, *secret = NULL;
	if (opts[1].value) {
		int ret = read_credentials(opts[1].value, &access, &secret);
		if (ret != 0) {
			cli_fail("cannot read %s: %s", opts[1].value, strerror(-ret));
			return NULL;
		}
	} else {
		const char *a = getenv("AWS_ACCESS_KEY_ID"), *k = getenv("AWS_SECRET_ACCESS_KEY");
		access = a && *a ? strdup(a) : NULL;
		secret = k && *k ? strdup(k) : NULL;
	}
	struct s3_config cfg = {
	    .url = url, .access_key = access, .secret_key = secret, .part_size = (uint64_t)part};
	if (!(bs = blob_s3_open(&cfg, &err)))
		cli_fail("cannot use the blob store %s: %s", url, err);
	if (secret)
		explicit_bzero(secret, strlen(secret));
	free(access);
	free(secret);
	return bs;
}

int cli_print_json(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (!s)
		return cli_fail("cannot format JSON");
	printf("%s\n", s);
	free(s);
	return 0;
}
