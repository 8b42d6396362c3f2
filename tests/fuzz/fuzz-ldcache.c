/* libFuzzer target for the ld.so.cache parser: any bytes must give an error or entries whose
 * strings lie inside the cache's copy, never a crash or an out-of-bounds read. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ldcache/ldcache.h"
#include "util/macros.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(ldcache_freep) struct ldcache *c = NULL;
        _cleanup_(nctk_error_free) struct nctk_error *err = NULL;

        if (ldcache_parse(data, size, &c, &err) < 0) {
                assert(err && err->errnum > 0);
                return 0;
        }
        assert(c->n_entries == 0 || c->entries);
        for (size_t i = 0; i < c->n_entries; i++) {
                const struct ldcache_entry *e = &c->entries[i];

                /* strlen makes ASan check every byte up to the NUL. */
                assert(e->key >= c->data && e->key + strlen(e->key) < c->data + size);
                assert(e->value >= c->data && e->value + strlen(e->value) < c->data + size);
                (void) ldcache_entry_abi(e->flags);
        }
        return 0;
}
