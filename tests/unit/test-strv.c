/* Unit tests for the growable array and string helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit-tap.h"
#include "util/macros.h"
#include "util/strv.h"

static void test_array_push_grows(void **state) {
        _cleanup_free_ int *a = NULL;
        size_t n = 0;

        (void) state;
        for (int i = 0; i < 1000; i++) {
                int *p = ARRAY_PUSH(a, n);
                assert_non_null(p);
                assert_int_equal(*p, 0);
                *p = i;
        }
        assert_int_equal(n, 1000);
        for (int i = 0; i < 1000; i++)
                assert_int_equal(a[i], i);
}

static void test_strings(void **state) {
        char buf[8], s[] = "  x y \n";
        _cleanup_free_ char *j = path_join("/a//", "//b/c");

        (void) state;
        assert_true(startswith("libcuda.so.1", "libcuda.so"));
        assert_false(startswith("lib", "libcuda"));
        assert_true(endswith("libcuda.so.580.1", ".so.580.1"));
        assert_false(endswith("a", "ab"));
        strscpy(buf, sizeof(buf), "0123456789");
        assert_string_equal(buf, "0123456");
        assert_string_equal(strstrip(s), "x y");
        assert_string_equal(j, "/a/b/c");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_array_push_grows),
                cmocka_unit_test(test_strings),
        };
        return unit_run_group_tests(tests, NULL, NULL);
}
