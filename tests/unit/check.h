/* A minimal unit-test harness: CHECK records a failure with its line and carries on, and
 * check_done() turns the tally into the exit status. */
#ifndef DEPOT_CHECK_H
#define DEPOT_CHECK_H

#include <stdio.h>

static int check_failures, check_count;

#define CHECK(cond)                                                                   \
	do {                                                                          \
		check_count++;                                                        \
		if (!(cond)) {                                                        \
			check_failures++;                                             \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
				#cond);                                               \
		}                                                                     \
	} while (0)

static inline int check_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
