/* Option parsing and shared helpers for the admin command line. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	if (!o->present)
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

int cli_parse_n(int argc, char **argv, struct cli_opt *opts, size_t nopts, const char **pos,
		size_t maxpos, size_t *npos_out, const char **data_dir)
{
	size_t npos = 0;
	const char *env = getenv("DEPOT_DATA");
	*data_dir = env && *env ? env : "./depot-data";
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
		const char *name = a + 2;
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		if (nlen == 4 && strncmp(name, "data", 4) == 0) {
			const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
			if (!v || !*v) {
				cli_fail("--data needs a directory");
				return -1;
			}
			*data_dir = v;
			continue;
		}
		struct cli_opt *o = NULL;
		for (size_t k = 0; k < nopts; k++)
			if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, name, nlen) == 0)
				o = &opts[k];
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
		} else if (eq) {
			cli_fail("--%s takes no value", o->name);
			return -1;
		}
	}
	*npos_out = npos;
	return 0;
}

struct meta *cli_open_meta(const char *data_dir, bool *created)
{
	if (mkdir(data_dir, 0750) != 0 && errno != EEXIST) {
		cli_fail("cannot create %s: %s", data_dir, strerror(errno));
		return NULL;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/depot.db", data_dir);
	bool exists = access(path, F_OK) == 0;
	const char *err = NULL;
	struct meta *m = meta_sqlite_open(path, &err);
	if (!m) {
		cli_fail("cannot open %s: %s", path, err);
		return NULL;
	}
	if (created)
		*created = !exists;
	return m;
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
