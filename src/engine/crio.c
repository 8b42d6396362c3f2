/* CRI-O's drop-in (/etc/crio/crio.conf.d/99-nvidia.toml): CRI-O merges every file of that
 * directory over crio.conf, so the drop-in holds only what we add and removing it undoes it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

/* A TOML basic string: quotes, backslashes and control characters escaped. */
static void toml_write_string(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;

                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c < 0x20 || c == 0x7f)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
        fputc('"', f);
}

/* A table key for NAME: a '.' would split a bare key into two, so such a name is quoted. */
static void toml_write_key(FILE *f, const char *name) {
        if (strchr(name, '.'))
                toml_write_string(f, name);
        else
                fputs(name, f);
}

int crio_dropin(const struct engine_runtime *rt, struct engine_text *out, struct nctk_error **err) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        r = engine_runtime_name_check(rt->name, err);
        if (r < 0)
                return r;
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fputs("# The NVIDIA runtime for CRI-O, written by `nvidia-ctk runtime configure`;\n"
              "# `nvidia-ctk runtime unconfigure --runtime=crio` removes this file.\n",
              f);
        if (rt->set_as_default) {
                fputs("\n[crio.runtime]\ndefault_runtime = ", f);
                toml_write_string(f, rt->name);
                fputc('\n', f);
        }
        fputs("\n[crio.runtime.runtimes.", f);
        toml_write_key(f, rt->name);
        fputs("]\nruntime_path = ", f);
        toml_write_string(f, rt->path);
        fputs("\nruntime_type = \"oci\"\n", f);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *out = (struct engine_text){buf, len};
        return 0;
}
