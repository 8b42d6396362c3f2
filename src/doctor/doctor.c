/* The report every check adds to, and the order the families run in. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doctor/doctor.h"
#include "util/macros.h"
#include "util/strv.h"

int doctor_add(struct doctor_state *s, const char *id, enum doctor_status status, const char *fix,
               const char *fmt, ...) {
        struct doctor_report *r = s->report;
        struct doctor_check *c;
        char *finding = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&finding, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        c = ARRAY_PUSH(r->v, r->n);
        if (!c) {
                free(finding);
                return -ENOMEM;
        }
        *c = (struct doctor_check){.id = strdup(id), .status = status, .finding = finding};
        if (fix)
                c->fix = strdup(fix);
        if (!c->id || (fix && !c->fix))
                return -ENOMEM;
        return 0;
}

char *doctor_host_path(const struct doctor_state *s, const char *path) {
        const char *root = s->o->host_root ? s->o->host_root : "/";

        if (STREQ(root, "/"))
                return strdup(path);
        return path_join(root, path);
}

bool doctor_host_exists(const struct doctor_state *s, const char *path) {
        _cleanup_free_ char *p = doctor_host_path(s, path);

        return p && access(p, F_OK) == 0;
}

/* NAME in one directory list ("a:b:c") under the host root, or NULL. */
static char *which_in(const struct doctor_state *s, const char *path, const char *name) {
        for (const char *p = path; *p;) {
                size_t n = strcspn(p, ":");
                _cleanup_free_ char *dir = strndup(p, n), *file = NULL, *full = NULL;
                if (!dir)
                        return NULL;
                p += n + (p[n] == ':');
                if (dir[0] != '/')
                        continue;
                file = path_join(dir, name);
                full = file ? doctor_host_path(s, file) : NULL;
                if (full && access(full, X_OK) == 0)
                        return TAKE_PTR(full);
        }
        return NULL;
}

char *doctor_host_which(const struct doctor_state *s, const char *name) {
        /* The usual directories after $PATH: sudo and cron run us with a PATH without sbin. */
        static const char usual[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        char *found;

        if (name[0] == '/')
                return doctor_host_exists(s, name) ? doctor_host_path(s, name) : NULL;
        found = s->o->path ? which_in(s, s->o->path, name) : NULL;
        return found ? found : which_in(s, usual, name);
}

void doctor_report_release(struct doctor_report *r) {
        for (size_t i = 0; i < r->n; i++) {
                free(r->v[i].id);
                free(r->v[i].finding);
                free(r->v[i].fix);
        }
        free(r->v);
        *r = (struct doctor_report){};
}

enum doctor_status doctor_worst(const struct doctor_report *r) {
        enum doctor_status w = DOCTOR_OK;

        for (size_t i = 0; i < r->n; i++)
                if (r->v[i].status > w)
                        w = r->v[i].status;
        return w;
}

const char *doctor_status_name(enum doctor_status s) {
        switch (s) {
        case DOCTOR_OK: return "OK";
        case DOCTOR_WARN: return "WARN";
        case DOCTOR_FAIL: return "FAIL";
        }
        return "?";
}

static bool is_root(const char *p) {
        return !p || STREQ(p, "/");
}

/* The roots given, as nvidia-ctk system takes them, so that a fix line acts on the same host. */
static int root_flags(struct doctor_state *s) {
        const struct doctor_opts *o = s->o;
        int n;

        s->dev_root = o->dev_root ? o->dev_root : o->driver_root ? o->driver_root : "/";
        n = asprintf(
                &s->root_flags, "%s%s%s%s%s%s", is_root(o->driver_root) ? "" : " --driver-root=",
                is_root(o->driver_root) ? "" : o->driver_root,
                is_root(s->dev_root) ? "" : " --dev-root=", is_root(s->dev_root) ? "" : s->dev_root,
                !o->proc_root || STREQ(o->proc_root, "/proc") ? "" : " --proc-root=",
                !o->proc_root || STREQ(o->proc_root, "/proc") ? "" : o->proc_root);
        return n < 0 ? -ENOMEM : 0;
}

int doctor_run(const struct doctor_opts *o, struct doctor_report *ret) {
        /* Later families read what earlier ones found: the driver's version and inventory, the
         * CDI specs, the engines' cgroup driver and CDI use. */
        static int (*const checks[])(struct doctor_state *) = {
                doctor_check_driver,   doctor_check_devices,  doctor_check_cache,
                doctor_check_cdi,      doctor_check_engines,  doctor_check_cgroup,
                doctor_check_runtime,  doctor_check_ldconfig, doctor_check_security,
                doctor_check_rootless,
        };
        struct doctor_report report = {};
        struct doctor_state s = {.o = o, .report = &report, .docker_cgroup = -1};
        int r = root_flags(&s);

        for (size_t i = 0; i < ELEMENTSOF(checks) && r >= 0; i++)
                r = checks[i](&s);
        nctk_inventory_free(s.inv);
        free(s.root_flags);
        if (r < 0) {
                doctor_report_release(&report);
                return r;
        }
        *ret = report;
        return 0;
}
