/* Parsing and evaluation of requirement expressions (grammar in require.h). The expression comes
 * from the container image, so it is scanned in place as (pointer, length) spans: no recursion, no
 * copy, no allocation but the error message, and only bytes checked to be printable are echoed. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "2-select/require.h"
#include "util/macros.h"

#define OP_CHARS "<>=!"
#define BLANKS " \t\r\n"
#define NAMES_HINT "use cuda, driver, arch or brand"
#define OPS_HINT "use =, !=, <, <=, >, >="
/* Host facts are trusted, but a message quotes at most this much of one. */
#define FACT_QUOTE_MAX 64

struct span {
        const char *p;
        size_t n;
};
#define SPAN_FMT(s) (int) (s).n, (s).p

enum name { NAME_CUDA, NAME_DRIVER, NAME_ARCH, NAME_BRAND, NAME_COUNT };
enum op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_COUNT };

static const char *const name_str[NAME_COUNT] = {"cuda", "driver", "arch", "brand"};
static const char *const op_str[OP_COUNT] = {"=", "!=", "<", "<=", ">", ">="};

struct factor {
        struct span text; /* the whole factor, for messages */
        enum name name;
        enum op op;
        struct span value;
};

/* The outcome of one term, kept for the message about the first one. */
struct term_result {
        bool holds;
        unsigned failed; /* 1u << enum name, for each name with a failing factor */
        bool advise;     /* a cuda factor failed for want of a newer CUDA on the host */
};

static bool is_in(char c, const char *set) {
        return c != '\0' && strchr(set, c) != NULL;
}

/* Cuts the next run of bytes outside SEPS off the front of *REST; false when none is left. */
static bool span_next(struct span *rest, const char *seps, struct span *ret) {
        size_t skip = 0, len = 0;

        while (skip < rest->n && is_in(rest->p[skip], seps))
                skip++;
        while (skip + len < rest->n && !is_in(rest->p[skip + len], seps))
                len++;
        *ret = (struct span){rest->p + skip, len};
        rest->p += skip + len;
        rest->n -= skip + len;
        return len > 0;
}

/* Finds S among the N strings of TABLE, ignoring case when asked. */
static bool lookup(const char *const *table, unsigned n, struct span s, bool icase,
                   unsigned *ret_idx) {
        for (unsigned i = 0; i < n; i++) {
                if (strlen(table[i]) != s.n)
                        continue;
                if (icase ? strncasecmp(table[i], s.p, s.n) != 0 : memcmp(table[i], s.p, s.n) != 0)
                        continue;
                *ret_idx = i;
                return true;
        }
        return false;
}

/* Returns NULL when S is a version, else the reason it is not, to follow "version 'S' ". */
static const char *version_invalid(struct span s) {
        uint64_t component = 0;
        bool empty = true;

        if (s.n == 0)
                return "is empty";
        for (size_t i = 0; i < s.n; i++) {
                char c = s.p[i];

                if (c == '.') {
                        if (empty)
                                return "has an empty component";
                        empty = true;
                        component = 0;
                } else if (c >= '0' && c <= '9') {
                        component = component * 10 + (uint64_t) (c - '0');
                        if (component > UINT32_MAX)
                                return "has a component above 4294967295";
                        empty = false;
                } else {
                        return "may hold only digits and dots";
                }
        }
        return empty ? "has an empty component" : NULL;
}

/* Reads the component at *P of a valid version and steps past its dot; 0 past the end, so that
 * missing components compare as zeros. */
static uint32_t version_component(const char **p, const char *end) {
        uint32_t v = 0;

        for (; *p < end && **p != '.'; (*p)++)
                v = v * 10 + (uint32_t) (**p - '0');
        if (*p < end)
                (*p)++;
        return v;
}

static int version_cmp(struct span a, struct span b) {
        const char *pa = a.p, *pb = b.p;

        while (pa < a.p + a.n || pb < b.p + b.n) {
                uint32_t x = version_component(&pa, a.p + a.n);
                uint32_t y = version_component(&pb, b.p + b.n);

                if (x != y)
                        return x < y ? -1 : 1;
        }
        return 0;
}

int version_compare(const char *a, const char *b, int *ret_cmp) {
        struct span sa, sb;

        if (!a || !b)
                return -EINVAL;
        sa = (struct span){a, strlen(a)};
        sb = (struct span){b, strlen(b)};
        if (version_invalid(sa) || version_invalid(sb))
                return -EINVAL;
        *ret_cmp = version_cmp(sa, sb);
        return 0;
}

__attribute__((format(printf, 3, 4))) static int
factor_invalid(struct nctk_error **err, struct span factor, const char *fmt, ...) {
        _cleanup_free_ char *why = NULL;
        va_list ap;
        int r;

        if (!err)
                return -EINVAL;
        va_start(ap, fmt);
        r = vasprintf(&why, fmt, ap);
        va_end(ap);
        if (r < 0)
                why = NULL;
        return nctk_error_set(err, EINVAL, "invalid requirement '%.*s': %s", SPAN_FMT(factor),
                              why ? why : "malformed");
}

/* Checks what only the name and the operator decide, and the shape of the value. */
static int factor_check_value(const struct factor *f, struct nctk_error **err) {
        const char *why;

        for (size_t i = 0; i < f->value.n; i++)
                if (is_in(f->value.p[i], OP_CHARS))
                        return factor_invalid(err, f->text, "more than one operator");
        if (f->name == NAME_BRAND) {
                if (f->op != OP_EQ && f->op != OP_NE)
                        return factor_invalid(err, f->text,
                                              "operator '%s' does not apply to brand (use = or !=)",
                                              op_str[f->op]);
                return 0;
        }
        why = version_invalid(f->value);
        if (why)
                return factor_invalid(err, f->text, "version '%.*s' %s (%s)", SPAN_FMT(f->value),
                                      why, "want digits separated by dots, e.g. 12.4");
        return 0;
}

/* Splits S into NAME OP VALUE. */
static int factor_parse(struct span s, struct factor *ret, struct nctk_error **err) {
        struct factor f = {.text = s};
        struct span name = {s.p, 0}, op;
        unsigned idx;
        int r;

        while (name.n < s.n && !is_in(s.p[name.n], OP_CHARS))
                name.n++;
        if (name.n == s.n)
                return factor_invalid(err, s, "missing operator (" OPS_HINT ")");
        op = (struct span){s.p + name.n, 0};
        while (name.n + op.n < s.n && is_in(op.p[op.n], OP_CHARS))
                op.n++;
        f.value = (struct span){op.p + op.n, s.n - name.n - op.n};

        if (name.n == 0)
                return factor_invalid(err, s, "missing name before '%.*s' (" NAMES_HINT ")",
                                      SPAN_FMT(op));
        if (!lookup(name_str, NAME_COUNT, name, true, &idx))
                return factor_invalid(err, s, "unknown name '%.*s' (" NAMES_HINT ")",
                                      SPAN_FMT(name));
        f.name = (enum name) idx;
        if (!lookup(op_str, OP_COUNT, op, false, &idx))
                return factor_invalid(err, s, "unknown operator '%.*s' (" OPS_HINT ")",
                                      SPAN_FMT(op));
        f.op = (enum op) idx;
        if (f.value.n == 0)
                return factor_invalid(err, s, "missing value after '%.*s'", SPAN_FMT(op));
        r = factor_check_value(&f, err);
        if (r < 0)
                return r;
        *ret = f;
        return 0;
}

/* Bounds the length and admits only printable ASCII and the blanks that separate terms. */
static int expr_scan(const char *expr, struct span *ret, struct nctk_error **err) {
        size_t n;

        if (!expr)
                return nctk_error_set(err, EINVAL, "invalid requirement: no expression");
        n = strnlen(expr, REQUIRE_EXPR_MAX + 1);
        if (n > REQUIRE_EXPR_MAX)
                return nctk_error_set(err, E2BIG,
                                      "requirement expression is too long (more than %d bytes)",
                                      REQUIRE_EXPR_MAX);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) expr[i];

                if ((c < 0x21 || c > 0x7e) && !is_in(expr[i], BLANKS))
                        return nctk_error_set(err, EINVAL,
                                              "invalid requirement: byte 0x%02x at offset %zu is "
                                              "not printable ASCII",
                                              c, i);
        }
        *ret = (struct span){expr, n};
        return 0;
}

int require_validate(const char *expr, struct nctk_error **err) {
        struct span rest, term, text;
        struct factor f;
        int r;

        r = expr_scan(expr, &rest, err);
        if (r < 0)
                return r;
        while (span_next(&rest, BLANKS, &term))
                while (span_next(&term, ",", &text)) {
                        r = factor_parse(text, &f, err);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static const char *fact_of(const struct require_facts *facts, enum name name) {
        const char *v = NULL;

        if (!facts)
                return NULL;
        switch (name) {
        case NAME_CUDA: v = facts->cuda; break;
        case NAME_DRIVER: v = facts->driver; break;
        case NAME_ARCH: v = facts->arch; break;
        case NAME_BRAND: v = facts->brand; break;
        case NAME_COUNT: break;
        }
        return v && *v ? v : NULL;
}

static bool op_holds(enum op op, int cmp) {
        switch (op) {
        case OP_EQ: return cmp == 0;
        case OP_NE: return cmp != 0;
        case OP_LT: return cmp < 0;
        case OP_LE: return cmp <= 0;
        case OP_GT: return cmp > 0;
        case OP_GE: return cmp >= 0;
        case OP_COUNT: break;
        }
        return false;
}

/* Returns 1 when F holds, 0 when not, with *RET_CMP = how the host's fact compares to the value. */
static int factor_eval(const struct factor *f, const struct require_facts *facts, int *ret_cmp,
                       struct nctk_error **err) {
        const char *fact = fact_of(facts, f->name);
        struct span have;
        int cmp;

        if (!fact) {
                *ret_cmp = 0;
                return 1;
        }
        have = (struct span){fact, strlen(fact)};
        if (f->name == NAME_BRAND)
                cmp = have.n == f->value.n && strncasecmp(fact, f->value.p, have.n) == 0 ? 0 : 1;
        else if (version_invalid(have))
                return nctk_error_set(err, EINVAL, "this host's %s version '%.*s' is not a version",
                                      name_str[f->name], FACT_QUOTE_MAX, fact);
        else
                cmp = version_cmp(have, f->value);
        *ret_cmp = cmp;
        return op_holds(f->op, cmp);
}

/* Evaluates every factor of TERM (not stopping at the first failure, to say all that is missing).
 * Returns 1, or 0 when TERM holds no factor at all. */
static int term_eval(struct span term, const struct require_facts *facts, struct term_result *ret,
                     struct nctk_error **err) {
        struct term_result t = {.holds = true};
        struct span text;
        struct factor f;
        bool any = false;
        int r, cmp = 0;

        while (span_next(&term, ",", &text)) {
                r = factor_parse(text, &f, err);
                if (r < 0)
                        return r;
                r = factor_eval(&f, facts, &cmp, err);
                if (r < 0)
                        return r;
                any = true;
                if (r > 0)
                        continue;
                t.holds = false;
                t.failed |= 1u << f.name;
                /* Not for "cuda<12" or "cuda!=12": a newer driver does not help there. */
                if (f.name == NAME_CUDA && (cmp < 0 || f.op == OP_GT))
                        t.advise = true;
        }
        *ret = t;
        return any;
}

static int unsatisfied(struct nctk_error **err, struct span term, const struct term_result *t,
                       const struct require_facts *facts) {
        static const char *const have[NAME_COUNT] = {
                [NAME_CUDA] = "this host's driver supports CUDA ",
                [NAME_DRIVER] = "this host's driver is ",
                [NAME_ARCH] = "this host's GPU has compute capability ",
                [NAME_BRAND] = "this host's GPU brand is ",
        };
        /* At most four entries of under 48 + 2 * FACT_QUOTE_MAX bytes each. */
        char buf[4 * (48 + 2 * FACT_QUOTE_MAX)] = "";
        size_t len = 0;

        for (unsigned i = 0; i < NAME_COUNT; i++) {
                /* Set whenever the bit is: a factor on an unknown fact holds. */
                const char *fact = fact_of(facts, (enum name) i);
                /* "6.0, Pascal": people know GPUs by generation more than by number. */
                const char *extra = fact && i == NAME_ARCH && facts->arch_name && *facts->arch_name
                                            ? facts->arch_name
                                            : NULL;
                int k;

                if (!(t->failed & (1u << i)) || !fact)
                        continue;
                k = snprintf(buf + len, sizeof(buf) - len, "%s%s%.*s%s%.*s", len > 0 ? "; " : "",
                             have[i], FACT_QUOTE_MAX, fact, extra ? ", " : "", FACT_QUOTE_MAX,
                             extra ? extra : "");
                if (k < 0 || (size_t) k >= sizeof(buf) - len)
                        break;
                len += (size_t) k;
        }
        return nctk_error_set(err, EPERM, "unsatisfied condition: %.*s (%s)%s", SPAN_FMT(term), buf,
                              t->advise ? "; please update your driver to a newer version, or "
                                          "use an earlier cuda container"
                                        : "");
}

int require_check(const char *expr, const struct require_facts *facts, struct nctk_error **err) {
        struct span rest, term, first = {NULL, 0};
        struct term_result t, first_t = {.holds = true};
        int r;

        /* All of it first, so that a malformed expression fails on every host alike. */
        r = require_validate(expr, err);
        if (r < 0)
                return r;
        rest = (struct span){expr, strlen(expr)};
        while (span_next(&rest, BLANKS, &term)) {
                r = term_eval(term, facts, &t, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                if (t.holds)
                        return 0;
                if (!first.p) {
                        first = term;
                        first_t = t;
                }
        }
        if (!first.p)
                return 0;
        return unsatisfied(err, first, &first_t, facts);
}
