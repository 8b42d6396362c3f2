/* Unified diff: the lines both texts share at the start and the end are set aside, Myers' greedy
 * algorithm (time in the size times the edit distance) finds a shortest edit script for the rest,
 * and hunks with three lines of context are printed with every deletion of a change before its
 * insertions, as diff(1) does. A config edit changes a few lines; when the script would need too
 * much memory the middle is printed as one replacement, still a correct diff. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/macros.h"
#include "util/strv.h"
#include "util/udiff.h"

#define CONTEXT 3
/* Cells of the Myers trace kept at most (longs): 128 MiB. */
#define TRACE_MAX (16u << 20)

struct line {
        const char *p;
        size_t n; /* with its '\n', when it has one */
};

enum op_kind { OP_EQUAL, OP_DELETE, OP_INSERT };

struct op {
        enum op_kind kind;
        size_t a, b; /* the line of each text this op is at */
};

struct script {
        const struct line *a, *b;
        size_t na, nb;
        struct op *ops;
        size_t n;
};

static int split_lines(const char *s, size_t len, struct line **ret, size_t *ret_n) {
        struct line *l = NULL;
        size_t n = 0;

        for (size_t i = 0; i < len;) {
                const char *nl = memchr(s + i, '\n', len - i);
                size_t end = nl ? (size_t) (nl - s) + 1 : len;
                struct line *p = ARRAY_PUSH(l, n);

                if (!p) {
                        free(l);
                        return -ENOMEM;
                }
                *p = (struct line){s + i, end - i};
                i = end;
        }
        *ret = l;
        *ret_n = n;
        return 0;
}

static bool same(const struct line *x, const struct line *y) {
        return x->n == y->n && memcmp(x->p, y->p, x->n) == 0;
}

static int push(struct script *s, enum op_kind kind, size_t a, size_t b) {
        struct op *o = ARRAY_PUSH(s->ops, s->n);

        if (!o)
                return -ENOMEM;
        *o = (struct op){kind, a, b};
        return 0;
}

/* The D-path's trace: V after each round d, V[k] the furthest x on diagonal k (offset MAX). */
static int myers_trace(const struct line *a, size_t n, const struct line *b, size_t m,
                       long **ret_trace, long *ret_d) {
        long max = (long) (n + m), width = 2 * max + 1;
        _cleanup_free_ long *trace = NULL;
        _cleanup_free_ long *v = calloc((size_t) width, sizeof(long));
        long rounds = 0;

        if (!v)
                return -ENOMEM;
        for (long d = 0; d <= max; d++) {
                bool done = false;

                if ((size_t) ((d + 1) * width) > TRACE_MAX)
                        return -E2BIG;
                /* Room for rounds grows by doubling: growing by one round copied the whole
                 * trace each time, quadratic in D (seconds for a 200-line file). */
                if (d == rounds) {
                        long *t;

                        rounds = rounds ? 2 * rounds : 16;
                        if ((size_t) (rounds * width) > TRACE_MAX)
                                rounds = (long) (TRACE_MAX / (size_t) width);
                        t = realloc(trace, (size_t) (rounds * width) * sizeof(long));
                        if (!t)
                                return -ENOMEM;
                        trace = t;
                }
                for (long k = -d; k <= d; k += 2) {
                        long x = k == -d || (k != d && v[max + k - 1] < v[max + k + 1])
                                         ? v[max + k + 1]
                                         : v[max + k - 1] + 1;
                        long y = x - k;

                        while (x < (long) n && y < (long) m && same(&a[x], &b[y]))
                                x++, y++;
                        v[max + k] = x;
                        if (x >= (long) n && y >= (long) m)
                                done = true;
                }
                memcpy(trace + d * width, v, (size_t) width * sizeof(long));
                if (done) {
                        *ret_trace = TAKE_PTR(trace);
                        *ret_d = d;
                        return 0;
                }
        }
        return -EINVAL; /* unreachable: D <= N + M */
}

/* Appends the script of a[A0..A0+N) into b[B0..B0+M), in order: the trace walked back from
 * (N, M), each round one snake of equal lines and the one edit before it. */
static int myers(struct script *s, size_t a0, size_t n, size_t b0, size_t m) {
        long max = (long) (n + m), width = 2 * max + 1, d, x = (long) n, y = (long) m;
        _cleanup_free_ long *trace = NULL;
        struct script rev = {};
        int r = myers_trace(s->a + a0, n, s->b + b0, m, &trace, &d);

        for (; r >= 0 && d > 0; d--) {
                const long *pv = trace + (d - 1) * width;
                long k = x - y;
                bool down = k == -d || (k != d && pv[max + k - 1] < pv[max + k + 1]);
                long pk = down ? k + 1 : k - 1, px = pv[max + pk], py = px - pk;

                while (r >= 0 && x > px + !down && y > py + down)
                        x--, y--, r = push(&rev, OP_EQUAL, a0 + (size_t) x, b0 + (size_t) y);
                if (r >= 0)
                        r = push(&rev, down ? OP_INSERT : OP_DELETE, a0 + (size_t) px,
                                 b0 + (size_t) py);
                x = px, y = py;
        }
        while (r >= 0 && x > 0)
                x--, y--, r = push(&rev, OP_EQUAL, a0 + (size_t) x, b0 + (size_t) y);
        for (size_t i = rev.n; r >= 0 && i > 0; i--)
                r = push(s, rev.ops[i - 1].kind, rev.ops[i - 1].a, rev.ops[i - 1].b);
        free(rev.ops);
        return r;
}

/* Too large for the trace: the middle as one deletion and one insertion. */
static int replace_all(struct script *s, size_t a0, size_t n, size_t b0, size_t m) {
        for (size_t i = 0; i < n; i++)
                if (push(s, OP_DELETE, a0 + i, b0) < 0)
                        return -ENOMEM;
        for (size_t j = 0; j < m; j++)
                if (push(s, OP_INSERT, a0 + n, b0 + j) < 0)
                        return -ENOMEM;
        return 0;
}

static int build_script(struct script *s) {
        size_t pre = 0, suf = 0, na = s->na, nb = s->nb;
        int r;

        while (pre < na && pre < nb && same(&s->a[pre], &s->b[pre]))
                pre++;
        while (suf < na - pre && suf < nb - pre && same(&s->a[na - 1 - suf], &s->b[nb - 1 - suf]))
                suf++;
        for (size_t i = 0; i < pre; i++)
                if (push(s, OP_EQUAL, i, i) < 0)
                        return -ENOMEM;
        /* One side empty: the middle is all deletions or all insertions. */
        if (na - pre - suf == 0 || nb - pre - suf == 0)
                r = -E2BIG;
        else
                r = myers(s, pre, na - pre - suf, pre, nb - pre - suf);
        if (r == -E2BIG)
                r = replace_all(s, pre, na - pre - suf, pre, nb - pre - suf);
        if (r < 0)
                return r;
        for (size_t i = suf; i > 0; i--)
                if (push(s, OP_EQUAL, na - i, nb - i) < 0)
                        return -ENOMEM;
        return 0;
}

static void print_line(FILE *f, char mark, const struct line *l) {
        fputc(mark, f);
        fwrite(l->p, 1, l->n, f);
        if (l->n == 0 || l->p[l->n - 1] != '\n')
                fputs("\n\\ No newline at end of file\n", f);
}

/* Ops [FROM, TO): their equal lines, and each run of changes as its deletions then insertions. */
static void print_hunk(FILE *f, const struct script *s, size_t from, size_t to) {
        size_t ca = 0, cb = 0;

        for (size_t i = from; i < to; i++) {
                ca += s->ops[i].kind != OP_INSERT;
                cb += s->ops[i].kind != OP_DELETE;
        }
        fprintf(f, "@@ -%zu,%zu +%zu,%zu @@\n", s->ops[from].a + (ca > 0), ca,
                s->ops[from].b + (cb > 0), cb);
        for (size_t i = from; i < to;) {
                size_t j = i;

                if (s->ops[i].kind == OP_EQUAL) {
                        print_line(f, ' ', &s->a[s->ops[i].a]);
                        i++;
                        continue;
                }
                while (j < to && s->ops[j].kind != OP_EQUAL)
                        j++;
                for (size_t k = i; k < j; k++)
                        if (s->ops[k].kind == OP_DELETE)
                                print_line(f, '-', &s->a[s->ops[k].a]);
                for (size_t k = i; k < j; k++)
                        if (s->ops[k].kind == OP_INSERT)
                                print_line(f, '+', &s->b[s->ops[k].b]);
                i = j;
        }
}

static void print_hunks(FILE *f, const struct script *s) {
        size_t i = 0;

        for (;;) {
                size_t from, to, eq;

                while (i < s->n && s->ops[i].kind == OP_EQUAL)
                        i++;
                if (i == s->n)
                        return;
                from = i > CONTEXT ? i - CONTEXT : 0;
                /* Extend over changes closer than twice the context to each other. */
                for (to = i;;) {
                        while (to < s->n && s->ops[to].kind != OP_EQUAL)
                                to++;
                        for (eq = to; eq < s->n && s->ops[eq].kind == OP_EQUAL; eq++)
                                ;
                        if (eq == s->n || eq - to > 2 * CONTEXT)
                                break;
                        to = eq;
                }
                to = to + CONTEXT < s->n ? to + CONTEXT : s->n;
                if (to > eq)
                        to = eq;
                print_hunk(f, s, from, to);
                i = to;
        }
}

int udiff_write(FILE *f, const char *old_path, const char *new_path, const char *a, size_t alen,
                const char *b, size_t blen) {
        _cleanup_free_ struct line *la = NULL;
        _cleanup_free_ struct line *lb = NULL;
        struct script s = {};
        int r;

        if (alen == blen && memcmp(a, b, alen) == 0)
                return 0;
        r = split_lines(a, alen, &la, &s.na);
        if (r >= 0)
                r = split_lines(b, blen, &lb, &s.nb);
        if (r < 0)
                return r;
        s.a = la, s.b = lb;
        r = build_script(&s);
        if (r >= 0) {
                fprintf(f, "--- %s\n+++ %s\n", old_path, new_path);
                print_hunks(f, &s);
        }
        free(s.ops);
        return r;
}
