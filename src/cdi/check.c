/* What a spec must be: the CDI schema and naming rules (cdi_check_schema), the lowest version
 * that has every field it uses (cdi_min_version), and whether it still describes this host
 * (cdi_check_host) — after a driver upgrade a spec names libraries that are gone and, with a
 * new module, device majors that changed. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cdi/cdi.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"

struct checker {
        cdi_report_fn report;
        void *userdata;
        int problems;
        json_t *seen; /* hook paths already reported: one line each */
};

__attribute__((format(printf, 2, 3))) static void problem(struct checker *c, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        c->report(s ? s : "out of memory", c->userdata);
        c->problems++;
}

static const char *str(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

/* ---- versions ---------------------------------------------------------------------------------
 */

static const char *const versions[] = {"0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0",
                                       "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0"};

static int version_index(const char *v) {
        for (size_t i = 0; v && i < ELEMENTSOF(versions); i++)
                if (STREQ(v, versions[i]))
                        return (int) i;
        return -1;
}

/* Calls FN on the spec's edits and every device's edits; the largest answer wins. */
static int over_edits(const json_t *spec, int (*fn)(const json_t *edits)) {
        int best = fn(json_object_get(spec, "containerEdits"));
        size_t i;
        json_t *d;

        json_array_foreach(json_object_get(spec, "devices"), i, d) {
                int v = fn(json_object_get(d, "containerEdits"));
                best = v > best ? v : best;
        }
        return best;
}

static int edits_version(const json_t *edits) {
        int v = 2; /* 0.3.0 */
        size_t i;
        json_t *x;

        json_array_foreach(json_object_get(edits, "mounts"), i, x) if (json_object_get(x, "type"))
                v = 3; /* mount type: 0.4.0 */
        json_array_foreach(json_object_get(edits, "deviceNodes"), i,
                           x) if (json_object_get(x, "hostPath")) v = v > 4 ? v : 4; /* 0.5.0 */
        if (json_object_get(edits, "intelRdt") ||
            json_array_size(json_object_get(edits, "additionalGids")))
                v = 6; /* 0.7.0 */
        if (json_array_size(json_object_get(edits, "netDevices")))
                v = 9; /* 1.1.0 */
        return v;
}

const char *cdi_min_version(const json_t *spec) {
        int v = over_edits(spec, edits_version);
        const char *kind = str(spec, "kind"), *slash = kind ? strchr(kind, '/') : NULL;
        size_t i;
        json_t *d;

        json_array_foreach(json_object_get(spec, "devices"), i, d) {
                const char *name = str(d, "name");
                if (name && !isalpha((unsigned char) name[0]) && v < 4)
                        v = 4; /* a name starting with a digit: 0.5.0 */
                if (json_object_size(json_object_get(d, "annotations")) && v < 5)
                        v = 5;
        }
        if (json_object_size(json_object_get(spec, "annotations")) && v < 5)
                v = 5; /* annotations: 0.6.0 */
        if (slash && strchr(slash + 1, '.') && v < 5)
                v = 5; /* a dot in the class: 0.6.0 */
        return versions[v];
}

/* ---- names ------------------------------------------------------------------------------------
 */

static bool name_chars(const char *s, const char *extra) {
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && !strchr(extra, *s))
                        return false;
        return true;
}

static bool ends_alnum(const char *s) {
        return *s && isalnum((unsigned char) s[strlen(s) - 1]);
}

/* vendor: a letter first, letters, digits, '.', '-', '_'; class: '-', '_' (and '.' from 0.6.0);
 * both end in a letter or digit. */
static bool kind_valid(const char *kind) {
        const char *slash = kind ? strchr(kind, '/') : NULL;
        _cleanup_free_ char *vendor = slash ? strndup(kind, (size_t) (slash - kind)) : NULL;
        const char *class_ = slash ? slash + 1 : NULL;

        return vendor && isalpha((unsigned char) vendor[0]) && name_chars(vendor, ".-_") &&
               ends_alnum(vendor) && isalpha((unsigned char) class_[0]) &&
               name_chars(class_, ".-_") && ends_alnum(class_);
}

static bool device_name_valid(const char *name) {
        return name && isalnum((unsigned char) name[0]) && name_chars(name, "_-.:") &&
               ends_alnum(name);
}

/* ---- schema -----------------------------------------------------------------------------------
 */

static const char *const hook_names[] = {"prestart",       "createRuntime", "createContainer",
                                         "startContainer", "poststart",     "poststop"};

static bool is_abs(const char *p) {
        return p && p[0] == '/';
}

static void check_strings(struct checker *c, const json_t *arr, const char *where) {
        size_t i;
        json_t *v;

        if (arr && !json_is_array(arr))
                problem(c, "%s: not a list", where);
        json_array_foreach(arr, i, v) if (!json_is_string(v))
                problem(c, "%s[%zu]: not a string", where, i);
}

static void check_hooks(struct checker *c, const json_t *hooks, const char *where) {
        size_t i;
        json_t *h;

        json_array_foreach(hooks, i, h) {
                const char *name = str(h, "hookName");
                bool known = false;
                for (size_t k = 0; name && k < ELEMENTSOF(hook_names); k++)
                        known |= STREQ(name, hook_names[k]);
                if (!known)
                        problem(c, "%s: hooks[%zu]: hookName '%s' is not an OCI hook stage", where,
                                i, name ? name : "");
                if (!is_abs(str(h, "path")))
                        problem(c, "%s: hooks[%zu]: 'path' must be an absolute path", where, i);
                check_strings(c, json_object_get(h, "args"), "hook args");
                check_strings(c, json_object_get(h, "env"), "hook env");
        }
}

static void check_edits(struct checker *c, const json_t *e, const char *where) {
        size_t i;
        json_t *v;

        if (!e)
                return;
        if (!json_is_object(e)) {
                problem(c, "%s: 'containerEdits' is not a mapping", where);
                return;
        }
        check_strings(c, json_object_get(e, "env"), "env");
        json_array_foreach(json_object_get(e, "env"), i,
                           v) if (json_is_string(v) && !strchr(json_string_value(v), '='))
                problem(c, "%s: env '%s' is not NAME=VALUE", where, json_string_value(v));
        json_array_foreach(json_object_get(e, "deviceNodes"), i, v) {
                const char *type = str(v, "type");
                if (!is_abs(str(v, "path")))
                        problem(c, "%s: deviceNodes[%zu]: 'path' must be an absolute path", where,
                                i);
                if (type && !STREQ(type, "c") && !STREQ(type, "b") && !STREQ(type, "p") &&
                    !STREQ(type, "u"))
                        problem(c, "%s: deviceNodes[%zu]: type '%s' is not c, b, u or p", where, i,
                                type);
        }
        json_array_foreach(json_object_get(e, "mounts"), i, v) {
                if (!str(v, "hostPath") || !is_abs(str(v, "containerPath")))
                        problem(c,
                                "%s: mounts[%zu]: needs 'hostPath' and an absolute "
                                "'containerPath'",
                                where, i);
                check_strings(c, json_object_get(v, "options"), "mount options");
        }
        check_hooks(c, json_object_get(e, "hooks"), where);
}

static void check_devices(struct checker *c, const json_t *devices) {
        size_t i;
        json_t *d;

        if (!json_is_array(devices) || json_array_size(devices) == 0) {
                problem(c, "'devices' is missing or empty; a spec lists at least one device");
                return;
        }
        json_array_foreach(devices, i, d) {
                const char *name = str(d, "name");
                json_t *e = json_object_get(d, "containerEdits");
                if (!device_name_valid(name))
                        problem(c,
                                "devices[%zu]: name '%s' is not a CDI device name (letters, "
                                "digits, '_', '-', '.', ':'; a letter or digit first and "
                                "last)",
                                i, name ? name : "");
                for (size_t k = 0; name && k < i; k++) {
                        const char *other = str(json_array_get(devices, k), "name");
                        if (other && STREQ(other, name))
                                problem(c, "devices[%zu]: name '%s' given twice", i, name);
                }
                if (!json_is_object(e) || json_object_size(e) == 0)
                        problem(c, "device '%s': 'containerEdits' is missing or empty",
                                name ? name : "");
                else
                        check_edits(c, e, name ? name : "device");
        }
}

int cdi_check_schema(const json_t *spec, cdi_report_fn report, void *userdata) {
        struct checker c = {.report = report, .userdata = userdata};
        const char *version = str(spec, "cdiVersion"), *kind = str(spec, "kind");

        if (!json_is_object(spec)) {
                problem(&c, "not a CDI spec (the document is not a mapping)");
                return c.problems;
        }
        if (version_index(version) < 0)
                problem(&c, "cdiVersion '%s' is not a CDI version", version ? version : "");
        else if (version_index(cdi_min_version(spec)) > version_index(version))
                problem(&c, "cdiVersion %s is too old for the fields used; they need %s", version,
                        cdi_min_version(spec));
        if (!kind_valid(kind))
                problem(&c, "kind '%s' is not VENDOR/CLASS (e.g. nvidia.com/gpu)",
                        kind ? kind : "");
        check_devices(&c, json_object_get(spec, "devices"));
        check_edits(&c, json_object_get(spec, "containerEdits"), "containerEdits");
        return c.problems;
}

/* ---- this host --------------------------------------------------------------------------------
 */

/* The driver version in a library name ("libcuda.so.580.159.04" -> "580.159.04"): a suffix of
 * at least two dots, digits only, after ".so.". NULL for other names. */
static const char *lib_version(const char *path) {
        const char *b = strrchr(path, '/'), *so = strstr(b ? b : path, ".so.");
        int dots = 0;

        if (!so)
                return NULL;
        for (const char *c = so + 4; *c; c++) {
                if (*c == '.')
                        dots++;
                else if (!isdigit((unsigned char) *c))
                        return NULL;
        }
        return dots >= 1 && strlen(so + 4) >= 6 ? so + 4 : NULL;
}

static void check_node(struct checker *c, const json_t *n) {
        const char *path = str(n, "hostPath") ? str(n, "hostPath") : str(n, "path");
        json_t *major = json_object_get(n, "major"), *minor = json_object_get(n, "minor");
        struct stat st;

        /* "0", its UUID and "all" name the same node: one line for it. */
        if (!path || json_object_get(c->seen, path))
                return;
        json_object_set_new(c->seen, path, json_true());
        if (stat(path, &st) < 0) {
                problem(c, "device node '%s': %s; regenerate the spec or create the node", path,
                        strerror(errno));
                return;
        }
        if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
                problem(c, "device node '%s' is not a device", path);
                return;
        }
        if ((json_is_integer(major) && (unsigned) json_integer_value(major) != major(st.st_rdev)) ||
            (json_is_integer(minor) && (unsigned) json_integer_value(minor) != minor(st.st_rdev)))
                problem(c,
                        "device node '%s' is %u:%u on this host, the spec says "
                        "%" JSON_INTEGER_FORMAT ":%" JSON_INTEGER_FORMAT "; regenerate the spec",
                        path, major(st.st_rdev), minor(st.st_rdev),
                        json_is_integer(major) ? json_integer_value(major) : -1,
                        json_is_integer(minor) ? json_integer_value(minor) : -1);
}

static void check_mount(struct checker *c, const json_t *m, const char *driver_version) {
        const char *host = str(m, "hostPath"), *v;
        struct stat st;

        if (!host)
                return;
        if (stat(host, &st) < 0)
                problem(c, "mount '%s': %s; regenerate the spec", host, strerror(errno));
        v = lib_version(host);
        if (v && driver_version && !STREQ(v, driver_version))
                problem(c,
                        "library '%s' is of driver %s, the running driver is %s; regenerate "
                        "the spec",
                        host, v, driver_version);
}

static void check_hook_host(struct checker *c, const json_t *h, const char *driver_version) {
        const char *path = str(h, "path");
        size_t i;
        json_t *a;

        if (path && !json_object_get(c->seen, path) && access(path, X_OK) < 0) {
                json_object_set_new(c->seen, path, json_true());
                problem(c, "hook '%s': %s; install it or regenerate the spec with its path", path,
                        strerror(errno));
        }
        json_array_foreach(json_object_get(h, "args"), i, a) {
                const char *s = json_string_value(a);
                if (s && driver_version && startswith(s, "--host-driver-version=") &&
                    !STREQ(s + strlen("--host-driver-version="), driver_version))
                        problem(c,
                                "hook argument '%s': the running driver is %s; regenerate the "
                                "spec",
                                s, driver_version);
        }
}

static int host_edits(const json_t *e, void *cv, const char *driver_version) {
        struct checker *c = cv;
        size_t i;
        json_t *v;

        json_array_foreach(json_object_get(e, "deviceNodes"), i, v) check_node(c, v);
        json_array_foreach(json_object_get(e, "mounts"), i, v) check_mount(c, v, driver_version);
        json_array_foreach(json_object_get(e, "hooks"), i, v) check_hook_host(c, v, driver_version);
        return 0;
}

int cdi_check_host(const json_t *spec, const char *driver_version, cdi_report_fn report,
                   void *userdata) {
        json_auto_t *seen = json_object();
        struct checker c = {.report = report, .userdata = userdata, .seen = seen};
        size_t i;
        json_t *d;

        host_edits(json_object_get(spec, "containerEdits"), &c, driver_version);
        json_array_foreach(json_object_get(spec, "devices"), i, d)
                host_edits(json_object_get(d, "containerEdits"), &c, driver_version);
        return c.problems;
}

/* ---- files ------------------------------------------------------------------------------------
 */

int cdi_spec_load(const char *path, json_t **ret, struct nctk_error **err) {
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        json_error_t je;
        const char *p;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        int r = fd < 0 ? -errno : read_full_fd(fd, 16u << 20, &data, &len);

        if (r < 0)
                return nctk_error_set(err, -r, "cannot read '%s': %s", path, strerror(-r));
        for (p = data; p < data + len && isspace((unsigned char) *p); p++)
                ;
        if (p < data + len && *p == '{') {
                json_t *doc = json_loadb(data, len, 0, &je);
                if (!doc)
                        return nctk_error_set(err, EINVAL, "%s: line %d: %s", path, je.line,
                                              je.text);
                *ret = doc;
                return 0;
        }
        return cdi_yaml_parse(data, len, path, ret, err);
}
