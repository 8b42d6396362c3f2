/* CDI spec directories as a registry of devices, and a request's names split between it and
 * nctk's own resolution. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdi/cdi.h"
#include "cdi/resolve.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

struct cdi_registry {
        json_t *specs;     /* loaded documents */
        json_t *files;     /* their paths, same order */
        json_t *index;     /* "vendor/class=name" -> [spec index, device index] */
        json_t *bad;       /* "vendor/class=name" -> "FILE: problem", of the skipped specs */
        json_t *bad_files; /* ["FILE: problem", ...]: every skipped spec */
};

struct cdi_registry *cdi_registry_free(struct cdi_registry *r) {
        if (!r)
                return NULL;
        json_decref(r->specs);
        json_decref(r->files);
        json_decref(r->index);
        json_decref(r->bad);
        json_decref(r->bad_files);
        free(r);
        return NULL;
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The spec files of DIR, sorted so that the same directory always loads the same way. */
static int dir_files(const char *dir, char ***ret, size_t *ret_n) {
        DIR *d = opendir(dir);
        char **v = NULL;
        size_t n = 0;
        struct dirent *de;

        *ret = NULL;
        *ret_n = 0;
        if (!d)
                return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
        while ((de = readdir(d))) {
                char **nv;

                if (!endswith(de->d_name, ".yaml") && !endswith(de->d_name, ".json"))
                        continue;
                nv = realloc(v, (n + 1) * sizeof(*v));
                if (!nv)
                        break;
                v = nv;
                if (asprintf(&v[n], "%s/%s", dir, de->d_name) < 0)
                        break;
                n++;
        }
        closedir(d);
        if (n > 1) /* qsort takes no NULL array, even empty */
                qsort(v, n, sizeof(*v), name_cmp);
        *ret = v;
        *ret_n = n;
        return 0;
}

static void files_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* Indexes SPEC's devices (the SI-th spec, from FILE); SEEN holds this directory's names. */
static int index_spec(struct cdi_registry *r, json_t *seen, size_t si, const char *file,
                      struct nctk_error **err) {
        json_t *spec = json_array_get(r->specs, si);
        const char *kind = json_string_value(json_object_get(spec, "kind"));
        json_t *dev;
        size_t di;

        if (!kind || !strchr(kind, '/'))
                return nctk_error_set(err, EINVAL,
                                      "%s: no \"kind\" of the form vendor/class: fix or remove "
                                      "the spec",
                                      file);
        json_array_foreach(json_object_get(spec, "devices"), di, dev) {
                const char *n = json_string_value(json_object_get(dev, "name"));
                _cleanup_free_ char *q = NULL;
                json_t *prev;

                if (!n)
                        return nctk_error_set(err, EINVAL, "%s: device %zu has no name", file, di);
                if (asprintf(&q, "%s=%s", kind, n) < 0)
                        return nctk_error_set(err, ENOMEM, "out of memory");
                prev = json_object_get(seen, q);
                if (prev)
                        return nctk_error_set(err, EINVAL,
                                              "CDI device '%s' is in both '%s' and '%s' of one "
                                              "directory: remove it from one of them",
                                              q, json_string_value(prev), file);
                if (json_object_set_new(seen, q, json_string(file)) < 0 ||
                    json_object_set_new(r->index, q,
                                        json_pack("[II]", (json_int_t) si, (json_int_t) di)) < 0)
                        return nctk_error_set(err, ENOMEM, "out of memory");
        }
        return 0;
}

struct first_problem {
        char *text;
};

static void keep_first(const char *problem, void *userdata) {
        struct first_problem *p = userdata;

        if (!p->text)
                p->text = strdup(problem);
}

/* Records that FILE is skipped for WHY ("FILE: problem"), and which devices SPEC (when it
 * could be read) would have had, so that a request for one of them is told why it fails. */
static int skip_spec(struct cdi_registry *r, const json_t *spec, const char *why) {
        const char *kind = json_string_value(json_object_get(spec, "kind"));
        json_t *dev;
        size_t i;

        log_warning("%s; the spec is skipped", why);
        if (json_array_append_new(r->bad_files, json_string(why)) < 0)
                return -ENOMEM;
        json_array_foreach(json_object_get(spec, "devices"), i, dev) {
                const char *n = json_string_value(json_object_get(dev, "name"));
                _cleanup_free_ char *q = NULL;

                if (!kind || !n)
                        continue;
                if (asprintf(&q, "%s=%s", kind, n) < 0 ||
                    json_object_set_new(r->bad, q, json_string(why)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* Loads FILE into *RET; 0 with *RET NULL when it is skipped: a file that does not parse or
 * breaks the CDI schema is left out with a warning, as CDI's own registry does, so that one
 * broken spec of another vendor stops no container that does not ask for its devices. */
static int load_file(struct cdi_registry *r, const char *file, json_t **ret) {
        struct first_problem p = {};
        _cleanup_free_ char *why = NULL;
        struct nctk_error *lerr = NULL;
        json_t *spec = NULL;
        int rr;

        *ret = NULL;
        rr = cdi_spec_load(file, &spec, &lerr);
        if (rr == -ENOMEM) {
                nctk_error_free(&lerr);
                return rr;
        }
        if (rr < 0) {
                rr = skip_spec(r, NULL, lerr && lerr->msg ? lerr->msg : file);
                nctk_error_free(&lerr);
                return rr;
        }
        if (cdi_check_schema(spec, keep_first, &p) == 0) {
                *ret = spec;
                return 0;
        }
        rr = asprintf(&why, "%s: %s", file, p.text ? p.text : "not a valid CDI spec") < 0
                     ? -ENOMEM
                     : skip_spec(r, spec, why);
        free(p.text);
        json_decref(spec);
        return rr;
}

static int load_dir(struct cdi_registry *r, const char *dir, struct nctk_error **err) {
        char **files;
        size_t n;
        json_t *seen = json_object();
        int r2 = seen ? dir_files(dir, &files, &n) : -ENOMEM;

        if (r2 < 0) {
                json_decref(seen);
                return nctk_error_set(err, -r2, "cannot read CDI spec directory '%s': %s", dir,
                                      strerror(-r2));
        }
        for (size_t i = 0; r2 >= 0 && i < n; i++) {
                json_t *spec = NULL;

                r2 = load_file(r, files[i], &spec);
                if (r2 < 0)
                        r2 = nctk_error_set(err, ENOMEM, "out of memory");
                if (!spec)
                        continue;
                if (json_array_append_new(r->specs, spec) < 0 ||
                    json_array_append_new(r->files, json_string(files[i])) < 0)
                        r2 = nctk_error_set(err, ENOMEM, "out of memory");
                if (r2 >= 0)
                        r2 = index_spec(r, seen, json_array_size(r->specs) - 1, files[i], err);
        }
        files_free(files, n);
        json_decref(seen);
        return r2;
}

int cdi_registry_load(char *const *dirs, struct cdi_registry **ret, struct nctk_error **err) {
        struct cdi_registry *r = calloc(1, sizeof(*r));
        int rr = 0;

        if (!r || !(r->specs = json_array()) || !(r->files = json_array()) ||
            !(r->index = json_object()) || !(r->bad = json_object()) ||
            !(r->bad_files = json_array())) {
                cdi_registry_free(r);
                return nctk_error_set(err, ENOMEM, "out of memory");
        }
        /* Later directories override earlier ones: their entries replace the index's. */
        for (size_t i = 0; rr >= 0 && dirs && dirs[i]; i++)
                rr = load_dir(r, dirs[i], err);
        if (rr < 0) {
                cdi_registry_free(r);
                return rr;
        }
        log_debug("cdi: %zu spec files, %zu devices", json_array_size(r->specs),
                  json_object_size(r->index));
        *ret = r;
        return 0;
}

const json_t *cdi_registry_find(const struct cdi_registry *r, const char *name,
                                const json_t **ret_spec, const char **ret_file) {
        json_t *at = r ? json_object_get(r->index, name) : NULL;
        size_t si, di;
        json_t *spec;

        if (!at)
                return NULL;
        si = (size_t) json_integer_value(json_array_get(at, 0));
        di = (size_t) json_integer_value(json_array_get(at, 1));
        spec = json_array_get(r->specs, si);
        if (ret_spec)
                *ret_spec = spec;
        if (ret_file)
                *ret_file = json_string_value(json_array_get(r->files, si));
        return json_array_get(json_object_get(spec, "devices"), di);
}

/* nctk's own kinds, which it resolves without a spec when no spec has the name. */
static bool is_own_kind(const char *name) {
        return startswith(name, "nvidia.com/gpu=") || startswith(name, "runtime.nvidia.com/gpu=");
}

static bool needs_specs(const char *devices) {
        _cleanup_free_ char *copy = strdup(devices);
        char *save = NULL;

        if (!copy)
                return true;
        for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save))
                if (strchr(w, '=') && !is_own_kind(w))
                        return true;
        return false;
}

static int append(char **list, const char *w) {
        char *n;

        if (asprintf(&n, "%s%s%s", *list ? *list : "", *list ? "," : "", w) < 0)
                return -ENOMEM;
        free(*list);
        *list = n;
        return 0;
}

static char *dirs_joined(char *const *dirs) {
        char *s = NULL;

        for (size_t i = 0; dirs && dirs[i]; i++)
                if (append(&s, dirs[i]) < 0)
                        break;
        return s;
}

/* W is in no valid spec: say where it was looked for, and which invalid spec has it (or which
 * were skipped), since a broken spec is the likelier cause than a wrong name. */
static int not_found(const struct cdi_registry *reg, char *const *dirs, const char *w,
                     struct nctk_error **err) {
        const char *bad = json_string_value(json_object_get(reg->bad, w));
        const char *skipped = json_string_value(json_array_get(reg->bad_files, 0));
        _cleanup_free_ char *d = NULL;

        if (bad)
                return nctk_error_set(err, EINVAL,
                                      "CDI device '%.127s' is in a spec that is not valid: %s; fix "
                                      "the spec (nvidia-ctk cdi validate) or remove it",
                                      w, bad);
        d = dirs_joined(dirs);
        return nctk_error_set(err, ENOENT,
                              "CDI device '%.127s' is in no spec of %s%s%s%s: install its spec "
                              "there or fix the name",
                              w, d ? d : "(no spec-dirs)",
                              skipped ? " (skipped as not valid: " : "", skipped ? skipped : "",
                              skipped ? ")" : "");
}

static int split(const struct cdi_registry *reg, char *const *dirs, const char *devices,
                 char ***names, size_t *n, char **builtin, struct nctk_error **err) {
        _cleanup_free_ char *copy = strdup(devices);
        char *save = NULL;

        if (!copy)
                return nctk_error_set(err, ENOMEM, "out of memory");
        for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
                char **nv;

                if (!strchr(w, '=') || (!cdi_registry_find(reg, w, NULL, NULL) && is_own_kind(w))) {
                        if (append(builtin, w) < 0)
                                return nctk_error_set(err, ENOMEM, "out of memory");
                        continue;
                }
                if (!cdi_registry_find(reg, w, NULL, NULL))
                        return not_found(reg, dirs, w, err);
                nv = realloc(*names, (*n + 2) * sizeof(char *));
                if (!nv || !(nv[*n] = strdup(w))) {
                        if (nv)
                                *names = nv;
                        return nctk_error_set(err, ENOMEM, "out of memory");
                }
                nv[++*n] = NULL;
                *names = nv;
        }
        return 0;
}

int cdi_request_split(char *const *dirs, const char *devices, struct cdi_registry **ret_reg,
                      char ***ret_names, char **ret_builtin, struct nctk_error **err) {
        struct cdi_registry *reg = NULL;
        char **names = NULL, *builtin = NULL;
        size_t n = 0;
        int r = 0;

        *ret_reg = NULL;
        *ret_names = NULL;
        *ret_builtin = NULL;
        if (!needs_specs(devices)) {
                *ret_builtin = strdup(devices);
                return *ret_builtin ? 0 : nctk_error_set(err, ENOMEM, "out of memory");
        }
        r = cdi_registry_load(dirs, &reg, err);
        if (r >= 0)
                r = split(reg, dirs, devices, &names, &n, &builtin, err);
        if (r < 0) {
                cdi_names_free(names);
                free(builtin);
                cdi_registry_free(reg);
                return r;
        }
        *ret_reg = reg;
        *ret_names = names;
        *ret_builtin = builtin;
        return 0;
}

void cdi_names_free(char **names) {
        for (size_t i = 0; names && names[i]; i++)
                free(names[i]);
        free(names);
}
