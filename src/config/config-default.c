/* The text of `nvidia-ctk config default`: every key of the key table (config.c), each with a
 * line on what it does, the reference's example where it shows one, and its default value, so
 * that the file reads back as exactly the defaults. A key whose default is "unset" (no TOML
 * value can say that) is written as a commented example only. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config-default.h"
#include "config/toml-edit.h"
#include "util/macros.h"

struct key_doc {
        const char *path;
        const char *doc;     /* one comment line */
        const char *example; /* TOML value text, written as "#key = example"; or NULL */
};

#define CLI "nvidia-container-cli."
#define RT "nvidia-container-runtime."
#define FEAT "features."

static const struct key_doc key_docs[] = {
        {"disable-require", "Ignore every NVIDIA_REQUIRE_* requirement of every image.", NULL},
        {"swarm-resource",
         "Variable that Docker Swarm sets to a container's GPUs, read before "
         "NVIDIA_VISIBLE_DEVICES.",
         "\"DOCKER_RESOURCE_GPU\""},
        {"accept-nvidia-visible-devices-envvar-when-unprivileged",
         "Whether an unprivileged container may pick GPUs with NVIDIA_VISIBLE_DEVICES.", NULL},
        {"accept-nvidia-visible-devices-as-volume-mounts",
         "Read the GPUs from /dev/null mounts under /var/run/nvidia-container-devices/.", NULL},
        {"supported-driver-capabilities",
         "The capabilities NVIDIA_DRIVER_CAPABILITIES may ask for (\"all\": every one).", NULL},

        {CLI "root", "Where the driver is installed (\"\": /).", "\"/run/nvidia/driver\""},
        {CLI "path", "The nvidia-container-cli to run (\"\": the one on PATH).",
         "\"/usr/bin/nvidia-container-cli\""},
        {CLI "environment", "Extra NAME=VALUE variables for nvidia-container-cli.", NULL},
        {CLI "debug", "A file that nvidia-container-cli appends debug lines to.",
         "\"/var/log/nvidia-container-toolkit.log\""},
        {CLI "ldcache", "The driver root's library cache (\"\": /etc/ld.so.cache in it).",
         "\"/etc/ld.so.cache\""},
        {CLI "proc-root", "nctk's own: the procfs that describes the driver (unset: /proc).",
         "\"/proc\""},
        {CLI "mps-root",
         "nctk's own: where nvidia-ctk mps keeps its MPS daemons (unset: /run/nvidia-mps).",
         "\"/run/nvidia-mps\""},
        {CLI "load-kmods", "Load the kernel modules and make missing device nodes first.", NULL},
        {CLI "no-pivot", "Do not pivot_root into the container (nctk never does).", NULL},
        {CLI "no-cgroups", "Leave the container's device cgroup alone (rootless engines).", NULL},
        {CLI "user", "UID[:GID] for driver queries (\"\": the default; root:video on SUSE).",
         "\"root:video\""},
        {CLI "ldconfig", "The ldconfig for the container's library cache ('@': on the host).",
         NULL},

        {RT "debug", "The runtime's log file.", "\"/var/log/nvidia-container-runtime.log\""},
        {RT "log-level", "How much the runtime logs: debug, info, warning or error.", NULL},
        {RT "runtimes", "Low-level runtimes to run, the first one found wins.", NULL},
        {RT "mode", "How GPUs are given: auto, legacy, cdi, jit-cdi or csv.", NULL},
        {RT "mount-in-hook",
         "nctk's own, cdi mode: make the mounts in our hook, through fds: auto (unless the "
         "runtime is crun or runc 1.1.14+), always or never.",
         "\"auto\""},
        {RT "modes.cdi.spec-dirs", "Directories with CDI specs.", NULL},
        {RT "modes.cdi.default-kind", "The kind a bare device name gets in cdi mode.", NULL},
        {RT "modes.cdi.annotation-prefixes", "Annotation key prefixes that ask for CDI devices.",
         NULL},
        {RT "modes.csv.mount-spec-path", "The CSV files that list what to mount (Tegra).", NULL},
        {RT "modes.csv.compat-container-root",
         "Where a Tegra image keeps CUDA compat libraries (unset: /usr/local/cuda/compat).",
         "\"/usr/local/cuda/compat\""},
        {RT "modes.jit-cdi.nvcdi-feature-flags",
         "Feature flags for the CDI specs made at container start (unset: none).", "[]"},
        {RT "modes.jit-cdi.nvcdi-disable-hooks",
         "Hooks to leave out of the CDI specs made at container start (unset: none).",
         "[\"enable-cuda-compat\"]"},
        {RT "modes.legacy.cuda-compat-mode",
         "CUDA forward compatibility in legacy mode: ldconfig, hook, mount or disabled.", NULL},

        {"nvidia-container-runtime-hook.path", "The hook that legacy mode adds.", NULL},
        {"nvidia-container-runtime-hook.skip-mode-detection",
         "Run the hook even when the runtime's mode is not legacy.", NULL},
        {"nvidia-ctk.path", "The nvidia-ctk that CDI specs run as their hooks.", NULL},

        {FEAT "allow-cuda-compat-libs-from-container",
         "Mount CUDA compat libraries that an image carries.", NULL},
        {FEAT "allow-ldconfig-from-container", "Allow an ldconfig path without '@'.", NULL},
        {FEAT "allow-unknown-oci-spec-fields", "Accept config.json fields nctk does not know.",
         NULL},
        {FEAT "disable-cuda-compat-lib-hook", "Never add the enable-cuda-compat hook.", NULL},
        {FEAT "disable-imex-channel-creation", "Do not make IMEX channel device nodes.", NULL},
        {FEAT "ignore-imex-channel-requests", "Ignore NVIDIA_IMEX_CHANNELS and IMEX mounts.", NULL},
        {FEAT "no-additional-gids-for-device-nodes",
         "Do not add the device nodes' groups to the container's process.", NULL},
};

static void config_freep(struct nctk_config **c) {
        config_free(*c);
}

static const struct key_doc *doc_find(const char *path) {
        for (size_t i = 0; i < ELEMENTSOF(key_docs); i++)
                if (STREQ(key_docs[i].path, path))
                        return &key_docs[i];
        return NULL;
}

int config_value_text(const struct nctk_config *c, const struct config_key *k, char **ret) {
        const void *f = config_key_field(c, k);
        char *const *v;
        char *buf = NULL, *q;
        size_t len = 0;
        FILE *out;

        switch (k->kind) {
        case CONFIG_KEY_BOOL:
                return (*ret = strdup(*(const bool *) f ? "true" : "false")) ? 1 : -ENOMEM;
        case CONFIG_KEY_STRING:
                if (!*(char *const *) f)
                        return 0;
                return toml_quote_string(*(char *const *) f, ret) < 0 ? -ENOMEM : 1;
        case CONFIG_KEY_STRV: break;
        }
        if (!(v = *(char **const *) f))
                return 0;
        out = open_memstream(&buf, &len);
        if (!out)
                return -ENOMEM;
        fputc('[', out);
        for (size_t i = 0; v[i]; i++) {
                if (toml_quote_string(v[i], &q) < 0) {
                        fclose(out);
                        free(buf);
                        return -ENOMEM;
                }
                fprintf(out, "%s%s", i ? ", " : "", q);
                free(q);
        }
        fputc(']', out);
        if (fclose(out) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 1;
}

/* The table part of a dotted key ("" for the top level) and the last part. */
static const char *key_name(const char *path, size_t *ret_table_len) {
        const char *dot = strrchr(path, '.');

        *ret_table_len = dot ? (size_t) (dot - path) : 0;
        return dot ? dot + 1 : path;
}

static int write_key(FILE *out, const struct nctk_config *c, const struct config_key *k,
                     bool first) {
        const struct key_doc *d = doc_find(k->path);
        _cleanup_free_ char *value = NULL;
        size_t tlen;
        const char *name = key_name(k->path, &tlen);
        int r;

        r = config_value_text(c, k, &value);
        if (r < 0)
                return r;
        fprintf(out, "%s# %s\n", first ? "" : "\n", d ? d->doc : "");
        if (d && d->example)
                fprintf(out, "#%s = %s\n", name, d->example);
        if (value)
                fprintf(out, "%s = %s\n", name, value);
        return 0;
}

static const char header[] =
        "# config.toml of the NVIDIA Container Toolkit, as nctk reads it: every key with its\n"
        "# default value. A line \"#key = value\" is an example; remove the '#' to use it.\n"
        "# Change a key with: nvidia-ctk config --set KEY=VALUE --in-place\n";

int config_default_text(char **ret, size_t *ret_len, struct nctk_error **err) {
        _cleanup_(config_freep) struct nctk_config *c = NULL;
        const struct config_key *keys;
        const char *table = "";
        size_t n, len = 0, tlen = 0;
        char *buf = NULL;
        FILE *out;
        int r;

        r = config_new_defaults(&c, err);
        if (r < 0)
                return r;
        keys = config_keys(&n);
        out = open_memstream(&buf, &len);
        if (!out)
                return nctk_error_set(err, ENOMEM, "out of memory");
        fputs(header, out);
        for (size_t i = 0; i < n && r >= 0; i++) {
                bool first = false;
                size_t l;

                key_name(keys[i].path, &l);
                if (l != tlen || strncmp(keys[i].path, table, l) != 0) {
                        table = keys[i].path;
                        tlen = l;
                        fprintf(out, "\n[%.*s]\n", (int) l, table);
                        first = true;
                }
                r = write_key(out, c, &keys[i], first);
        }
        if (fclose(out) != 0 || r < 0) {
                free(buf);
                return nctk_error_set(err, ENOMEM, "out of memory");
        }
        *ret = buf;
        if (ret_len)
                *ret_len = len;
        return 0;
}
