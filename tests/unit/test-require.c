/* Requirement expressions: a table of expressions against host facts, asserting the exact return
 * value and a piece of the message, plus version comparison and the input bounds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "2-select/require.h"
#include "unit-tap.h"
#include "util/macros.h"

static const struct require_facts h100 = {"13.0", "580.159.04", "9.0", "Nvidia"};
static const struct require_facts t4 = {"12.2", "535.104.05", "7.5", "Tesla"};
static const struct require_facts p100 = {"12.2", "535.104.05", "6.0", "Tesla", "Pascal"};
static const struct require_facts nodev = {"13.0", "580.159.04"};
static const struct require_facts unknown = {NULL};
static const struct require_facts blank = {"", "", "", ""};
static const struct require_facts badcuda = {"13.x", "580.159.04", "9.0", "Nvidia"};

#define ADVICE "please update your driver to a newer version, or use an earlier cuda container"
#define REQUIRE_CUDA_12_4                                                                          \
        "cuda>=12.4 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471 "      \
        "brand=nvidia,driver>=470,driver<471 brand=tesla,driver>=535,driver<536 "                  \
        "brand=geforce,driver>=535,driver<536"

struct check_case {
        const char *expr;
        const struct require_facts *facts;
        int ret;
        const char *msg;    /* must appear in the message (NULL: nothing checked) */
        const char *absent; /* must not appear */
        bool fact_error;    /* -EINVAL comes from the facts: the syntax is fine */
};

static const struct check_case cases[] = {
        /* OR and AND */
        {"cuda>=12.0", &h100, 0},
        {"cuda>=13.1", &h100, -EPERM,
         "unsatisfied condition: cuda>=13.1 (this host's driver supports CUDA 13.0); " ADVICE},
        {"cuda>=13.1 cuda>=12", &h100, 0},
        {"cuda>=13.1 driver>=600", &h100, -EPERM, "unsatisfied condition: cuda>=13.1 (",
         "driver>=600"},
        {"cuda>=12,driver>=600", &h100, -EPERM,
         "unsatisfied condition: cuda>=12,driver>=600 (this host's driver is 580.159.04)", ADVICE},
        {"cuda>=12,driver>=550", &h100, 0},
        {"brand=tesla,driver>=470,driver<471 brand=nvidia,driver>=580", &h100, 0},
        {"brand=tesla,driver>=470,driver<471 brand=geforce", &h100, -EPERM,
         "(this host's driver is 580.159.04; this host's GPU brand is Nvidia)", ADVICE},
        {REQUIRE_CUDA_12_4, &h100, 0},
        {REQUIRE_CUDA_12_4, &t4, 0},
        {"cuda>=12.4,arch>=8.0 cuda>=12.0,arch>=7.0", &t4, 0},
        {"cuda>=13.0,driver>=590,arch>=10.0", &h100, -EPERM,
         "(this host's driver is 580.159.04; this host's GPU has compute capability 9.0)", ADVICE},
        {"cuda>=12,,driver>=500,", &h100, 0},
        {"cuda>=14\tcuda>=12", &h100, 0},
        {"  cuda>=14 \n cuda>=12\r\n", &h100, 0},
        {"cuda>=14 ,", &h100, -EPERM, "unsatisfied condition: cuda>=14 ("},
        /* every operator on cuda */
        {"cuda=13", &h100, 0},
        {"cuda=12", &h100, -EPERM, "cuda=12 (this host's driver supports CUDA 13.0)", ADVICE},
        {"cuda=13.1", &h100, -EPERM, ADVICE},
        {"cuda!=12", &h100, 0},
        {"cuda!=13.0", &h100, -EPERM, "cuda!=13.0 (", ADVICE},
        {"cuda<14", &h100, 0},
        {"cuda<13", &h100, -EPERM, "supports CUDA 13.0)", ADVICE},
        {"cuda<=13.0.0", &h100, 0},
        {"cuda<=12.9", &h100, -EPERM, "cuda<=12.9", ADVICE},
        {"cuda>12.9", &h100, 0},
        {"cuda>13", &h100, -EPERM, ADVICE},
        {"cuda>=13.0", &h100, 0},
        /* driver */
        {"driver=580.159.04", &h100, 0},
        {"driver=580.159.4", &h100, 0},
        {"driver!=580.159.04", &h100, -EPERM, "this host's driver is 580.159.04", ADVICE},
        {"driver<580.159.05", &h100, 0},
        {"driver<=580", &h100, -EPERM, "driver<=580 (this host's driver is 580.159.04)"},
        {"driver>580", &h100, 0},
        {"driver>=581", &h100, -EPERM, "this host's driver is 580.159.04", ADVICE},
        {"driver<00000000000000000000000000581", &h100, 0},
        /* arch */
        {"arch=9.0", &h100, 0},
        {"arch=9", &h100, 0},
        {"arch!=9.0", &h100, -EPERM, "this host's GPU has compute capability 9.0"},
        {"arch<10", &h100, 0},
        {"arch<=8.9", &h100, -EPERM, "arch<=8.9 ("},
        {"arch>8.9", &h100, 0},
        {"arch>=9.0", &h100, 0},
        /* the architecture's name beside its number, as the MPS example's daemon image shows */
        {"arch>=7.0", &p100, -EPERM,
         "unsatisfied condition: arch>=7.0 (this host's GPU has compute capability 6.0, Pascal)"},
        {"arch<6,brand=nvidia", &p100, -EPERM,
         "(this host's GPU has compute capability 6.0, Pascal; this host's GPU brand is Tesla)"},
        {"arch>=6.0", &p100, 0},
        {"cuda>=13", &p100, -EPERM, "supports CUDA 12.2)", "Pascal"},
        /* brand: case-insensitive, = and != only */
        {"brand=nvidia", &h100, 0},
        {"brand=NVIDIA", &h100, 0},
        {"BRAND=Nvidia,Cuda>=12", &h100, 0},
        {"brand!=nvidia", &h100, -EPERM, "(this host's GPU brand is Nvidia)", ADVICE},
        {"brand!=tesla", &h100, 0},
        {"brand=nvidiartx", &h100, -EPERM, "brand=nvidiartx ("},
        {"brand<tesla", &h100, -EINVAL,
         "invalid requirement 'brand<tesla': operator '<' does not apply to brand (use = or !=)",
         NULL},
        {"brand>=tesla", &nodev, -EINVAL, "operator '>=' does not apply to brand"},
        /* trailing zeros */
        {"cuda=13.0.0.0", &h100, 0},
        {"cuda=13.00", &h100, 0},
        {"cuda>=13", &h100, 0},
        {"driver>=580.159.04.0.0", &h100, 0},
        {"driver>580.159.04.0", &h100, -EPERM},
        /* empty */
        {"", &h100, 0},
        {"   ", &h100, 0},
        {"\t\r\n ", &h100, 0},
        {",,, ,", &h100, 0},
        /* malformed */
        {"cuda>=", &h100, -EINVAL, "invalid requirement 'cuda>=': missing value after '>='"},
        {">=12", &h100, -EINVAL,
         "invalid requirement '>=12': missing name before '>=' (use cuda, driver, arch or brand)",
         NULL},
        {"cuda>=12..0", &h100, -EINVAL, "version '12..0' has an empty component"},
        {"cuda>=.12", &h100, -EINVAL, "has an empty component"},
        {"cuda>=12.", &h100, -EINVAL, "has an empty component"},
        {"cuda>=12.a", &h100, -EINVAL, "version '12.a' may hold only digits and dots"},
        {"cuda>=-1", &h100, -EINVAL, "may hold only digits and dots"},
        {"cuda=>12.0", &h100, -EINVAL,
         "invalid requirement 'cuda=>12.0': unknown operator '=>' (use =, !=, <, <=, >, >=)"},
        {"cuda==12", &h100, -EINVAL, "unknown operator '=='"},
        {"cuda!12", &h100, -EINVAL, "unknown operator '!'"},
        {"cdua>=12", &h100, -EINVAL,
         "invalid requirement 'cdua>=12': unknown name 'cdua' (use cuda, driver, arch or brand)",
         NULL},
        {"cuda", &h100, -EINVAL, "invalid requirement 'cuda': missing operator"},
        {"cuda >= 12", &h100, -EINVAL, "invalid requirement 'cuda': missing operator"},
        {"cuda>=12<13", &h100, -EINVAL, "'cuda>=12<13': more than one operator"},
        {"brand=a=b", &h100, -EINVAL, "more than one operator"},
        {"cuda>=12 bogus=1", &h100, -EINVAL, "unknown name 'bogus'"},
        {"cuda>=abc", &unknown, -EINVAL, "version 'abc'"},
        {"cuda>=12\x1b[31m", &h100, -EINVAL, "byte 0x1b at offset 8 is not printable ASCII"},
        {"brand=\xc3\xa9", &h100, -EINVAL, "byte 0xc3 at offset 6"},
        {"cuda>=12\v", &h100, -EINVAL, "byte 0x0b"},
        /* huge numbers */
        {"cuda>=4294967295", &h100, -EPERM, ADVICE},
        {"cuda<4294967295.4294967295", &h100, 0},
        {"cuda>=4294967296", &h100, -EINVAL,
         "version '4294967296' has a component above 4294967295"},
        {"driver>=99999999999999999999999999", &h100, -EINVAL, "above 4294967295"},
        /* unknown facts and no device */
        {"cuda>=99,driver>=999,arch>=99,brand=x", NULL, 0},
        {"cuda>=99,driver>=999,arch>=99,brand=x", &unknown, 0},
        {"cuda>=99,driver>=999,arch>=99,brand=x", &blank, 0},
        {"arch>=10.0,brand=tesla", &nodev, 0},
        {"cuda>=13.1,arch>=10", &nodev, -EPERM, "(this host's driver supports CUDA 13.0); " ADVICE,
         "compute capability"},
        /* a malformed host fact fails only where it is needed */
        {"cuda>=12", &badcuda, -EINVAL, "this host's cuda version '13.x' is not a version", NULL,
         true},
        {"driver>=500", &badcuda, 0},
};

static void test_check_case(void **state) {
        const struct check_case *c = *state;
        struct nctk_error *err = NULL;
        int r;

        r = require_check(c->expr, c->facts, &err);
        if (r != c->ret)
                print_error("'%s': got %d (%s), want %d\n", c->expr, r, err ? err->msg : "",
                            c->ret);
        assert_int_equal(r, c->ret);
        if (r == 0) {
                assert_null(err);
        } else {
                assert_non_null(err);
                assert_int_equal(err->errnum, -c->ret);
                assert_non_null(err->msg);
                if (c->msg && !strstr(err->msg, c->msg))
                        fail_msg("'%s' lacks '%s'", err->msg, c->msg);
                if (c->absent && strstr(err->msg, c->absent))
                        fail_msg("'%s' has '%s'", err->msg, c->absent);
        }
        nctk_error_free(&err);

        /* The syntax check agrees, and nothing needs ERR. */
        r = require_validate(c->expr, &err);
        assert_int_equal(r, c->ret == -EPERM || c->fact_error ? 0 : c->ret);
        nctk_error_free(&err);
        assert_int_equal(require_check(c->expr, c->facts, NULL), c->ret);
}

static void test_exact_message(void **state) {
        struct nctk_error *err = NULL;

        (void) state;
        assert_int_equal(require_check("cuda>=13.1 cuda>=13.2,brand=tesla", &h100, &err), -EPERM);
        assert_string_equal(err->msg, "unsatisfied condition: cuda>=13.1 (this host's driver "
                                      "supports CUDA 13.0); please update your driver to a newer "
                                      "version, or use an earlier cuda container");
        nctk_error_free(&err);
}

struct version_case {
        const char *a, *b;
        int ret, cmp;
};

static const struct version_case versions[] = {
        {"12", "12.0.0", 0, 0},
        {"12.0.1", "12", 0, 1},
        {"12", "12.0.1", 0, -1},
        {"9.10", "9.9", 0, 1},
        {"580.159.04", "580.159.4", 0, 0},
        {"0", "0.0", 0, 0},
        {"4294967295", "4294967294.9", 0, 1},
        {"1.2.3.4.5.6.7.8.9", "1.2.3.4.5.6.7.8.10", 0, -1},
        {"12..0", "12", -EINVAL, 0},
        {"12", "", -EINVAL, 0},
        {"12.a", "12", -EINVAL, 0},
        {" 12", "12", -EINVAL, 0},
        {"+12", "12", -EINVAL, 0},
        {"4294967296", "1", -EINVAL, 0},
        {NULL, "1", -EINVAL, 0},
};

static void test_version_compare(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(versions); i++) {
                const struct version_case *v = &versions[i];
                int cmp = 42, back = 42;

                assert_int_equal(version_compare(v->a, v->b, &cmp), v->ret);
                assert_int_equal(version_compare(v->b, v->a, &back), v->ret);
                if (v->ret < 0) {
                        assert_int_equal(cmp, 42); /* untouched */
                        continue;
                }
                assert_int_equal(cmp, v->cmp);
                assert_int_equal(back, -v->cmp);
        }
}

static void test_bounds(void **state) {
        _cleanup_free_ char *s = malloc(REQUIRE_EXPR_MAX + 2);
        struct nctk_error *err = NULL;

        (void) state;
        assert_non_null(s);
        /* Exactly the maximum: many factors, all fine. */
        for (size_t i = 0; i < REQUIRE_EXPR_MAX; i += 8)
                memcpy(s + i, "cuda>=1,", 8);
        s[REQUIRE_EXPR_MAX - 1] = '1';
        s[REQUIRE_EXPR_MAX] = '\0';
        assert_int_equal(require_check(s, &h100, &err), 0);
        assert_null(err);
        /* One byte more. */
        s[REQUIRE_EXPR_MAX] = ' ';
        s[REQUIRE_EXPR_MAX + 1] = '\0';
        assert_int_equal(require_check(s, &h100, &err), -E2BIG);
        assert_string_equal(err->msg, "requirement expression is too long (more than 4096 bytes)");
        assert_int_equal(require_validate(s, &err), -E2BIG);
        nctk_error_free(&err);
        assert_int_equal(require_check(NULL, &h100, &err), -EINVAL);
        assert_int_equal(require_validate(NULL, NULL), -EINVAL);
        nctk_error_free(&err);
}

static void test_error_replaced(void **state) {
        struct nctk_error *err = NULL;

        (void) state;
        assert_int_equal(require_check("cuda>=99", &h100, &err), -EPERM);
        assert_int_equal(require_check("cuda>=", &h100, &err), -EINVAL);
        assert_int_equal(err->errnum, EINVAL);
        nctk_error_free(&err);
}

int main(void) {
        const size_t n_fixed = 4, n = ELEMENTSOF(cases) + n_fixed;
        struct CMUnitTest *tests = calloc(n, sizeof(*tests));
        char **names = calloc(ELEMENTSOF(cases), sizeof(*names));
        int r;

        if (!tests || !names)
                return 1;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                /* TAP names must stay on one printable line. */
                if (asprintf(&names[i], "check %zu '%s'", i, cases[i].expr) < 0)
                        return 1;
                for (char *p = names[i]; *p; p++)
                        if ((unsigned char) *p < 0x20 || (unsigned char) *p > 0x7e || *p == '#')
                                *p = '?';
                tests[i] = (struct CMUnitTest){names[i], test_check_case, NULL, NULL,
                                               (void *) &cases[i]};
        }
        tests[n - 4] = (struct CMUnitTest) cmocka_unit_test(test_exact_message);
        tests[n - 3] = (struct CMUnitTest) cmocka_unit_test(test_version_compare);
        tests[n - 2] = (struct CMUnitTest) cmocka_unit_test(test_bounds);
        tests[n - 1] = (struct CMUnitTest) cmocka_unit_test(test_error_replaced);
        r = unit_run_group("require", tests, n, NULL, NULL);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                free(names[i]);
        free(names);
        free(tests);
        return r;
}
