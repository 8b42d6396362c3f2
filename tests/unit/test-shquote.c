/* Unit tests for shell quoting: what stays bare, and quotes inside quoted words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit-tap.h"
#include "util/macros.h"
#include "util/shquote.h"

static void check(const char *in, const char *want) {
        _cleanup_free_ char *got = shell_quote(in);

        assert_non_null(got);
        assert_string_equal(got, want);
}

static void test_bare(void **state) {
        (void) state;
        check("--volume=/usr/lib/libcuda.so.1:/usr/local/nvidia/lib64/libcuda.so.1:ro",
              "--volume=/usr/lib/libcuda.so.1:/usr/local/nvidia/lib64/libcuda.so.1:ro");
        check("--env=A=b,c@d%e+f", "--env=A=b,c@d%e+f");
        assert_false(shell_needs_quote("x"));
}

static void test_quoted(void **state) {
        (void) state;
        check("", "''");
        check("a b", "'a b'");
        check("$HOME", "'$HOME'");
        check("~root", "'~root'");
        check("#x", "'#x'");
        check("it's", "'it'\\''s'");
        check("'", "''\\'''");
        check("a\nb", "'a\nb'");
        check("*", "'*'");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bare),
                cmocka_unit_test(test_quoted),
        };
        return unit_run_group_tests(tests, NULL, NULL);
}
