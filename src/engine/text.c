/* What every engine editor shares: the returned text, and the check of a runtime's name. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

void engine_text_free(struct engine_text *t) {
        free(t->data);
        t->data = NULL;
        t->len = 0;
}

int engine_runtime_name_check(const char *name, struct nctk_error **err) {
        size_t n = strlen(name);

        if (n == 0 || n > 64 ||
            strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789-_.") != n)
                return nctk_error_set(err, EINVAL,
                                      "invalid runtime name '%s': use 1 to 64 letters, digits, "
                                      "'-', '_' or '.'",
                                      name);
        return 0;
}
