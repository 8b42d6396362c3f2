/* Shell quoting: single quotes keep every byte but the quote itself literal in a POSIX shell,
 * so that one rule is all a quoted word needs. */
#include <stdlib.h>
#include <string.h>

#include "util/shquote.h"

bool shell_needs_quote(const char *s) {
        if (!*s)
                return true;
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                bool alnum =
                        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

                if (!alnum && !strchr("_@%+=:,./-", c))
                        return true;
        }
        return false;
}

char *shell_quote(const char *s) {
        size_t n = 2;
        char *r, *p;

        if (!shell_needs_quote(s))
                return strdup(s);
        for (const char *q = s; *q; q++)
                n += *q == '\'' ? 4 : 1;
        r = malloc(n + 1);
        if (!r)
                return NULL;
        p = r;
        *p++ = '\'';
        for (; *s; s++) {
                if (*s == '\'') {
                        memcpy(p, "'\\''", 4);
                        p += 4;
                } else {
                        *p++ = *s;
                }
        }
        *p++ = '\'';
        *p = '\0';
        return r;
}
