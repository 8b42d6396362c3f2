/* Growable arrays and the few string helpers the parsers share. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strv.h"

void *array_push(void *arr, size_t *n, size_t size) {
        void **p = arr;
        size_t cap = *n;
        char *base;

        /* Capacity is max(4, the next power of two at or above the count), so no field stores
         * it: grow exactly when the count reaches it. */
        if (cap == 0 || (cap >= 4 && (cap & (cap - 1)) == 0)) {
                size_t ncap = cap ? cap * 2 : 4;
                void *nb;
                if (ncap > SIZE_MAX / size)
                        return NULL;
                nb = realloc(*p, ncap * size);
                if (!nb)
                        return NULL;
                *p = nb;
        }
        base = *p;
        memset(base + *n * size, 0, size);
        return base + (*n)++ * size;
}

bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool endswith(const char *s, const char *suffix) {
        size_t ls = strlen(s), lx = strlen(suffix);

        return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

void strscpy(char *dst, size_t size, const char *src) {
        size_t n;

        if (size == 0)
                return;
        n = strnlen(src, size - 1);
        memcpy(dst, src, n);
        dst[n] = '\0';
}

char *strstrip(char *s) {
        size_t n;

        while (isspace((unsigned char) *s))
                s++;
        n = strlen(s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                s[--n] = '\0';
        return s;
}

char *path_join(const char *a, const char *b) {
        size_t la = strlen(a);
        char *r;

        while (la > 0 && a[la - 1] == '/')
                la--;
        while (*b == '/')
                b++;
        if (asprintf(&r, "%.*s/%s", (int) la, a, b) < 0)
                return NULL;
        return r;
}
