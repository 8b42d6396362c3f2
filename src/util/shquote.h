/* Words for a POSIX shell: what nvidia-docker's NV_DEBUG trace and docker-args print, so that a
 * person can paste them or `eval` them and get exactly the words nctk meant. */
#ifndef NCTK_UTIL_SHQUOTE_H
#define NCTK_UTIL_SHQUOTE_H

#include <stdbool.h>

/* Whether S must be quoted to stay one word with its exact bytes: it is empty, or has a byte
 * outside [A-Za-z0-9_@%+=:,./-]. */
bool shell_needs_quote(const char *s);

/* S as one shell word: itself when nothing in it is special, else in single quotes with each
 * quote written as '\''. A new string, or NULL when out of memory. */
char *shell_quote(const char *s);

#endif
