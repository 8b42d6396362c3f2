/* containerd's config.toml (engine.h): the runtime in the CRI plugin's table for the file's
 * config version, default_runtime_name, enable_cdi and the imports line, edited in place
 * through toml-edit so that every other byte of the file stays as it was. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml-edit.h"
#include "config/toml.h"
#include "engine/engine.h"
#include "util/macros.h"

/* The name in messages: "config.toml:LINE:COLUMN: what"; the caller adds the path. */
#define FILE_NAME "config.toml"
#define DROPIN_NAME "drop-in"

/* Follows a value configure replaced, with what the line held from the value on: unconfigure
 * puts that back, so the file returns byte for byte (and a reader sees what changed). */
#define WAS_MARKER " # nvidia-ctk replaced: "
/* Follows an imports line that import_add wrote; without it the line was the user's. */
#define ADDED_MARKER " # added by nvidia-ctk"

#define RUNC_V2 "\"io.containerd.runc.v2\""

enum {
        P_CRI = 2,        /* plugins.<cri plugin> */
        P_CONTAINERD = 3, /* ... .containerd */
        P_RUNTIME = 5,    /* ... .containerd.runtimes.<name> */
        P_OPTIONS = 6,    /* ... .containerd.runtimes.<name>.options */
};

/* The CRI plugin's table name per config version: containerd 1.x before config version 2
 * called it "cri"; 2.x split the plugin and keeps runtimes in "io.containerd.cri.v1.runtime". */
static const char *cri_plugin(int version) {
        switch (version) {
        case 1: return "cri";
        case 2: return "io.containerd.grpc.v1.cri";
        default: return "io.containerd.cri.v1.runtime";
        }
}

static void path_init(const char *path[P_OPTIONS], int version, const char *name) {
        path[0] = "plugins";
        path[1] = cri_plugin(version);
        path[2] = "containerd";
        path[3] = "runtimes";
        path[4] = name;
        path[5] = "options";
}

static int version_of(const struct toml_edit *e, struct nctk_error **err) {
        struct toml_edit_key k;
        const char *text;
        char *end;
        long long v;
        int r;

        if (toml_edit_is_blank(e))
                return 0;
        r = toml_edit_find(e, NULL, 0, "version", &k, err);
        if (r <= 0)
                return r < 0 ? r : 1;
        text = toml_edit_text(e, NULL);
        errno = 0;
        v = strtoll(text + k.value_start, &end, 10);
        if (errno != 0 || end != text + k.value_end)
                return nctk_error_set(err, EINVAL, "%s:%u: 'version' must be an integer", FILE_NAME,
                                      k.line);
        if (v < 1 || v > 3)
                return nctk_error_set(err, EOPNOTSUPP,
                                      "%s:%u: config version %lld is not supported (1, 2 or 3)",
                                      FILE_NAME, k.line, v);
        return (int) v;
}

int containerd_config_version(const char *in, size_t len) {
        _cleanup_(toml_edit_freep) struct toml_edit *e = NULL;
        int r = toml_edit_new(FILE_NAME, in, len, &e, NULL);

        if (r < 0)
                return r == -ENOMEM ? r : -EINVAL;
        return version_of(e, NULL);
}

/* Where the line holding byte POS ends, before its newline. */
static size_t line_end(const char *text, size_t len, size_t pos) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t) (nl - text) : len;

        return end > pos && text[end - 1] == '\r' ? end - 1 : end;
}

static bool value_is(const char *text, const struct toml_edit_key *k, const char *value) {
        size_t n = k->value_end - k->value_start;
        return strlen(value) == n && memcmp(text + k->value_start, value, n) == 0;
}

/* Sets KEY of table PATH to VALUE; a different one-line value already there is kept after a
 * WAS_MARKER for unconfigure. 1 when changed, 0 when it was VALUE. */
static int set_remembering(struct toml_edit *e, const char *const *path, size_t n, const char *key,
                           const char *value, struct nctk_error **err) {
        _cleanup_free_ char *line = NULL;
        struct toml_edit_key k;
        size_t len, end;
        const char *text;
        int r = toml_edit_find(e, path, n, key, &k, err);

        if (r <= 0)
                return r < 0 ? r : toml_edit_set(e, path, n, key, value, err);
        text = toml_edit_text(e, &len);
        if (value_is(text, &k, value))
                return 0;
        end = line_end(text, len, k.value_start);
        if (end < k.value_end)
                /* a value over several lines cannot go into a comment */
                return toml_edit_set(e, path, n, key, value, err);
        if (asprintf(&line, "%s%s%.*s", value, WAS_MARKER, (int) (end - k.value_start),
                     text + k.value_start) < 0)
                return -ENOMEM;
        r = toml_edit_splice(e, k.value_start, end, line, strlen(line), err);
        return r < 0 ? r : 1;
}

/* Undoes set_remembering() of KEY = VALUE: the remembered text comes back, or, with no
 * marker and REMOVE, the key goes. Keys holding another value are someone else's. */
static int unset_remembered(struct toml_edit *e, const char *const *path, size_t n, const char *key,
                            const char *value, bool remove, struct nctk_error **err) {
        size_t mlen = strlen(WAS_MARKER), len, end;
        struct toml_edit_key k;
        const char *text;
        int r = toml_edit_find(e, path, n, key, &k, err);

        if (r <= 0)
                return r;
        text = toml_edit_text(e, &len);
        if (!value_is(text, &k, value))
                return 0;
        end = line_end(text, len, k.value_end);
        if (end - k.value_end >= mlen && memcmp(text + k.value_end, WAS_MARKER, mlen) == 0) {
                const char *was = text + k.value_end + mlen;
                return toml_edit_splice(e, k.value_start, end, was, end - (k.value_end + mlen),
                                        err);
        }
        return remove ? toml_edit_remove(e, path, n, key, err) : 0;
}

#define CDI_ANNOTATIONS_LIST "[\"cdi.k8s.io/*\"]"

/* What a new runtime table holds: a copy of runc's keys (so its options, SystemdCgroup among
 * them, carry over, as the reference does), BinaryName set to our path. */
struct runtime_copy {
        struct toml_edit_entry table[64], options[64];
        size_t n_table, n_options;
        char *owned[256];
        size_t n_owned;
};

static void runtime_copy_release(struct runtime_copy *c) {
        for (size_t i = 0; i < c->n_owned; i++)
                free(c->owned[i]);
        c->n_owned = 0;
}

static char *own(struct runtime_copy *c, char *s) {
        if (!s || c->n_owned >= ELEMENTSOF(c->owned)) {
                free(s);
                return NULL;
        }
        return c->owned[c->n_owned++] = s;
}

static int copy_add(struct runtime_copy *c, bool options, char *key, char *value) {
        struct toml_edit_entry *v = options ? c->options : c->table;
        size_t *n = options ? &c->n_options : &c->n_table;

        key = own(c, key);
        value = own(c, value);
        if (!key || !value)
                return -ENOMEM;
        if (*n >= ELEMENTSOF(c->table))
                return -E2BIG;
        v[(*n)++] = (struct toml_edit_entry){key, value};
        return 0;
}

/* runc's container_annotations (an array of strings, as written: V, N bytes) with the CDI
 * pattern added when it lacks it, since the copy must pass CDI annotations too. */
static char *with_cdi(const char *v, size_t n) {
        const char *open = memchr(v, '[', n);
        char *out = NULL;
        size_t i;

        if (!open || memmem(v, n, "cdi.k8s.io/*", 12))
                return strndup(v, n);
        for (i = (size_t) (open - v) + 1; i < n && strchr(" \t\r\n", v[i]); i++)
                ;
        if (i < n && v[i] == ']') /* empty */
                return strdup(CDI_ANNOTATIONS_LIST);
        if (asprintf(&out, "%.*s\"cdi.k8s.io/*\", %.*s", (int) (open - v + 1), v,
                     (int) (n - (size_t) (open - v + 1)), open + 1) < 0)
                return NULL;
        return out;
}

/* One key of runc's table, at REL (the path below runc) into C; BinaryName becomes QPATH. */
static int copy_key(struct runtime_copy *c, const char *text, const struct toml_edit_key *k,
                    const char *const *rel, size_t n, const char *qpath) {
        bool options = STREQ(rel[0], "options");
        bool binary = options && n == 2 && STREQ(rel[1], "BinaryName");
        char *key = NULL;
        int r;

        if (options && n == 1)
                return 0; /* options as an inline table: closed to BinaryName, left out */
        r = toml_path_format(rel + options, n - options, &key);
        if (r < 0)
                return r;
        if (binary)
                return copy_add(c, options, key, strdup(qpath));
        if (!options && STREQ(key, "container_annotations"))
                return copy_add(c, options, key,
                                with_cdi(text + k->value_start, k->value_end - k->value_start));
        return copy_add(c, options, key,
                        strndup(text + k->value_start, k->value_end - k->value_start));
}

static bool has_entry(const struct toml_edit_entry *v, size_t n, const char *key) {
        for (size_t i = 0; i < n; i++)
                if (STREQ(v[i].key, key))
                        return true;
        return false;
}

static int runtime_copy_fill(struct runtime_copy *c, const struct toml_edit *e,
                             const char *const *runc, const char *qpath, struct nctk_error **err) {
        _cleanup_free_ struct toml_edit_key *keys = NULL;
        const char *text = toml_edit_text(e, NULL);
        size_t n = 0;
        /* runc written as an inline table: nothing to copy from, the runtime starts afresh */
        int r = toml_edit_keys_under(e, runc, P_RUNTIME, &keys, &n, NULL);

        if (r == -ENOTDIR)
                r = 0;
        else if (r < 0)
                return nctk_error_set(err, -r, "%s: %s", FILE_NAME, strerror(-r));
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = copy_key(c, text, &keys[i], keys[i].path + P_RUNTIME, keys[i].n - P_RUNTIME,
                             qpath);
        if (r >= 0 && !has_entry(c->table, c->n_table, "runtime_type"))
                r = copy_add(c, false, strdup("runtime_type"), strdup(RUNC_V2));
        /* containerd 1.6's CRI passes a container's annotations into its OCI spec only where
         * the runtime lists them; the device plugin's CDI annotations must get through. */
        if (r >= 0 && !has_entry(c->table, c->n_table, "container_annotations"))
                r = copy_add(c, false, strdup("container_annotations"),
                             strdup(CDI_ANNOTATIONS_LIST));
        if (r >= 0 && !has_entry(c->options, c->n_options, "BinaryName"))
                r = copy_add(c, true, strdup("BinaryName"), strdup(qpath));
        return r;
}

/* KEY = VALUE in the runtime's table at PATH, unless the table sets KEY already. */
static int set_if_missing(struct toml_edit *e, const char *const *path, const char *key,
                          const char *value, struct nctk_error **err) {
        int r = toml_edit_find(e, path, P_RUNTIME, key, NULL, err);

        return r != 0 ? (r < 0 ? r : 0) : toml_edit_set(e, path, P_RUNTIME, key, value, err);
}

/* The runtime's table, new from runc's in SRC or, when there, with runtime_type and
 * BinaryName. */
static int add_runtime(struct toml_edit *e, const struct toml_edit *src, const char *const *path,
                       const char *qpath, struct nctk_error **err) {
        struct runtime_copy c = {0};
        const char *runc[P_RUNTIME];
        int r = toml_edit_has_table(e, path, P_RUNTIME, err);

        if (r < 0)
                return r;
        if (r > 0) {
                r = set_if_missing(e, path, "runtime_type", RUNC_V2, err);
                if (r >= 0)
                        r = set_if_missing(e, path, "container_annotations", CDI_ANNOTATIONS_LIST,
                                           err);
                return r < 0 ? r : toml_edit_set(e, path, P_OPTIONS, "BinaryName", qpath, err);
        }
        memcpy(runc, path, sizeof(runc));
        runc[4] = "runc";
        r = runtime_copy_fill(&c, src, runc, qpath, err);
        if (r >= 0)
                r = toml_edit_add_table_with(e, path, P_RUNTIME, c.table, c.n_table, err);
        if (r >= 0)
                r = toml_edit_add_table_with(e, path, P_OPTIONS, c.options, c.n_options, err);
        runtime_copy_release(&c);
        return r;
}

static int edit_open(const char *name, const char *in, size_t len, const struct engine_runtime *rt,
                     struct toml_edit **ret, struct nctk_error **err) {
        int r = engine_runtime_name_check(rt->name, err);
        return r < 0 ? r : toml_edit_new(name, in, len, ret, err);
}

static int edit_close(struct toml_edit *e, struct engine_text *out) {
        out->data = toml_edit_steal(e, &out->len);
        return out->data ? 0 : -ENOMEM;
}

/* A blank file starts with `version = NEW_VERSION` (containerd reads a file without one as
 * version 1). */
static int version_for_edit(struct toml_edit *e, int new_version, struct nctk_error **err) {
        char line[32];
        int r = version_of(e, err);

        if (r != 0)
                return r;
        if (new_version < 1 || new_version > 3)
                return nctk_error_set(err, EINVAL, "config version %d is not supported (1, 2 or 3)",
                                      new_version);
        snprintf(line, sizeof(line), "%d", new_version);
        r = toml_edit_set(e, NULL, 0, "version", line, err);
        return r < 0 ? r : new_version;
}

/* Configures E, of config VERSION, copying runc's table from SRC. */
static int configure_edit(struct toml_edit *e, const struct toml_edit *src, int version,
                          const struct engine_runtime *rt, struct engine_text *out,
                          struct nctk_error **err) {
        _cleanup_free_ char *qname = NULL, *qpath = NULL;
        const char *path[P_OPTIONS];
        int r;

        path_init(path, version, rt->name);
        if (toml_quote_string(rt->name, &qname) < 0 || toml_quote_string(rt->path, &qpath) < 0)
                return nctk_error_set(err, EINVAL, "runtime path '%s' is not UTF-8", rt->path);
        r = toml_edit_begin(e);
        if (r >= 0 && rt->cdi_enabled)
                r = set_remembering(e, path, P_CRI, "enable_cdi", "true", err);
        if (r >= 0 && rt->set_as_default)
                r = set_remembering(e, path, P_CONTAINERD, "default_runtime_name", qname, err);
        if (r >= 0)
                r = add_runtime(e, src, path, qpath, err);
        if (r >= 0)
                r = toml_edit_commit(e, err);
        return r < 0 ? r : edit_close(e, out);
}

int containerd_configure(const char *in, size_t len, const struct engine_runtime *rt,
                         int new_version, struct engine_text *out, struct nctk_error **err) {
        _cleanup_(toml_edit_freep) struct toml_edit *e = NULL;
        int r = edit_open(FILE_NAME, in, len, rt, &e, err);

        if (r >= 0)
                r = version_for_edit(e, new_version, err);
        return r < 0 ? r : configure_edit(e, e, r, rt, out, err);
}

/* The length of the path of the table KEY goes under in a copy of the CRI plugin's section:
 * its header's, or the plugin's for a dotted key written above the plugin's table. */
static size_t copy_table_len(const struct toml_edit_key *k) {
        return k->nhead > P_CRI ? k->nhead : P_CRI;
}

static bool same_table(const struct toml_edit_key *a, const struct toml_edit_key *b) {
        size_t n = copy_table_len(a);

        if (copy_table_len(b) != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!STREQ(a->path[i], b->path[i]))
                        return false;
        return true;
}

static void entries_free(struct toml_edit_entry *v, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free((char *) v[i].key);
                free((char *) v[i].value);
        }
        free(v);
}

/* Copies KEYS[I] and the later keys of its table (marking them in DONE) into E as one table. */
static int copy_table(struct toml_edit *e, const char *text, const struct toml_edit_key *keys,
                      size_t n, size_t i, bool *done, struct nctk_error **err) {
        struct toml_edit_entry *v = calloc(n - i, sizeof(*v));
        size_t tn = copy_table_len(&keys[i]), nv = 0;
        int r = v ? 0 : -ENOMEM;

        for (size_t j = i; r >= 0 && j < n; j++) {
                char *key = NULL;

                if (done[j] || !same_table(&keys[i], &keys[j]))
                        continue;
                done[j] = true;
                r = toml_path_format(keys[j].path + tn, keys[j].n - tn, &key);
                if (r < 0)
                        break;
                v[nv].key = key;
                v[nv].value = strndup(text + keys[j].value_start,
                                      keys[j].value_end - keys[j].value_start);
                if (!v[nv++].value)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = toml_edit_add_table_with(e, keys[i].path, tn, v, nv, err);
        if (v)
                entries_free(v, nv);
        return r;
}

static int copy_tables(struct toml_edit *e, const struct toml_edit *src, const char *const *cri,
                       struct nctk_error **err) {
        _cleanup_free_ struct toml_edit_key *keys = NULL;
        _cleanup_free_ bool *done = NULL;
        const char *text = toml_edit_text(src, NULL);
        size_t n = 0;
        int r = toml_edit_keys_under(src, cri, P_CRI, &keys, &n, err);

        if (r < 0)
                return r;
        done = calloc(n + 1, sizeof(*done));
        if (!done)
                return -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (!done[i])
                        r = copy_table(e, text, keys, n, i, done, err);
        return r;
}

/* containerd 1.x takes an imported file's plugin section instead of the main one, whole
 * (containerd issue 5837; 2.x merges): so a drop-in for config versions 1 and 2 starts as a
 * copy of every key the main config sets in the CRI plugin, plus the runc runtime that the
 * replaced section would otherwise lose. */
static int copy_cri_section(struct toml_edit *e, const struct toml_edit *src, int version,
                            struct nctk_error **err) {
        const char *cri[P_OPTIONS];
        int r;

        path_init(cri, version, "runc");
        r = toml_edit_has_table(e, cri, P_CRI, err);
        if (r != 0)
                return r < 0 ? r : 0; /* the drop-in has it already: an earlier run's */
        r = toml_edit_begin(e);
        if (r >= 0)
                r = copy_tables(e, src, cri, err);
        if (r >= 0)
                r = toml_edit_has_table(e, cri, P_RUNTIME, err);
        if (r == 0) {
                const struct toml_edit_entry runc = {"runtime_type", RUNC_V2};
                r = toml_edit_add_table_with(e, cri, P_RUNTIME, &runc, 1, err);
        }
        return r < 0 ? r : toml_edit_commit(e, err);
}

int containerd_configure_dropin(const char *main_cfg, size_t main_len, const char *in, size_t len,
                                const struct engine_runtime *rt, int new_version,
                                struct engine_text *out, struct nctk_error **err) {
        _cleanup_(toml_edit_freep) struct toml_edit *m = NULL, *e = NULL;
        int version, r = edit_open(FILE_NAME, main_cfg, main_len, rt, &m, err);

        if (r < 0)
                return r;
        version = r = version_of(m, err);
        if (r >= 0)
                r = edit_open(DROPIN_NAME, in, len, rt, &e, err);
        if (r >= 0)
                r = version = version_for_edit(e, version ?: new_version, err);
        if (r >= 0 && version <= 2)
                r = copy_cri_section(e, m, version, err);
        if (r >= 0)
                r = version;
        return r < 0 ? r : configure_edit(e, m, r, rt, out, err);
}

int containerd_unconfigure(const char *in, size_t len, const struct engine_runtime *rt,
                           struct engine_text *out, struct nctk_error **err) {
        _cleanup_(toml_edit_freep) struct toml_edit *e = NULL;
        _cleanup_free_ char *qname = NULL;
        const char *path[P_OPTIONS];
        int version, r = edit_open(FILE_NAME, in, len, rt, &e, err);

        if (r < 0)
                return r;
        version = r = version_of(e, err);
        if (r <= 0)
                return r < 0 ? r : edit_close(e, out);
        path_init(path, version, rt->name);
        if (toml_quote_string(rt->name, &qname) < 0)
                return -ENOMEM;
        r = toml_edit_begin(e);
        if (r >= 0)
                r = toml_edit_remove_table(e, path, P_RUNTIME, TOML_EDIT_RECURSIVE, err);
        /* the default is ours to take back whatever the flags: it names what is now gone */
        if (r >= 0)
                r = unset_remembered(e, path, P_CONTAINERD, "default_runtime_name", qname, true,
                                     err);
        if (r >= 0)
                r = unset_remembered(e, path, P_CRI, "enable_cdi", "true", rt->cdi_enabled, err);
        /* headers that configure may have made for those two keys */
        if (r >= 0)
                r = toml_edit_remove_table(e, path, P_CONTAINERD, TOML_EDIT_IF_EMPTY, err);
        if (r >= 0)
                r = toml_edit_remove_table(e, path, P_CRI, TOML_EDIT_IF_EMPTY, err);
        if (r >= 0)
                r = toml_edit_commit(e, err);
        return r < 0 ? r : edit_close(e, out);
}

/* ---- imports ------------------------------------------------------------------------------- */

/* Whether the array text V (N bytes, "[ ... ]") holds an item, and whether a comma ends its
 * items; strings and comments are stepped over. */
static void array_shape(const char *v, size_t n, bool *ret_items, bool *ret_comma) {
        char last = '[';

        for (size_t i = 1; i + 1 < n; i++) {
                char c = v[i];

                if (c == '#') {
                        while (i + 1 < n && v[i] != '\n')
                                i++;
                        continue;
                }
                if (strchr(" \t\r\n", c))
                        continue;
                if (c == '"' || c == '\'')
                        for (i++; i + 1 < n && v[i] != c; i++)
                                if (c == '"' && v[i] == '\\')
                                        i++;
                last = c;
        }
        *ret_items = last != '[';
        *ret_comma = last == ',';
}

static int imports_has(const char *in, size_t len, const char *glob, struct nctk_error **err) {
        struct toml_doc *doc = NULL;
        char **v = NULL;
        int r = toml_parse(FILE_NAME, in, len, &doc, err);

        if (r >= 0)
                r = toml_get_strv(doc, "imports", &v, err);
        for (char **s = v; r > 0 && *s; s++)
                if (STREQ(*s, glob)) {
                        r = 2;
                        break;
                }
        toml_strv_free(v);
        toml_doc_free(doc);
        return r < 0 ? r : r == 2;
}

int containerd_import_add(const char *in, size_t len, const char *glob, struct engine_text *out,
                          struct nctk_error **err) {
        _cleanup_(toml_edit_freep) struct toml_edit *e = NULL;
        _cleanup_free_ char *qglob = NULL, *text = NULL;
        struct toml_edit_key k;
        bool items, comma;
        int r = toml_edit_new(FILE_NAME, in, len, &e, err);

        if (r < 0)
                return r;
        if (toml_quote_string(glob, &qglob) < 0)
                return nctk_error_set(err, EINVAL, "import '%s' is not UTF-8", glob);
        r = imports_has(in, len, glob, err);
        if (r != 0)
                return r < 0 ? r : edit_close(e, out);
        r = toml_edit_find(e, NULL, 0, "imports", &k, err);
        if (r < 0)
                return r;
        if (r == 0) {
                if (asprintf(&text, "[%s]%s", qglob, ADDED_MARKER) < 0)
                        return -ENOMEM;
                r = toml_edit_set(e, NULL, 0, "imports", text, err);
                return r < 0 ? r : edit_close(e, out);
        }
        array_shape(toml_edit_text(e, NULL) + k.value_start, k.value_end - k.value_start, &items,
                    &comma);
        if (asprintf(&text, "%s%s", items && !comma ? ", " : "", qglob) < 0)
                return -ENOMEM;
        r = toml_edit_splice(e, k.value_end - 1, k.value_end - 1, text, strlen(text), err);
        return r < 0 ? r : edit_close(e, out);
}

/* The bytes of QGLOB's item in the imports value, with the separator import_add wrote. */
static bool import_span(const char *text, const struct toml_edit_key *k, const char *qglob,
                        size_t *ret_start, size_t *ret_end) {
        size_t q = strlen(qglob), s = k->value_start, e = k->value_end;
        const char *hit = memmem(text + s, e - s, qglob, q);
        size_t start, end;

        if (!hit)
                return false;
        start = (size_t) (hit - text);
        end = start + q;
        if (start - s >= 2 && memcmp(text + start - 2, ", ", 2) == 0) {
                start -= 2;
        } else {
                while (end < e && strchr(" \t", text[end]))
                        end++;
                if (end < e && text[end] == ',')
                        end++;
                while (end < e && text[end] == ' ')
                        end++;
        }
        *ret_start = start;
        *ret_end = end;
        return true;
}

int containerd_import_remove(const char *in, size_t len, const char *glob, struct engine_text *out,
                             struct nctk_error **err) {
        _cleanup_(toml_edit_freep) struct toml_edit *e = NULL;
        _cleanup_free_ char *qglob = NULL, *whole = NULL;
        size_t start, end, tlen;
        struct toml_edit_key k;
        const char *text;
        int r = toml_edit_new(FILE_NAME, in, len, &e, err);

        if (r < 0)
                return r;
        if (toml_quote_string(glob, &qglob) < 0)
                return nctk_error_set(err, EINVAL, "import '%s' is not UTF-8", glob);
        r = toml_edit_find(e, NULL, 0, "imports", &k, err);
        if (r <= 0)
                return r < 0 ? r : edit_close(e, out);
        text = toml_edit_text(e, &tlen);
        if (asprintf(&whole, "[%s]", qglob) < 0)
                return -ENOMEM;
        end = line_end(text, tlen, k.value_end);
        if (value_is(text, &k, whole) && end - k.value_end == strlen(ADDED_MARKER) &&
            memcmp(text + k.value_end, ADDED_MARKER, strlen(ADDED_MARKER)) == 0)
                r = toml_edit_remove(e, NULL, 0, "imports", err);
        else if (import_span(text, &k, qglob, &start, &end))
                r = toml_edit_splice(e, start, end, "", 0, err);
        return r < 0 ? r : edit_close(e, out);
}
