/* Container engines' config files, edited as text: what `nvidia-ctk runtime configure` adds and
 * `unconfigure` takes out again. Every editor is pure (bytes in, bytes out, no I/O) so that it
 * can be tested on generated files; the front-end (cmd/ctk-runtime.c) reads, locks, diffs and
 * writes. Edits touch only what they add: every other byte of the file stays as it was. */
#ifndef NCTK_ENGINE_ENGINE_H
#define NCTK_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "nctk/nctk.h"

/* The runtime to register. */
struct engine_runtime {
        const char *name;    /* --nvidia-runtime-name: "nvidia" */
        const char *path;    /* --nvidia-runtime-path: the runtime's executable */
        bool set_as_default; /* --nvidia-set-as-default */
        bool cdi_enabled;    /* --cdi.enabled */
};

/* A text buffer an editor returns: malloc'd, NUL-terminated. */
struct engine_text {
        char *data;
        size_t len;
};

void engine_text_free(struct engine_text *t);

/* Runtime names go into JSON and TOML keys and engines' command lines: letters, digits, '-',
 * '_' and '.', 1 to 64 of them. Returns 0, or -EINVAL with an error that says so. */
int engine_runtime_name_check(const char *name, struct nctk_error **err);

/* docker.c: /etc/docker/daemon.json. IN (LEN 0: no file yet) must be one JSON object;
 * "runtimes" gets NAME = {"path": PATH, "args": []}, "default-runtime" NAME with
 * set_as_default, "features": {"cdi": true} with cdi_enabled. New members take the indentation
 * the file already uses. unconfigure takes out exactly those members. Errors name the line and
 * column of malformed input. */
int docker_configure(const char *in, size_t len, const struct engine_runtime *rt,
                     struct engine_text *out, struct nctk_error **err);
int docker_unconfigure(const char *in, size_t len, const struct engine_runtime *rt,
                       struct engine_text *out, struct nctk_error **err);
/* More on docker: a value configure replaces (another "default-runtime", "cdi": false, an entry
 * NAME with another path) is kept in the entry as "nctk-replaced": {...} and unconfigure puts it
 * back; unconfigure also removes a "default-runtime" NAME, and "features.cdi" only with
 * cdi_enabled (or when recorded). A blank IN comes back from unconfigure(configure()) as "{}". */

/* containerd.c: /etc/containerd/config.toml, config versions 1 (containerd 1.x without a
 * version line), 2 (1.x) and 3 (2.x), or a drop-in file. The runtime table of the CRI plugin
 * for the file's version (runtime_type io.containerd.runc.v2, options.BinaryName PATH) and,
 * with set_as_default, default_runtime_name; with cdi_enabled, enable_cdi. Every byte outside
 * the lines it adds or changes stays as it was, comments included. NEW_VERSION is the version
 * written for an empty input. */
int containerd_configure(const char *in, size_t len, const struct engine_runtime *rt,
                         int new_version, struct engine_text *out, struct nctk_error **err);
int containerd_unconfigure(const char *in, size_t len, const struct engine_runtime *rt,
                           struct engine_text *out, struct nctk_error **err);
/* Adds GLOB (e.g. "/etc/containerd/conf.d/ *.toml" without the space) to the top-level imports of a
 * main config, for a drop-in; removes it again. */
int containerd_import_add(const char *in, size_t len, const char *glob, struct engine_text *out,
                          struct nctk_error **err);
int containerd_import_remove(const char *in, size_t len, const char *glob, struct engine_text *out,
                             struct nctk_error **err);

/* The config version of a containerd config.toml: 1, 2 or 3; 0 for an empty text (no file);
 * -EINVAL when it cannot be parsed. */
int containerd_config_version(const char *in, size_t len);

/* crio.c: the whole text of a CRI-O drop-in (/etc/crio/crio.conf.d/99-nvidia.toml). */
int crio_dropin(const struct engine_runtime *rt, struct engine_text *out, struct nctk_error **err);

/* ocihook.c: the whole text of a podman / CRI-O hooks.d JSON that runs HOOK_PATH prestart. */
int ocihook_json(const char *hook_path, struct engine_text *out, struct nctk_error **err);

#endif
