/* Growable arrays and string helpers. */
#ifndef NCTK_UTIL_STRV_H
#define NCTK_UTIL_STRV_H

#include <stdbool.h>
#include <stddef.h>

/* Makes room for one more element of SIZE bytes in *ARR of *N elements, zeroing it, and returns
 * a pointer to it (the array grows geometrically), or NULL on ENOMEM. */
void *array_push(void *arr, size_t *n, size_t size);
#define ARRAY_PUSH(arr, n) ((__typeof__(arr)) array_push(&(arr), &(n), sizeof(*(arr))))

bool startswith(const char *s, const char *prefix);
bool endswith(const char *s, const char *suffix);
/* Copies SRC into DST of SIZE bytes, truncating; always NUL-terminates. */
void strscpy(char *dst, size_t size, const char *src);
/* Strips leading and trailing white space in place; returns S advanced past the leading part. */
char *strstrip(char *s);
/* Joins A and B with exactly one '/' between them. */
char *path_join(const char *a, const char *b);

#endif
