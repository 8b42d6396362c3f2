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
 * for the file's version (plugins.cri / plugins."io.containerd.grpc.v1.cri" /
 * plugins."io.containerd.cri.v1.runtime", then .containerd.runtimes.NAME): a copy of runc's
 * table when there is one (its options, SystemdCgroup among them, as the reference copies
 * them), runtime_type io.containerd.runc.v2 unless runc's says otherwise, options.BinaryName
 * PATH; with set_as_default, containerd.default_runtime_name; with cdi_enabled, enable_cdi in
 * the plugin's table. Every byte outside the lines it adds or changes stays as it was,
 * comments included; a second run changes nothing. NEW_VERSION (1 to 3) is the version
 * written for an input with no key and no table. Messages read "config.toml:LINE[:COLUMN]:
 * what" (the caller names the real file).
 *
 * unconfigure removes the runtime table (all of it, whatever wrote it), the default when it
 * names the runtime, enable_cdi = true with cdi_enabled, and the CRI plugin's and containerd's
 * table headers when that leaves them with no key. A value configure replaced keeps its old
 * text after "# nvidia-ctk replaced: " on its line, and unconfigure puts that back, so
 * unconfigure(configure(x)) == x byte for byte, except: a blank x (the version line stays); a
 * runtime table NAME already in x (removed whole); a default or enable_cdi already equal to
 * what configure sets, or spread over several lines (removed); an empty CRI or containerd
 * table header of x's own that configure filled (removed). */
int containerd_configure(const char *in, size_t len, const struct engine_runtime *rt,
                         int new_version, struct engine_text *out, struct nctk_error **err);
int containerd_unconfigure(const char *in, size_t len, const struct engine_runtime *rt,
                           struct engine_text *out, struct nctk_error **err);
/* For --drop-in-config: configures the drop-in IN (LEN 0: none yet) as containerd_configure
 * does, in the config version of MAIN_CFG, the main config.toml (NEW_VERSION when it is
 * blank), copying runc's table from MAIN_CFG. containerd 1.x (config versions 1 and 2) takes
 * an imported file's plugin section instead of the main one, whole (containerd issue 5837), so
 * for those a new drop-in starts as a copy of every key MAIN_CFG sets in the CRI plugin (a
 * runc runtime added when MAIN_CFG has none); containerd 2.x merges, and its drop-in holds the
 * runtime alone. Messages name "config.toml" for MAIN_CFG, "drop-in" for IN. Undo with
 * containerd_unconfigure on the drop-in, or by deleting it (it is the toolkit's file). */
int containerd_configure_dropin(const char *main_cfg, size_t main_len, const char *in, size_t len,
                                const struct engine_runtime *rt, int new_version,
                                struct engine_text *out, struct nctk_error **err);
/* The config version of IN: 1, 2 or 3 from the top-level `version` key (no key: 1); 0 for an
 * input with no key and no table (empty, or only comments); -EINVAL when IN is not TOML or
 * `version` is not an integer, -EOPNOTSUPP for another version number. */
int containerd_config_version(const char *in, size_t len);
/* Adds GLOB (e.g. "/etc/containerd/conf.d/ *.toml" without the space) to the top-level imports of a
 * main config, for a drop-in; removes it again. A new imports line ends in "# added by
 * nvidia-ctk", so that removing GLOB takes the line only when import_add wrote it (else it
 * leaves `imports = []`). GLOB already there: no change. */
int containerd_import_add(const char *in, size_t len, const char *glob, struct engine_text *out,
                          struct nctk_error **err);
int containerd_import_remove(const char *in, size_t len, const char *glob, struct engine_text *out,
                             struct nctk_error **err);

/* crio.c: the whole text of a CRI-O drop-in (/etc/crio/crio.conf.d/99-nvidia.toml). */
int crio_dropin(const struct engine_runtime *rt, struct engine_text *out, struct nctk_error **err);

/* ocihook.c: the whole text of a podman / CRI-O hooks.d JSON that runs HOOK_PATH prestart. */
int ocihook_json(const char *hook_path, struct engine_text *out, struct nctk_error **err);

#endif
