/* A test driver, not part of the product: runs one containerd editor (engine.h) or one
 * toml-edit call on stdin and writes the result to stdout, so that Python tests can drive
 * the C functions on generated files.
 *   containerd-tool configure|unconfigure [-n NAME] [-p PATH] [-d] [-c] [-v NEW_VERSION]
 *   containerd-tool dropin MAIN_CONFIG [-n NAME] ...   (stdin: the drop-in)
 *   containerd-tool version | import-add GLOB | import-remove GLOB
 *   containerd-tool set DOTTED.TABLE KEY VALUE | remove DOTTED.TABLE KEY
 *   containerd-tool bench N configure ...   (N runs, for timing)
 * Errors: the message on stderr, exit status 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/toml-edit.h"
#include "config/toml.h"
#include "engine/engine.h"
#include "util/macros.h"

static char *read_all(FILE *f, size_t *ret_len) {
        size_t cap = 1 << 16, len = 0, n;
        char *buf = malloc(cap);

        while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
                len += n;
                if (len == cap) {
                        char *nb = realloc(buf, cap *= 2);
                        if (!nb)
                                free(buf);
                        buf = nb;
                }
        }
        *ret_len = len;
        return buf;
}

static int run_dropin(const char *main_path, const char *in, size_t len,
                      const struct engine_runtime *rt, int new_version, struct engine_text *out,
                      struct nctk_error **err) {
        FILE *f = fopen(main_path, "rb");
        size_t main_len = 0;
        char *main_cfg = f ? read_all(f, &main_len) : NULL;
        int r;

        if (f)
                fclose(f);
        if (!main_cfg)
                return -errno;
        r = containerd_configure_dropin(main_cfg, main_len, in, len, rt, new_version, out, err);
        free(main_cfg);
        return r;
}

static int run_runtime(int argc, char **argv, const char *in, size_t len, struct engine_text *out,
                       struct nctk_error **err) {
        struct engine_runtime rt = {.name = "nvidia", .path = "/usr/bin/nvidia-container-runtime"};
        int new_version = 2, c;
        const char *main_path = NULL;

        if (STREQ(argv[0], "dropin")) {
                if (argc < 2)
                        return -EINVAL;
                main_path = argv[1];
                argv++;
                argc--;
        }
        optind = 1;
        while ((c = getopt(argc, argv, "n:p:dcv:")) >= 0)
                switch (c) {
                case 'n': rt.name = optarg; break;
                case 'p': rt.path = optarg; break;
                case 'd': rt.set_as_default = true; break;
                case 'c': rt.cdi_enabled = true; break;
                case 'v': new_version = atoi(optarg); break;
                default: return -EINVAL;
                }
        if (main_path)
                return run_dropin(main_path, in, len, &rt, new_version, out, err);
        if (STREQ(argv[0], "configure"))
                return containerd_configure(in, len, &rt, new_version, out, err);
        return containerd_unconfigure(in, len, &rt, out, err);
}

static int run_edit(int argc, char **argv, const char *in, size_t len, struct engine_text *out,
                    struct nctk_error **err) {
        _cleanup_(toml_edit_freep) struct toml_edit *e = NULL;
        char **path = NULL;
        size_t n = 0;
        int r;

        if (argc < 3 || (STREQ(argv[0], "set") && argc < 4))
                return -EINVAL;
        r = toml_edit_new("stdin", in, len, &e, err);
        if (r >= 0 && argv[1][0])
                r = toml_path_parse(argv[1], &path, &n, err);
        if (r >= 0)
                r = STREQ(argv[0], "set")
                            ? toml_edit_set(e, (const char *const *) path, n, argv[2], argv[3], err)
                            : toml_edit_remove(e, (const char *const *) path, n, argv[2], err);
        toml_strv_free(path);
        if (r >= 0)
                out->data = toml_edit_steal(e, &out->len);
        return r;
}

static int run(int argc, char **argv, const char *in, size_t len, struct engine_text *out,
               struct nctk_error **err) {
        if (STREQ(argv[0], "configure") || STREQ(argv[0], "unconfigure") ||
            STREQ(argv[0], "dropin"))
                return run_runtime(argc, argv, in, len, out, err);
        if (STREQ(argv[0], "import-add") && argc == 2)
                return containerd_import_add(in, len, argv[1], out, err);
        if (STREQ(argv[0], "import-remove") && argc == 2)
                return containerd_import_remove(in, len, argv[1], out, err);
        if (STREQ(argv[0], "set") || STREQ(argv[0], "remove"))
                return run_edit(argc, argv, in, len, out, err);
        return -EINVAL;
}

int main(int argc, char **argv) {
        struct engine_text out = {0};
        struct nctk_error *err = NULL;
        long runs = 1;
        size_t len;
        char *in;
        int r = 0;

        if (argc < 2)
                return 2;
        in = read_all(stdin, &len);
        if (!in)
                return 2;
        if (STREQ(argv[1], "version")) {
                printf("%d\n", containerd_config_version(in, len));
                free(in);
                return 0;
        }
        if (STREQ(argv[1], "bench") && argc > 3) {
                runs = atol(argv[2]);
                argv += 2;
                argc -= 2;
        }
        for (long i = 0; i < runs && r >= 0; i++) {
                engine_text_free(&out);
                r = run(argc - 1, argv + 1, in, len, &out, &err);
        }
        free(in);
        if (r < 0) {
                fprintf(stderr, "%s\n", err ? err->msg : strerror(-r));
                nctk_error_free(&err);
                return 1;
        }
        fwrite(out.data, 1, out.len, stdout);
        engine_text_free(&out);
        return 0;
}
