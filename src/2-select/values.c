/* The syntax of values from containers' specs: device ids, CDI names, semantic versions, Go
 * booleans and paths, checked byte by byte; strings need not be NUL-terminated at LEN. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "2-select/values.h"
#include "util/macros.h"

int parse_go_bool(const char *s, bool *ret) {
        static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
        static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (STREQ(s, yes[i])) {
                        *ret = true;
                        return 0;
                }
                if (STREQ(s, no[i])) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

bool value_span(const char *s, size_t len, const char *set) {
        for (size_t i = 0; i < len; i++)
                if (!s[i] || !strchr(set, s[i]))
                        return false;
        return true;
}

bool value_is_number(const char *s, size_t len, size_t max_digits) {
        return len > 0 && len <= max_digits && value_span(s, len, VALUE_DIGITS);
}

/* A UUID body: hex digits and dashes, at least one digit. */
static bool is_uuid(const char *s, size_t len) {
        return len > 0 && value_span(s, len, VALUE_HEX "-") && strcspn(s, VALUE_HEX) < len;
}

/* MIG-GPU-<uuid>/<gi>/<ci>, the MIG UUIDs of drivers before R470. */
static bool is_old_mig_uuid(const char *s, size_t len) {
        const char *a = memchr(s, '/', len), *b;

        if (len < 4 || strncasecmp(s, "GPU-", 4) != 0 || !a)
                return false;
        b = memchr(a + 1, '/', len - (size_t) (a + 1 - s));
        return b && is_uuid(s + 4, (size_t) (a - s - 4)) &&
               value_is_number(a + 1, (size_t) (b - a - 1), 7) &&
               value_is_number(b + 1, len - (size_t) (b + 1 - s), 7);
}

/* Splits S at the first SEP: the lengths before and after it, or false. */
static bool split_at(const char *s, size_t len, char sep, size_t *ret_a) {
        const char *p = memchr(s, sep, len);

        if (!p)
                return false;
        *ret_a = (size_t) (p - s);
        return true;
}

static bool is_hex_group(const char *s, size_t len, size_t max) {
        return len > 0 && len <= max && value_span(s, len, VALUE_HEX);
}

/* domain:bus:device.function, leading zeros optional */
static bool is_busid(const char *s, size_t len) {
        size_t a, b, d;

        if (!split_at(s, len, ':', &a) || !is_hex_group(s, a, 8))
                return false;
        s += a + 1, len -= a + 1;
        if (!split_at(s, len, ':', &b) || !is_hex_group(s, b, 2))
                return false;
        s += b + 1, len -= b + 1;
        return split_at(s, len, '.', &d) && is_hex_group(s, d, 2) &&
               is_hex_group(s + d + 1, len - d - 1, 1);
}

/* vendor/class=name, the CDI specification's character sets. */
bool cdi_name_is_valid(const char *s, size_t len) {
        size_t v, c;

        if (!split_at(s, len, '/', &v) || !split_at(s + v + 1, len - v - 1, '=', &c))
                return false;
        return v > 0 && c > 0 && len - v - c - 2 > 0 && isalnum((unsigned char) s[0]) &&
               isalnum((unsigned char) s[v + 1]) && isalnum((unsigned char) s[v + c + 2]) &&
               value_span(s, v, VALUE_ALNUM "._-") && value_span(s + v + 1, c, VALUE_ALNUM "_-") &&
               value_span(s + v + c + 2, len - v - c - 2, VALUE_ALNUM "_.:-");
}

enum device_kind device_id_classify(const char *s, size_t len) {
        size_t a;

        if (value_is_number(s, len, 7))
                return DEVICE_GPU;
        if (len > 4 && strncasecmp(s, "GPU-", 4) == 0)
                return is_uuid(s + 4, len - 4) ? DEVICE_GPU : DEVICE_BAD;
        if (len > 4 && strncasecmp(s, "MIG-", 4) == 0)
                return is_uuid(s + 4, len - 4) || is_old_mig_uuid(s + 4, len - 4) ? DEVICE_GPU
                                                                                  : DEVICE_BAD;
        if (split_at(s, len, ':', &a) && value_is_number(s, a, 7) &&
            value_is_number(s + a + 1, len - a - 1, 7))
                return DEVICE_GPU;
        if (is_busid(s, len))
                return DEVICE_GPU;
        return cdi_name_is_valid(s, len) ? DEVICE_CDI : DEVICE_BAD;
}

/* Go's path.Clean: one slash between elements, no "." elements, ".." resolved lexically. */
char *path_clean(const char *p) {
        size_t n = strlen(p), r = 0, w = 0, dotdot;
        bool rooted = p[0] == '/';
        char *out = malloc(n + 2);

        if (!out)
                return NULL;
        if (rooted)
                out[w++] = '/', r = 1;
        dotdot = w;
        while (r < n) {
                if (p[r] == '/') {
                        r++;
                } else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/')) {
                        r++;
                } else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
                        r += 2;
                        if (w > dotdot) {
                                w--;
                                while (w > dotdot && out[w] != '/')
                                        w--;
                        } else if (!rooted) {
                                if (w > 0)
                                        out[w++] = '/';
                                out[w++] = '.', out[w++] = '.';
                                dotdot = w;
                        }
                } else {
                        if ((rooted && w != 1) || (!rooted && w != 0))
                                out[w++] = '/';
                        for (; r < n && p[r] != '/'; r++)
                                out[w++] = p[r];
                }
        }
        if (w == 0)
                out[w++] = '.';
        out[w] = '\0';
        return out;
}

/* One number of a semantic version: "0" or no leading zero, at most 32 bits (the reference's
 * semver.IsValid and ParseUint(.., 32)). */
static bool version_number(const char **p, unsigned long *ret) {
        const char *s = *p;
        unsigned long v = 0;

        if (!isdigit((unsigned char) *s) || (s[0] == '0' && isdigit((unsigned char) s[1])))
                return false;
        for (; isdigit((unsigned char) *s); s++) {
                v = v * 10 + (unsigned long) (*s - '0');
                if (v > UINT32_MAX)
                        return false;
        }
        *p = s;
        *ret = v;
        return true;
}

/* Dot-separated identifiers of [0-9A-Za-z-]; numeric ones without leading zeros when STRICT. */
static bool version_idents(const char *s, size_t len, bool strict) {
        while (len > 0) {
                size_t n = strcspn(s, ".");

                if (n > len)
                        n = len;
                if (n == 0 || !value_span(s, n, VALUE_ALNUM "-"))
                        return false;
                if (strict && n > 1 && s[0] == '0' && value_span(s, n, VALUE_DIGITS))
                        return false;
                if (n == len)
                        return true;
                s += n + 1, len -= n + 1;
                if (len == 0)
                        return false;
        }
        return false;
}

/* CUDA_VERSION as a semantic version ("12.4.1", "v12", "12.4.0-rc1+b2"): major and minor. */
int cuda_version_parse(const char *v, unsigned long *ret_major, unsigned long *ret_minor) {
        unsigned long major, minor = 0, patch;
        const char *p = v + (v[0] == 'v');
        size_t pre;

        if (!version_number(&p, &major))
                return -EINVAL;
        if (*p == '.' && (++p, !version_number(&p, &minor)))
                return -EINVAL;
        if (*p == '.') {
                p++;
                if (!version_number(&p, &patch))
                        return -EINVAL;
                pre = strcspn(p, "+");
                if (*p == '-' && !version_idents(p + 1, pre - 1, true))
                        return -EINVAL;
                if ((*p != '-' && pre > 0) ||
                    (p[pre] == '+' && !version_idents(p + pre + 1, strlen(p + pre + 1), false)))
                        return -EINVAL;
        } else if (*p)
                return -EINVAL;
        *ret_major = major;
        *ret_minor = minor;
        return 0;
}
