/* Fuzzes the requirement language: the first byte picks the host facts, the rest is the
 * expression. Besides the sanitizers, checks that the return values and messages keep their
 * contract, that syntax checking agrees with evaluation, and that version comparison is an
 * order. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "2-select/require.h"
#include "util/macros.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct require_facts facts[] = {
        {"13.0", "580.159.04", "9.0", "Nvidia"},
        {"12.2", "535.104.05", "7.5", "Tesla"},
        {"13.0", "580.159.04", NULL, NULL},
        {NULL, NULL, NULL, NULL},
        {"", "", "", ""},
        {"4294967295.0.1", "0", "10.3", "GeForce"},
};

static void check_contract(const char *expr, const struct require_facts *f) {
        struct nctk_error *err = NULL;
        int r, v;

        r = require_check(expr, f, &err);
        if (r != 0 && r != -EPERM && r != -EINVAL && r != -E2BIG)
                abort();
        if ((r == 0) != (err == NULL) || (err && (err->errnum != -r || !err->msg)))
                abort();
        nctk_error_free(&err);
        v = require_validate(expr, &err);
        /* All facts above are well-formed, so only the syntax makes it fail. */
        if (v != (r == -EPERM ? 0 : r))
                abort();
        nctk_error_free(&err);
        if (require_check(expr, f, NULL) != r)
                abort();
}

static void check_order(const char *s) {
        static const char *const others[] = {"0", "12", "12.0.0", "13.0", "580.159.04"};
        int c1, c2;

        if (version_compare(s, s, &c1) == 0 && c1 != 0)
                abort();
        for (size_t i = 0; i < ELEMENTSOF(others); i++) {
                int r1 = version_compare(s, others[i], &c1);
                int r2 = version_compare(others[i], s, &c2);

                if (r1 != r2 || (r1 == 0 && c1 != -c2))
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *expr = NULL;

        if (size < 1)
                return 0;
        expr = malloc(size);
        if (!expr)
                return 0;
        memcpy(expr, data + 1, size - 1);
        expr[size - 1] = '\0';
        check_contract(expr, &facts[data[0] % ELEMENTSOF(facts)]);
        check_contract(expr, NULL);
        check_order(expr);
        return 0;
}
