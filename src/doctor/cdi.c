/* CDI specs of NVIDIA devices in the spec dirs, checked against this host as `nvidia-ctk cdi
 * validate` does: a spec written for an earlier driver names libraries that are gone or device
 * nodes with other numbers, and every engine that injects from it makes a broken container. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdi/cdi.h"
#include "doctor/doctor.h"
#include "util/macros.h"
#include "util/strv.h"

#define ID "cdi.specs"

struct problems {
        size_t n;
        char first[512];
};

static void note_problem(const char *problem, void *userdata) {
        struct problems *p = userdata;

        if (p->n++ == 0)
                strscpy(p->first, sizeof(p->first), problem);
}

static bool is_spec_name(const char *name) {
        return name[0] != '.' &&
               (endswith(name, ".json") || endswith(name, ".yaml") || endswith(name, ".yml"));
}

static bool is_nvidia_kind(const json_t *spec) {
        const char *kind = json_string_value(json_object_get(spec, "kind"));

        return kind && (startswith(kind, "nvidia.com/") || strstr(kind, ".nvidia.com/"));
}

static int check_spec(struct doctor_state *s, const char *file) {
        struct problems p = {};
        struct nctk_error *err = NULL;
        _cleanup_free_ char *fix = NULL;
        json_t *spec = NULL;
        int r;

        if (asprintf(&fix, "nvidia-ctk cdi generate --output=%s%s", file, s->root_flags) < 0)
                return -ENOMEM;
        if (cdi_spec_load(file, &spec, &err) < 0) {
                r = doctor_add(s, ID, DOCTOR_FAIL, fix, "%s cannot be read: %s", file,
                               err && err->msg ? err->msg : "unknown error");
                nctk_error_free(&err);
                return r;
        }
        if (!is_nvidia_kind(spec)) {
                json_decref(spec);
                return 0;
        }
        s->n_cdi_specs++;
        cdi_check_schema(spec, note_problem, &p);
        cdi_check_host(spec, s->proc_version[0] ? s->proc_version : NULL, note_problem, &p);
        json_decref(spec);
        if (p.n)
                return doctor_add(s, ID, DOCTOR_FAIL, fix,
                                  "%s is stale or broken: %zu problem(s), the first: %s", file, p.n,
                                  p.first);
        return doctor_add(s, ID, DOCTOR_OK, NULL, "%s matches this host", file);
}

static int check_dir(struct doctor_state *s, const char *dir) {
        _cleanup_free_ char *path = doctor_host_path(s, dir);
        _cleanup_closedir_ DIR *d = path ? opendir(path) : NULL;
        struct dirent *de;
        int r = 0;

        if (!path)
                return -ENOMEM;
        while (d && r >= 0 && (de = readdir(d))) {
                _cleanup_free_ char *file = NULL;
                if (!is_spec_name(de->d_name))
                        continue;
                file = path_join(path, de->d_name);
                r = file ? check_spec(s, file) : -ENOMEM;
        }
        return r;
}

int doctor_check_cdi(struct doctor_state *s) {
        static char *const default_dirs[] = {(char *) "/etc/cdi", (char *) "/var/run/cdi", NULL};
        char *const *dirs = s->o->cfg && s->o->cfg->runtime.cdi_spec_dirs
                                    ? s->o->cfg->runtime.cdi_spec_dirs
                                    : default_dirs;
        int r = 0;

        for (size_t i = 0; dirs[i] && r >= 0; i++)
                r = check_dir(s, dirs[i]);
        if (r < 0 || s->n_cdi_specs)
                return r;
        return doctor_add(s, ID, DOCTOR_OK, NULL,
                          "no NVIDIA CDI spec in %s%s%s: engines can use the NVIDIA runtime; for "
                          "CDI names (--device nvidia.com/gpu=all), run nvidia-ctk cdi generate",
                          dirs[0], dirs[1] ? " or " : "", dirs[1] ? dirs[1] : "");
}
