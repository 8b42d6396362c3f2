/* libFuzzer target for the daemon.json editor (src/engine/docker.c) and the unified diff: any bytes
 * give a one-line error or a document our scanner accepts; configure is idempotent; unconfigure
 * of its output is a document too; the diff of the change is printed without fault. The first
 * byte picks the flags. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/jsonscan.h"
#include "util/udiff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_document(const struct engine_text *t) {
        size_t open;

        assert(strlen(t->data) == t->len);
        assert(json_scan_document(t->data, t->len, &open, NULL) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct engine_runtime rt = {"nvidia", "/usr/bin/nvidia-container-runtime", false, false};
        struct engine_text once = {}, twice = {}, back = {};
        struct nctk_error *err = NULL;
        const char *in;
        FILE *null;

        if (size == 0)
                return 0;
        rt.set_as_default = data[0] & 1;
        rt.cdi_enabled = data[0] & 2;
        in = (const char *) data + 1;
        size--;
        if (docker_configure(in, size, &rt, &once, &err) < 0) {
                assert(err && err->msg && !strchr(err->msg, '\n') && !once.data);
                nctk_error_free(&err);
                return 0;
        }
        check_document(&once);
        assert(docker_configure(once.data, once.len, &rt, &twice, NULL) == 0);
        assert(twice.len == once.len && memcmp(twice.data, once.data, once.len) == 0);
        assert(docker_unconfigure(once.data, once.len, &rt, &back, NULL) == 0);
        check_document(&back);
        null = fopen("/dev/null", "w");
        if (null) {
                assert(udiff_write(null, "a", "b", in, size, once.data, once.len) == 0);
                fclose(null);
        }
        engine_text_free(&once);
        engine_text_free(&twice);
        engine_text_free(&back);
        return 0;
}
