/* Regular expressions that come from users (the duplicate exception regex, cleanup
 * keep-regexes): compiled with PCRE2, anchored at both ends as GitLab anchors them
 * (\A...\z), and matched with match and depth limits so no pattern can stall a request. */
#ifndef DEPOT_UREGEX_H
#define DEPOT_UREGEX_H

#include <stdbool.h>
#include <stddef.h>

#define UREGEX_MAX_LEN 255

struct uregex;

/* Compiles pattern; NULL on failure with a message in err (errcap bytes). Caller frees
 * with uregex_free. An empty pattern matches only the empty string. */
struct uregex *uregex_compile(const char *pattern, char *err, size_t errcap);
/* Whole-string match. A match that hits a limit counts as no match. */
bool uregex_match(const struct uregex *re, const char *subject);
void uregex_free(struct uregex *re);

/* Compiles, matches and frees; for one-off checks. */
bool uregex_matches(const char *pattern, const char *subject);

#endif
