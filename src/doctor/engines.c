/* Is the NVIDIA runtime registered with each engine installed here, and where does it point?
 * docker (daemon.json), containerd (config.toml and its imports), CRI-O (crio.conf.d or a
 * hooks.d file) and podman (CDI specs or a hooks.d file). An engine that is not installed gets
 * one OK line saying so. Along the way: each engine's cgroup driver and whether it injects CDI
 * devices itself, which the cgroup and runtime checks weigh. */
#include <errno.h>
#include <glob.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/toml.h"
#include "doctor/doctor.h"
#include "util/macros.h"
#include "util/strv.h"

#define HOOK_FILE "oci-nvidia-hook.json"

static const char *const hook_dirs[] = {"/usr/share/containers/oci/hooks.d",
                                        "/etc/containers/oci/hooks.d"};

static bool is_installed(struct doctor_state *s, const char *prog) {
        _cleanup_free_ char *p = doctor_host_which(s, prog);

        return p != NULL;
}

static int not_installed(struct doctor_state *s, const char *id, const char *engine) {
        return doctor_add(s, id, DOCTOR_OK, NULL, "%s is not installed", engine);
}

/* A registered runtime's PATH must lead to a program on the host. */
static int runtime_target(struct doctor_state *s, const char *id, const char *where,
                          const char *path, const char *fix) {
        _cleanup_free_ char *found = path ? doctor_host_which(s, path) : NULL;

        if (!found)
                return doctor_add(s, id, DOCTOR_FAIL, fix,
                                  "%s registers the nvidia runtime as '%s', which does not "
                                  "exist: every --runtime=nvidia container fails to start",
                                  where, path ? path : "(no path)");
        return doctor_add(s, id, DOCTOR_OK, NULL, "%s registers the nvidia runtime (%s)", where,
                          path);
}

/* ---- docker -----------------------------------------------------------------------------------
 */

static void docker_cgroup_driver(struct doctor_state *s, const json_t *cfg) {
        const json_t *v;
        size_t i;

        s->docker_cgroup = 0;
        json_array_foreach(json_object_get(cfg, "exec-opts"), i, v) {
                const char *o = json_string_value(v);
                if (o && startswith(o, "native.cgroupdriver="))
                        s->docker_cgroup =
                                STREQ(o + strlen("native.cgroupdriver="), "systemd") ? 2 : 1;
        }
}

static int check_docker(struct doctor_state *s) {
        static const char fix[] = "nvidia-ctk runtime configure --runtime=docker && systemctl "
                                  "restart docker";
        _cleanup_free_ char *file = doctor_host_path(s, "/etc/docker/daemon.json");
        const json_t *rt;
        json_error_t je;
        json_t *cfg;
        int r;

        if (!file)
                return -ENOMEM;
        if (access(file, F_OK) < 0) {
                if (!is_installed(s, "dockerd"))
                        return not_installed(s, "engine.docker", "docker");
                s->docker_cgroup = 0;
                return doctor_add(s, "engine.docker", DOCTOR_WARN, fix,
                                  "docker has no %s: the nvidia runtime is not registered "
                                  "(--gpus still works through the hook)",
                                  file);
        }
        cfg = json_load_file(file, 0, &je);
        if (!json_is_object(cfg)) {
                json_decref(cfg);
                return doctor_add(s, "engine.docker", DOCTOR_FAIL,
                                  "correct the file (docker does not start while it is broken), "
                                  "then run nvidia-ctk runtime configure --runtime=docker",
                                  "%s is not a JSON object: line %d: %s", file, je.line,
                                  cfg ? "not an object" : je.text);
        }
        docker_cgroup_driver(s, cfg);
        if (json_is_true(json_object_get(json_object_get(cfg, "features"), "cdi")))
                s->engine_native_cdi = true;
        rt = json_object_get(json_object_get(cfg, "runtimes"), "nvidia");
        if (!rt)
                r = doctor_add(s, "engine.docker", DOCTOR_WARN, fix,
                               "%s registers no nvidia runtime (--gpus still works through the "
                               "hook; --runtime=nvidia does not)",
                               file);
        else
                r = runtime_target(s, "engine.docker", file,
                                   json_string_value(json_object_get(rt, "path")), fix);
        json_decref(cfg);
        return r;
}

/* ---- containerd ------------------------------------------------------------------------------ */

/* The value at the keys after T (NULL-terminated; keys may hold dots), or NULL. */
static const struct toml_value *tget(const struct toml_value *t, ...) {
        va_list ap;
        const char *k;

        va_start(ap, t);
        while (t && (k = va_arg(ap, const char *)))
                t = toml_table_find(t, k);
        va_end(ap);
        return t;
}

static const char *tstring(const struct toml_value *v) {
        return v && v->type == TOML_STRING ? v->string.ptr : NULL;
}

static const struct toml_value *cri_plugin(const struct toml_doc *doc) {
        const struct toml_value *v = toml_table_find(doc->root, "version");
        int64_t version = v && v->type == TOML_INTEGER ? v->integer : 1;

        if (version >= 3)
                return tget(doc->root, "plugins", "io.containerd.cri.v1.runtime", NULL);
        if (version == 2)
                return tget(doc->root, "plugins", "io.containerd.grpc.v1.cri", NULL);
        return tget(doc->root, "plugins", "cri", NULL);
}

struct containerd_found {
        char *file;       /* where the nvidia runtime is */
        const char *path; /* its BinaryName, borrowed from DOC */
        struct toml_doc *doc;
};

static void containerd_scan(struct doctor_state *s, struct toml_doc *doc, const char *file,
                            struct containerd_found *f) {
        const struct toml_value *cri = cri_plugin(doc),
                                *rts = tget(cri, "containerd", "runtimes", NULL);
        const struct toml_value *v;

        if (rts && rts->type == TOML_TABLE)
                for (size_t i = 0; i < rts->table.n; i++) {
                        v = tget(rts->table.pairs[i].value, "options", "SystemdCgroup", NULL);
                        if (v && v->type == TOML_BOOLEAN && v->boolean)
                                s->containerd_systemd = true;
                }
        v = toml_table_find(cri, "enable_cdi");
        if (v && v->type == TOML_BOOLEAN && v->boolean)
                s->engine_native_cdi = true;
        v = tget(rts, "nvidia", NULL);
        if (v && !f->doc) {
                f->file = strdup(file);
                f->path = tstring(tget(v, "options", "BinaryName", NULL));
                f->doc = doc;
        } else
                toml_doc_free(doc);
}

/* The main file and the files its imports name (globs, relative to its directory). Takes
 * MAIN. */
static int containerd_files(struct doctor_state *s, const char *main_file, struct toml_doc *main,
                            struct containerd_found *f) {
        const struct toml_value *imp = toml_table_find(main->root, "imports");

        for (size_t i = 0; imp && imp->type == TOML_ARRAY && i < imp->array.n; i++) {
                const char *pat = tstring(imp->array.items[i]);
                _cleanup_free_ char *full = NULL;
                glob_t g = {};
                if (!pat)
                        continue;
                full = pat[0] == '/' ? doctor_host_path(s, pat) : path_join("/etc/containerd", pat);
                if (full && pat[0] != '/') {
                        char *h = doctor_host_path(s, full);
                        free(full);
                        full = h;
                }
                if (!full) {
                        toml_doc_free(main);
                        return -ENOMEM;
                }
                if (glob(full, 0, NULL, &g) == 0)
                        for (size_t j = 0; j < g.gl_pathc; j++) {
                                struct toml_doc *d = NULL;
                                if (toml_parse_file(g.gl_pathv[j], &d, NULL) >= 0)
                                        containerd_scan(s, d, g.gl_pathv[j], f);
                        }
                globfree(&g);
        }
        containerd_scan(s, main, main_file, f);
        return 0;
}

static int check_containerd(struct doctor_state *s) {
        static const char fix[] = "nvidia-ctk runtime configure --runtime=containerd && "
                                  "systemctl restart containerd";
        _cleanup_free_ char *file = doctor_host_path(s, "/etc/containerd/config.toml");
        struct containerd_found f = {};
        struct nctk_error *err = NULL;
        struct toml_doc *doc = NULL;
        int r;

        if (!file)
                return -ENOMEM;
        if (access(file, F_OK) < 0)
                return is_installed(s, "containerd")
                               ? doctor_add(s, "engine.containerd", DOCTOR_WARN, fix,
                                            "containerd has no %s: the nvidia runtime is not "
                                            "registered",
                                            file)
                               : not_installed(s, "engine.containerd", "containerd");
        if (toml_parse_file(file, &doc, &err) < 0) {
                r = doctor_add(s, "engine.containerd", DOCTOR_FAIL,
                               "correct the file (containerd does not start while it is broken)",
                               "%s", err && err->msg ? err->msg : "cannot read config.toml");
                nctk_error_free(&err);
                return r;
        }
        r = containerd_files(s, file, doc, &f);
        if (r >= 0 && !f.doc)
                r = doctor_add(s, "engine.containerd", DOCTOR_WARN, fix,
                               "%s (and its imports) register no nvidia runtime", file);
        else if (r >= 0)
                r = runtime_target(s, "engine.containerd", f.file, f.path, fix);
        free(f.file);
        toml_doc_free(f.doc);
        return r;
}

/* ---- CRI-O and podman ------------------------------------------------------------------------ */

static bool has_hook_file(struct doctor_state *s) {
        for (size_t i = 0; i < ELEMENTSOF(hook_dirs); i++) {
                _cleanup_free_ char *p = path_join(hook_dirs[i], HOOK_FILE);
                if (p && doctor_host_exists(s, p))
                        return true;
        }
        return false;
}

/* A crio.conf.d file with a [crio.runtime.runtimes.nvidia] table. */
static char *crio_dropin(struct doctor_state *s) {
        _cleanup_free_ char *pat = doctor_host_path(s, "/etc/crio/crio.conf.d/*.conf");
        _cleanup_free_ char *pat2 = doctor_host_path(s, "/etc/crio/crio.conf.d/*.toml");
        char *found = NULL;
        glob_t g = {};

        if (!pat || !pat2)
                return NULL;
        (void) glob(pat, 0, NULL, &g);
        (void) glob(pat2, g.gl_pathc ? GLOB_APPEND : 0, NULL, &g);
        for (size_t i = 0; !found && i < g.gl_pathc; i++) {
                struct toml_doc *d = NULL;
                if (toml_parse_file(g.gl_pathv[i], &d, NULL) < 0)
                        continue;
                if (tget(d->root, "crio", "runtime", "runtimes", "nvidia", NULL))
                        found = strdup(g.gl_pathv[i]);
                toml_doc_free(d);
        }
        globfree(&g);
        return found;
}

static int check_crio(struct doctor_state *s) {
        _cleanup_free_ char *dropin = NULL;

        if (!is_installed(s, "crio"))
                return not_installed(s, "engine.crio", "CRI-O");
        dropin = crio_dropin(s);
        if (dropin) {
                return doctor_add(s, "engine.crio", DOCTOR_OK, NULL,
                                  "%s registers the nvidia runtime", dropin);
        }
        if (has_hook_file(s))
                return doctor_add(s, "engine.crio", DOCTOR_OK, NULL,
                                  "CRI-O runs the NVIDIA hook from hooks.d (" HOOK_FILE ")");
        return doctor_add(s, "engine.crio", DOCTOR_WARN,
                          "nvidia-ctk runtime configure --runtime=crio && systemctl restart crio",
                          "CRI-O has neither an nvidia runtime drop-in nor the NVIDIA hooks.d "
                          "file");
}

static int check_podman(struct doctor_state *s) {
        _cleanup_free_ char *fix = NULL;

        if (!is_installed(s, "podman"))
                return not_installed(s, "engine.podman", "podman");
        if (s->n_cdi_specs) {
                s->engine_native_cdi = true;
                return doctor_add(s, "engine.podman", DOCTOR_OK, NULL,
                                  "podman can use the CDI spec(s): podman run --device "
                                  "nvidia.com/gpu=all");
        }
        if (has_hook_file(s))
                return doctor_add(s, "engine.podman", DOCTOR_OK, NULL,
                                  "podman runs the NVIDIA hook from hooks.d (" HOOK_FILE ")");
        if (asprintf(&fix, "nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml%s",
                     s->root_flags) < 0)
                return -ENOMEM;
        return doctor_add(s, "engine.podman", DOCTOR_WARN, fix,
                          "podman has no NVIDIA CDI spec and no NVIDIA hooks.d file: it cannot "
                          "give a container a GPU");
}

int doctor_check_engines(struct doctor_state *s) {
        int r = check_docker(s);

        r = r < 0 ? r : check_containerd(s);
        r = r < 0 ? r : check_crio(s);
        return r < 0 ? r : check_podman(s);
}
