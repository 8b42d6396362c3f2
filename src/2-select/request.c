/* The container's request, read from its OCI runtime spec with the reference toolkit's semantics
 * (NCT internal/config/image/, cmd/nvidia-container-runtime-hook/container_config.go,
 * internal/runtime/runtime_factory.go for the CDI annotations).
 * process.env comes from the image: every value is bounded, checked and quoted when printed. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "2-select/request.h"
#include "2-select/require.h"
#include "2-select/values.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

#define CAP_COMPAT32 (1u << 6) /* request.c only: compat32 is a flag, not a library capability */
#define CAPS_SUPPORTED_ALL (NCTK_CAP_ALL | CAP_COMPAT32)
#define CAPS_DEFAULT (NCTK_CAP_UTILITY | NCTK_CAP_COMPUTE)
#define QUOTE_MAX 64
#define MIG_VALUE_MAX 128
#define PATH_VALUE_MAX 4096
#define MIN_SIZE(a, b) ((a) < (b) ? (a) : (b))

/* Sorted, as the reference prints them. */
static const struct {
        const char *name;
        unsigned bit;
} cap_table[] = {
        {"compat32", CAP_COMPAT32},    {"compute", NCTK_CAP_COMPUTE},
        {"display", NCTK_CAP_DISPLAY}, {"graphics", NCTK_CAP_GRAPHICS},
        {"ngx", NCTK_CAP_NGX},         {"utility", NCTK_CAP_UTILITY},
        {"video", NCTK_CAP_VIDEO},
};

struct env_var {
        const char *name; /* "NAME=VALUE" as in the spec: NAME is not NUL-terminated */
        size_t name_len;
        const char *value;
};

/* One item of a device or channel list, and where it came from for error messages. */
struct item {
        const char *p;
        size_t len;
        const char *origin; /* "NVIDIA_VISIBLE_DEVICES", "device volume mount" */
        const char *value;  /* the whole value (or mount destination) it was part of */
};

struct list {
        struct item *v;
        size_t n;
        bool is_set; /* some variable was present, even empty */
        bool has_void, has_none, has_all;
};

enum list_kind { LIST_VOID, LIST_NONE, LIST_ALL, LIST_ITEMS };

struct ctx {
        const json_t *spec;
        const struct nctk_config *cfg;
        struct nctk_error **err;
        struct container_request *r;
        struct env_var *env;
        size_t n_env;
        struct list mount_devs, mount_imex;
        struct list annotation_devs; /* CDI annotations, in cdi mode only */
        bool is_cdi_mode;
        char **owned; /* strings the mount and annotation items point into */
        size_t n_owned;
        unsigned supported;
};

/* A printable, bounded copy of an untrusted value for an error line. */
struct quoted {
        char s[QUOTE_MAX + 4];
};

static struct quoted quote_n(const char *s, size_t len) {
        struct quoted q;
        size_t o = 0;

        for (size_t i = 0; i < len && s[i] && o < QUOTE_MAX; i++) {
                unsigned char ch = (unsigned char) s[i];
                q.s[o++] = (ch >= 0x20 && ch < 0x7f && ch != '\'') ? (char) ch : '?';
        }
        /* Longer than what was shown: bounded by QUOTE_MAX + 1, never by LEN (quote() passes
         * SIZE_MAX). */
        if (strnlen(s, len < QUOTE_MAX + 1 ? len : QUOTE_MAX + 1) > QUOTE_MAX) {
                memcpy(q.s + o, "...", 3);
                o += 3;
        }
        q.s[o] = '\0';
        return q;
}

static struct quoted quote(const char *s) {
        return quote_n(s, SIZE_MAX);
}

static int oom(struct nctk_error **err) {
        return nctk_error_set(err, ENOMEM, "out of memory");
}

/* "invalid ORIGIN 'VALUE': WHY" */
static int bad_value(struct nctk_error **err, const char *origin, const char *value,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bad_value(struct nctk_error **err, const char *origin, const char *value,
                     const char *fmt, ...) {
        _cleanup_free_ char *why = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&why, fmt, ap) < 0)
                why = NULL;
        va_end(ap);
        return nctk_error_set(err, EINVAL, "invalid %s '%s': %s", origin, quote(value).s,
                              why ? why : "malformed");
}

static bool list_has_string(const json_t *list, const char *s) {
        size_t i;
        json_t *it;

        json_array_foreach(list, i, it) if (json_is_string(it) &&
                                            STREQ(json_string_value(it), s)) return true;
        return false;
}

bool oci_spec_is_privileged(const json_t *spec) {
        const json_t *caps = json_object_get(json_object_get(spec, "process"), "capabilities");

        /* OCI 1.0.0-rc1 to rc4 had one plain list; later specs a set of lists, of which the
         * bounding set tells a --privileged container (the reference's rule). */
        if (json_is_array(caps))
                return list_has_string(caps, "CAP_SYS_ADMIN");
        return list_has_string(json_object_get(caps, "bounding"), "CAP_SYS_ADMIN");
}

/* ---- process.env ----------------------------------------------------------------------------- */

static int env_parse(struct ctx *c) {
        const json_t *env = json_object_get(json_object_get(c->spec, "process"), "env");
        size_t i;
        json_t *it;

        if (!env || json_is_null(env))
                return 0;
        if (!json_is_array(env))
                return nctk_error_set(c->err, EINVAL,
                                      "invalid OCI spec: process.env is not a list");
        json_array_foreach(env, i, it) {
                const char *s = json_string_value(it), *eq;
                struct env_var *v;

                if (!s)
                        return nctk_error_set(c->err, EINVAL,
                                              "invalid OCI spec: process.env[%zu] "
                                              "is not a string",
                                              i);
                eq = strchr(s, '=');
                if (!eq)
                        return nctk_error_set(c->err, EINVAL,
                                              "invalid environment variable '%s' "
                                              "(want NAME=VALUE)",
                                              quote(s).s);
                v = ARRAY_PUSH(c->env, c->n_env);
                if (!v)
                        return oom(c->err);
                *v = (struct env_var){s, (size_t) (eq - s), eq + 1};
        }
        return 0;
}

/* The value of NAME (the last one when repeated, as a Go map keeps it), or NULL. */
static const char *env_get(const struct ctx *c, const char *name) {
        size_t len = strlen(name);

        for (size_t i = c->n_env; i-- > 0;)
                if (c->env[i].name_len == len && memcmp(c->env[i].name, name, len) == 0)
                        return c->env[i].value;
        return NULL;
}

/* ---- device and channel lists ---------------------------------------------------------------- */

static bool is_blank(char ch) {
        return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Go's strings.TrimSpace on [*S, *E), ASCII only */
static void trim(const char **s, const char **e) {
        while (*s < *e && is_blank(**s))
                (*s)++;
        while (*e > *s && is_blank((*e)[-1]))
                (*e)--;
}

static bool item_is(const struct item *it, const char *word) {
        return it->len == strlen(word) && memcmp(it->p, word, it->len) == 0;
}

static int list_push(struct list *l, const char *p, size_t len, const char *origin,
                     const char *value, struct nctk_error **err) {
        struct item *it;

        if (len > REQUEST_DEVICE_ITEM_MAX)
                return bad_value(err, origin, value, "'%s' is longer than %d bytes",
                                 quote_n(p, len).s, REQUEST_DEVICE_ITEM_MAX);
        if (l->n >= REQUEST_DEVICES_MAX)
                return bad_value(err, origin, value, "more than %d items", REQUEST_DEVICES_MAX);
        it = ARRAY_PUSH(l->v, l->n);
        if (!it)
                return oom(err);
        *it = (struct item){p, len, origin, value};
        l->has_void |= item_is(it, "void");
        l->has_none |= item_is(it, "none");
        l->has_all |= item_is(it, "all");
        return 0;
}

/* Splits VALUE of variable NAME at commas, trims each item, drops empty ones. */
static int list_add_value(struct list *l, const char *name, const char *value,
                          struct nctk_error **err) {
        const char *p = value;

        l->is_set = true;
        if (strlen(value) > REQUEST_VALUE_MAX)
                return bad_value(err, name, value, "longer than %d bytes", REQUEST_VALUE_MAX);
        while (*p) {
                size_t len = strcspn(p, ",");
                const char *s = p, *e = p + len;
                int r;

                p = *e ? e + 1 : e;
                trim(&s, &e);
                if (s == e)
                        continue;
                r = list_push(l, s, (size_t) (e - s), name, value, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The reference's rules: unset with a legacy image is all; nothing, or "void" anywhere, is void;
 * then none over all over the items. */
static enum list_kind list_kind(const struct list *l, bool legacy) {
        if (!l->is_set && l->n == 0 && legacy)
                return LIST_ALL;
        if (l->n == 0 || l->has_void)
                return LIST_VOID;
        if (l->has_none)
                return LIST_NONE;
        return l->has_all ? LIST_ALL : LIST_ITEMS;
}

/* Checks every item of L and joins them with ','. */
static int devices_join(struct ctx *c, const struct list *l) {
        size_t total = 1, n_cdi = 0;
        char *out, *o;

        for (size_t i = 0; i < l->n; i++) {
                const struct item *it = &l->v[i];
                enum device_kind k = device_id_classify(it->p, it->len);

                if (k == DEVICE_BAD)
                        return bad_value(c->err, it->origin, it->value,
                                         "'%s' is not a GPU index, GPU or MIG UUID, "
                                         "<gpu>:<mig> index, PCI bus id or CDI device name",
                                         quote_n(it->p, it->len).s);
                n_cdi += k == DEVICE_CDI;
                total += it->len + 1;
        }
        out = o = malloc(total);
        if (!out)
                return oom(c->err);
        for (size_t i = 0; i < l->n; i++) {
                if (i > 0)
                        *o++ = ',';
                memcpy(o, l->v[i].p, l->v[i].len);
                o += l->v[i].len;
        }
        *o = '\0';
        c->r->devices = out;
        c->r->has_cdi_devices = n_cdi > 0;
        c->r->only_cdi_devices = n_cdi == l->n;
        return 0;
}

/* ---- volume mounts --------------------------------------------------------------------------- */

static int own(struct ctx *c, char *s) {
        char **slot;

        if (!s)
                return oom(c->err);
        slot = ARRAY_PUSH(c->owned, c->n_owned);
        if (!slot) {
                free(s);
                return oom(c->err);
        }
        *slot = s;
        return 0;
}

/* cdi/<vendor>/<class>/<name> or cdi/<vendor>/<class>=<name>: the qualified name, or NULL (the
 * reference skips such a mount with a warning). */
static char *cdi_mount_name(const char *rest) {
        const char *a = strchr(rest, '/'), *b = a ? strchr(a + 1, '/') : NULL;
        char *name = NULL;

        if (cdi_name_is_valid(rest, strlen(rest)))
                return strdup(rest);
        if (!b || asprintf(&name, "%.*s=%s", (int) (b - rest), rest, b + 1) < 0)
                return NULL;
        if (!cdi_name_is_valid(name, strlen(name))) {
                free(name);
                return NULL;
        }
        return name;
}

static bool list_has_value(const struct list *l, const char *value) {
        for (size_t i = 0; i < l->n; i++)
                if (STREQ(l->v[i].value, value))
                        return true;
        return false;
}

static bool mount_seen(const struct ctx *c, const char *dest) {
        return list_has_value(&c->mount_devs, dest) || list_has_value(&c->mount_imex, dest);
}

static int mount_one(struct ctx *c, const char *dest) {
        const char *rest = dest + strlen(REQUEST_DEVICE_MOUNT_ROOT "/");
        const char *origin = "device volume mount";

        if (startswith(rest, "imex/") && rest[5])
                return list_push(&c->mount_imex, rest + 5, strlen(rest + 5), origin, dest, c->err);
        if (startswith(rest, "cdi/")) {
                char *name = cdi_mount_name(rest + 4);

                if (!name) {
                        log_debug("ignoring CDI device volume mount '%s': not vendor/class/name",
                                  quote(dest).s);
                        return 0;
                }
                if (own(c, name) < 0)
                        return -ENOMEM;
                return list_push(&c->mount_devs, name, strlen(name), origin, dest, c->err);
        }
        return list_push(&c->mount_devs, rest, strlen(rest), origin, dest, c->err);
}

/* Mounts of /dev/null onto REQUEST_DEVICE_MOUNT_ROOT/<request>: set by the engine (the Kubernetes
 * device plugin's volume-mounts strategy), never by the image. */
static int mounts_collect(struct ctx *c) {
        const json_t *mounts = json_object_get(c->spec, "mounts");
        size_t i;
        json_t *m;

        json_array_foreach(mounts, i, m) {
                const char *src = json_string_value(json_object_get(m, "source"));
                const char *dst = json_string_value(json_object_get(m, "destination"));
                _cleanup_free_ char *s = NULL, *d = NULL;
                int r;

                if (!src || !dst || strlen(src) > PATH_VALUE_MAX || strlen(dst) > PATH_VALUE_MAX)
                        continue;
                s = path_clean(src);
                d = path_clean(dst);
                if (!s || !d)
                        return oom(c->err);
                if (!STREQ(s, "/dev/null") || !startswith(d, REQUEST_DEVICE_MOUNT_ROOT "/") ||
                    mount_seen(c, d))
                        continue;
                r = own(c, TAKE_PTR(d));
                if (r >= 0)
                        r = mount_one(c, c->owned[c->n_owned - 1]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- CDI annotations ------------------------------------------------------------------------- */

static bool has_any_prefix(const char *key, char *const *prefixes) {
        for (size_t i = 0; prefixes && prefixes[i]; i++)
                if (*prefixes[i] && startswith(key, prefixes[i]))
                        return true;
        return false;
}

static int key_cmp(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* One annotation: its names, each a fully-qualified CDI name ("void", "all" and indices are not:
 * the device plugin writes names, and a bare index here would be a mistake to report). */
static int annotation_add(struct ctx *c, const char *key, const json_t *value) {
        const char *v = json_string_value(value);
        struct list *l = &c->annotation_devs;
        size_t first = l->n;
        char *origin = NULL;
        int r;

        if (asprintf(&origin, "CDI annotation %s", quote(key).s) < 0)
                origin = NULL;
        if (own(c, origin) < 0)
                return -ENOMEM;
        if (!v)
                return nctk_error_set(c->err, EINVAL, "invalid OCI spec: %s is not a string",
                                      origin);
        r = list_add_value(l, origin, v, c->err);
        for (size_t i = first; r >= 0 && i < l->n; i++)
                if (!cdi_name_is_valid(l->v[i].p, l->v[i].len))
                        r = bad_value(c->err, origin, v,
                                      "'%s' is not a fully-qualified CDI device name "
                                      "(vendor/class=name, e.g. nvidia.com/gpu=0)",
                                      quote_n(l->v[i].p, l->v[i].len).s);
        return r;
}

/* The annotations whose keys start with one of runtime.modes.cdi.annotation-prefixes, by key. */
static int annotations_collect(struct ctx *c) {
        const json_t *annotations = json_object_get(c->spec, "annotations");
        _cleanup_free_ const char **keys = NULL;
        size_t n = 0;
        const char *key;
        json_t *value;
        int r = 0;

        if (!json_is_object(annotations))
                return 0;
        json_object_foreach((json_t *) annotations, key, value) {
                const char **slot;

                if (!has_any_prefix(key, c->cfg->runtime.cdi_annotation_prefixes))
                        continue;
                slot = ARRAY_PUSH(keys, n);
                if (!slot)
                        return oom(c->err);
                *slot = key;
        }
        if (n > 1)
                qsort(keys, n, sizeof(*keys), key_cmp);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = annotation_add(c, keys[i], json_object_get(annotations, keys[i]));
        return r;
}

/* ---- devices --------------------------------------------------------------------------------- */

/* The swarm-resource variables that are set (e.g. DOCKER_RESOURCE_GPU), all of them together;
 * else NVIDIA_VISIBLE_DEVICES. */
static int env_devices(struct ctx *c, struct list *l) {
        const char *p = c->cfg->swarm_resource ? c->cfg->swarm_resource : "";
        const char *v;
        int r;

        while (*p) {
                const char *s = p, *e = p + strcspn(p, ",");
                char *name;

                p = *e ? e + 1 : e;
                trim(&s, &e);
                if (s == e)
                        continue;
                name = strndup(s, (size_t) (e - s));
                if (own(c, name) < 0)
                        return -ENOMEM;
                v = env_get(c, name);
                if (v && (r = list_add_value(l, name, v, c->err)) < 0)
                        return r;
        }
        if (l->is_set)
                return 0;
        v = env_get(c, "NVIDIA_VISIBLE_DEVICES");
        return v ? list_add_value(l, "NVIDIA_VISIBLE_DEVICES", v, c->err) : 0;
}

static int devices_set(struct ctx *c, const struct list *l, enum list_kind kind) {
        if (kind == LIST_ITEMS)
                return devices_join(c, l);
        c->r->devices = strdup(kind == LIST_ALL ? "all" : "none");
        return c->r->devices ? 0 : oom(c->err);
}

/* CDI annotations (in cdi mode) over volume mounts (when accepted and present) over the
 * environment; env requests of unprivileged containers only when
 * accept-nvidia-visible-devices-envvar-when-unprivileged. */
static int devices_compute(struct ctx *c) {
        struct container_request *r = c->r;
        _cleanup_free_ struct item *items = NULL;
        struct list env = {};
        enum list_kind kind;
        int ret;

        if (c->annotation_devs.n > 0) {
                r->source = REQUEST_SOURCE_ANNOTATIONS;
                r->is_gpu_container = true;
                return devices_join(c, &c->annotation_devs);
        }
        if (c->mount_devs.n > 0) {
                kind = list_kind(&c->mount_devs, false);
                r->source = REQUEST_SOURCE_MOUNTS;
                r->is_gpu_container = kind != LIST_VOID;
                return r->is_gpu_container ? devices_set(c, &c->mount_devs, kind) : 0;
        }
        ret = env_devices(c, &env);
        items = env.v;
        if (ret < 0)
                return ret;
        kind = list_kind(&env, r->is_legacy);
        if (kind == LIST_VOID)
                return 0;
        if (!r->is_privileged && !c->cfg->accept_envvar_when_unprivileged) {
                log_debug("ignoring the devices an unprivileged container asks for in its "
                          "environment (accept-nvidia-visible-devices-envvar-when-unprivileged = "
                          "false)");
                r->envvar_request_ignored = true;
                return 0;
        }
        r->source = env.is_set ? REQUEST_SOURCE_ENV : REQUEST_SOURCE_LEGACY;
        r->is_gpu_container = true;
        return devices_set(c, &env, kind);
}

/* ---- IMEX channels --------------------------------------------------------------------------- */

static int imex_set(struct ctx *c, const struct list *l) {
        for (size_t i = 0; i < l->n; i++) {
                const struct item *it = &l->v[i];
                unsigned long v = 0;

                if (!value_is_number(it->p, it->len, 7))
                        return bad_value(c->err, it->origin, it->value,
                                         "'%s' is not an IMEX channel number",
                                         quote_n(it->p, it->len).s);
                for (size_t j = 0; j < it->len; j++)
                        v = v * 10 + (unsigned long) (it->p[j] - '0');
                if (v >= REQUEST_IMEX_CHANNEL_MAX)
                        return bad_value(c->err, it->origin, it->value,
                                         "channel %lu is out of range (0 to %u)", v,
                                         REQUEST_IMEX_CHANNEL_MAX - 1);
                if (c->r->n_imex >= REQUEST_IMEX_MAX)
                        return bad_value(c->err, it->origin, it->value, "more than %d channels",
                                         REQUEST_IMEX_MAX);
                c->r->imex[c->r->n_imex++] = (unsigned) v;
        }
        return 0;
}

int container_request_add_imex(struct container_request *q, const char *origin, const char *value,
                               struct nctk_error **err) {
        struct ctx c = {.r = q, .err = err};
        struct list l = {};
        int r = list_add_value(&l, origin, value, err);

        if (r >= 0 && list_kind(&l, false) == LIST_ITEMS)
                r = imex_set(&c, &l);
        free(l.v);
        return r;
}

/* NVIDIA_IMEX_CHANNELS, with the device list's rules; "all" (also a legacy image's default) is
 * ignored, as the reference does: channels are granted one by one. */
static int imex_compute(struct ctx *c) {
        _cleanup_free_ struct item *items = NULL;
        struct list env = {};
        const char *v;
        int r;

        if (c->cfg->features.ignore_imex_channel_requests)
                return 0;
        if (c->mount_imex.n > 0)
                return imex_set(c, &c->mount_imex);
        v = env_get(c, "NVIDIA_IMEX_CHANNELS");
        r = v ? list_add_value(&env, "NVIDIA_IMEX_CHANNELS", v, c->err) : 0;
        items = env.v;
        if (r < 0 || list_kind(&env, c->r->is_legacy) != LIST_ITEMS)
                return r;
        if (!c->r->is_privileged && !c->cfg->accept_envvar_when_unprivileged) {
                c->r->envvar_request_ignored = true;
                return 0;
        }
        return imex_set(c, &env);
}

/* ---- capabilities ---------------------------------------------------------------------------- */

static unsigned cap_lookup(const char *s, size_t len) {
        for (size_t i = 0; i < ELEMENTSOF(cap_table); i++)
                if (strlen(cap_table[i].name) == len && memcmp(cap_table[i].name, s, len) == 0)
                        return cap_table[i].bit;
        return 0;
}

/* The names of MASK, comma-separated, into BUF. */
static const char *caps_names(unsigned mask, char *buf, size_t size) {
        size_t o = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(cap_table); i++)
                if ((mask & cap_table[i].bit) && o < size)
                        o += (size_t) snprintf(buf + o, size - o, "%s%s", o ? "," : "",
                                               cap_table[i].name);
        return buf;
}

/* Parses a capability list: *RET_MASK gets its bits, or ALL_MASK when it names "all". An
 * unknown word, or one outside ALLOWED, is -EINVAL with the word in *RET_BAD and *RET_BAD_LEN. */
static int caps_parse(const char *s, unsigned allowed, unsigned all_mask, unsigned *ret_mask,
                      const char **ret_bad, size_t *ret_bad_len) {
        unsigned mask = 0;
        const char *p = s;

        for (const char *q = s; *q;) {
                const char *b = q, *e = q + strcspn(q, ",");

                q = *e ? e + 1 : e;
                trim(&b, &e);
                if ((size_t) (e - b) == 3 && memcmp(b, "all", 3) == 0) {
                        *ret_mask = all_mask;
                        return 0;
                }
        }
        while (*p) {
                const char *b = p, *e = p + strcspn(p, ",");
                unsigned bit;

                p = *e ? e + 1 : e;
                trim(&b, &e);
                if (b == e)
                        continue;
                bit = cap_lookup(b, (size_t) (e - b));
                if (!(bit & allowed)) {
                        *ret_bad = b;
                        *ret_bad_len = (size_t) (e - b);
                        return -EINVAL;
                }
                mask |= bit;
        }
        *ret_mask = mask;
        return 0;
}

static int supported_caps(struct ctx *c) {
        const char *s = c->cfg->supported_driver_capabilities;
        const char *bad;
        size_t bad_len;

        if (!s) {
                c->supported = CAPS_SUPPORTED_ALL;
                return 0;
        }
        if (caps_parse(s, CAPS_SUPPORTED_ALL, CAPS_SUPPORTED_ALL, &c->supported, &bad, &bad_len) <
            0)
                return bad_value(c->err, "supported-driver-capabilities", s,
                                 "'%s' is not a driver capability (known: compat32, compute, "
                                 "display, graphics, ngx, utility, video, all)",
                                 quote_n(bad, bad_len).s);
        return 0;
}

/* NVIDIA_DRIVER_CAPABILITIES: unset or empty means utility,compute (all supported for a legacy
 * image when unset); "all" means all supported; any other name must be supported. */
static int caps_compute(struct ctx *c) {
        const char *v = env_get(c, "NVIDIA_DRIVER_CAPABILITIES");
        unsigned mask = c->supported & CAPS_DEFAULT;
        char names[128];
        const char *bad;
        size_t bad_len;

        if (!v && c->r->is_legacy)
                mask = c->supported;
        else if (v && *v) {
                if (strlen(v) > REQUEST_VALUE_MAX)
                        return bad_value(c->err, "NVIDIA_DRIVER_CAPABILITIES", v,
                                         "longer than %d bytes", REQUEST_VALUE_MAX);
                if (caps_parse(v, c->supported, c->supported, &mask, &bad, &bad_len) < 0)
                        return bad_value(c->err, "NVIDIA_DRIVER_CAPABILITIES", v,
                                         "'%s' is not a supported driver capability "
                                         "(supported: %s)",
                                         quote_n(bad, bad_len).s,
                                         caps_names(c->supported, names, sizeof(names)));
        }
        c->r->caps = mask & NCTK_CAP_ALL;
        c->r->compat32 = (mask & CAP_COMPAT32) != 0;
        return 0;
}

/* ---- requirements ---------------------------------------------------------------------------- */

int container_request_add_requirement(struct container_request *q, const char *expr) {
        if (q->n_requirements >= REQUEST_REQUIRE_MAX)
                return -E2BIG;
        if (!q->requirements)
                q->requirements = calloc(REQUEST_REQUIRE_MAX + 1, sizeof(char *));
        if (!q->requirements || !(q->requirements[q->n_requirements] = strdup(expr)))
                return -ENOMEM;
        q->n_requirements++;
        return 0;
}

static int require_add(struct ctx *c, char *expr) {
        int r = expr ? container_request_add_requirement(c->r, expr) : -ENOMEM;

        free(expr);
        if (r == -E2BIG)
                return nctk_error_set(c->err, EINVAL,
                                      "too many NVIDIA_REQUIRE_* variables (at "
                                      "most %d)",
                                      REQUEST_REQUIRE_MAX);
        return r < 0 ? oom(c->err) : 0;
}

static int env_var_cmp(const void *a, const void *b) {
        const struct env_var *x = a, *y = b;
        int r = memcmp(x->name, y->name, MIN_SIZE(x->name_len, y->name_len));

        return r ? r : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* The NVIDIA_REQUIRE_* variables but NVIDIA_REQUIRE_JETPACK*, each once (its last value), by
 * name. */
static int require_vars(const struct ctx *c, struct env_var *vars, size_t *n) {
        static const char prefix[] = "NVIDIA_REQUIRE_", jetpack[] = "NVIDIA_REQUIRE_JETPACK";

        *n = 0;
        for (size_t i = c->n_env; i-- > 0;) {
                const struct env_var *v = &c->env[i];
                bool seen = false;

                if (v->name_len < sizeof(prefix) - 1 ||
                    memcmp(v->name, prefix, sizeof(prefix) - 1) != 0 ||
                    (v->name_len >= sizeof(jetpack) - 1 &&
                     memcmp(v->name, jetpack, sizeof(jetpack) - 1) == 0))
                        continue;
                for (size_t j = 0; j < *n && !seen; j++)
                        seen = env_var_cmp(&vars[j], v) == 0;
                if (seen)
                        continue;
                if (*n >= REQUEST_REQUIRE_MAX)
                        return nctk_error_set(c->err, EINVAL,
                                              "too many NVIDIA_REQUIRE_* variables "
                                              "(at most %d)",
                                              REQUEST_REQUIRE_MAX);
                vars[(*n)++] = *v;
        }
        if (*n > 1)
                qsort(vars, *n, sizeof(*vars), env_var_cmp);
        return 0;
}

static int require_one(struct ctx *c, const struct env_var *v) {
        struct nctk_error *e = NULL;
        int r;

        if (!*v->value)
                return 0;
        r = require_validate(v->value, &e);
        if (r < 0) {
                /* its message quotes the expression; the name is the image's too */
                r = nctk_error_set(c->err, EINVAL, "%s: %s", quote_n(v->name, v->name_len).s,
                                   e && e->msg ? e->msg : "invalid requirement");
                nctk_error_free(&e);
                return r;
        }
        return require_add(c, strdup(v->value));
}

static int requirements_compute(struct ctx *c) {
        struct env_var vars[REQUEST_REQUIRE_MAX];
        const char *disable = env_get(c, "NVIDIA_DISABLE_REQUIRE");
        bool off = false;
        size_t n;
        int r;

        if (c->cfg->disable_require || (disable && parse_go_bool(disable, &off) == 0 && off)) {
                c->r->requirements_disabled = true;
                return 0;
        }
        r = require_vars(c, vars, &n);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = require_one(c, &vars[i]);
        if (r >= 0 && c->r->is_legacy) {
                const char *cuda = env_get(c, "CUDA_VERSION");
                unsigned long major, minor;
                char *expr;

                if (cuda_version_parse(cuda, &major, &minor) < 0)
                        return bad_value(c->err, "CUDA_VERSION", cuda,
                                         "not a version "
                                         "(MAJOR[.MINOR[.PATCH]])");
                if (asprintf(&expr, "cuda>=%lu.%lu", major, minor) < 0)
                        expr = NULL;
                r = require_add(c, expr);
        }
        return r;
}

/* ---- MIG ------------------------------------------------------------------------------------- */

static int mig_get(struct ctx *c, const char *name, char **ret) {
        const char *v = env_get(c, name);

        if (!v || !*v)
                return 0;
        if (!c->r->is_privileged)
                return nctk_error_set(c->err, EPERM,
                                      "%s is honoured only in privileged "
                                      "containers (CAP_SYS_ADMIN in the bounding set): unset it "
                                      "or run the container privileged",
                                      name);
        if (strlen(v) > MIG_VALUE_MAX || !value_span(v, strlen(v), VALUE_ALNUM ",:-_./"))
                return bad_value(c->err, name, v, "not a device list");
        *ret = strdup(v);
        return *ret ? 0 : oom(c->err);
}

/* ---- the whole request ----------------------------------------------------------------------- */

struct container_request *container_request_new(void) {
        struct container_request *r = calloc(1, sizeof(*r));

        if (r)
                r->compat = COMPAT_MOUNT;
        return r;
}

enum compat_mode request_compat_mode(const struct nctk_config *cfg, bool cdi_mode) {
        const char *m =
                cfg->runtime.legacy_cuda_compat_mode ? cfg->runtime.legacy_cuda_compat_mode : "";

        if (cdi_mode)
                return cfg->features.disable_cuda_compat_lib_hook || STREQ(m, "disabled")
                               ? COMPAT_DISABLED
                               : COMPAT_MOUNT;
        if (STREQ(m, "ldconfig"))
                return COMPAT_LDCONFIG;
        if (STREQ(m, "mount"))
                return COMPAT_MOUNT;
        if (STREQ(m, "disabled") || STREQ(m, "hook"))
                return COMPAT_DISABLED;
        return cfg->features.allow_cuda_compat_libs_from_container ? COMPAT_MOUNT : COMPAT_DISABLED;
}

struct container_request *container_request_free(struct container_request *r) {
        if (!r)
                return NULL;
        free(r->devices);
        for (size_t i = 0; i < r->n_requirements; i++)
                free(r->requirements[i]);
        free(r->requirements);
        free(r->mig_config);
        free(r->mig_monitor);
        free(r);
        return NULL;
}

static void ctx_release(struct ctx *c) {
        free(c->env);
        free(c->mount_devs.v);
        free(c->mount_imex.v);
        free(c->annotation_devs.v);
        for (size_t i = 0; i < c->n_owned; i++)
                free(c->owned[i]);
        free(c->owned);
        container_request_free(c->r);
}

/* The feature gates: only the exact word counts, so "true" or "1" enable nothing, as in the
 * reference, and an image cannot be refused for a value it never meant as a request. */
static unsigned gates_compute(const struct ctx *c) {
        static const struct {
                const char *name;
                enum nctk_gate gate;
        } vars[] = {
                {"NVIDIA_NVSWITCH", NCTK_GATE_NVSWITCH},
                {"NVIDIA_GDRCOPY", NCTK_GATE_GDRCOPY},
                {"NVIDIA_GDS", NCTK_GATE_GDS},
                {"NVIDIA_MOFED", NCTK_GATE_MOFED},
        };
        unsigned gates = 0;

        for (size_t i = 0; i < ELEMENTSOF(vars); i++) {
                const char *v = env_get(c, vars[i].name);
                if (v && STREQ(v, "enabled"))
                        gates |= vars[i].gate;
        }
        return gates;
}

static int request_compute(struct ctx *c) {
        const char *cuda, *require_cuda;
        int r;

        r = supported_caps(c);
        if (r >= 0)
                r = env_parse(c);
        if (r >= 0 && c->cfg->accept_volume_mounts)
                r = mounts_collect(c);
        if (r >= 0 && c->is_cdi_mode)
                r = annotations_collect(c);
        if (r < 0)
                return r;
        cuda = env_get(c, "CUDA_VERSION");
        require_cuda = env_get(c, "NVIDIA_REQUIRE_CUDA");
        c->r->is_privileged = oci_spec_is_privileged(c->spec);
        c->r->is_legacy = cuda && *cuda && (!require_cuda || !*require_cuda);
        r = devices_compute(c);
        if (r < 0 || !c->r->is_gpu_container)
                return r;
        const char *mps = env_get(c, "NVIDIA_MPS");
        c->r->mps_disabled = mps && STREQ(mps, "disabled");
        c->r->gates = gates_compute(c);
        r = mig_get(c, "NVIDIA_MIG_CONFIG_DEVICES", &c->r->mig_config);
        if (r >= 0)
                r = mig_get(c, "NVIDIA_MIG_MONITOR_DEVICES", &c->r->mig_monitor);
        if (r >= 0)
                r = imex_compute(c);
        if (r >= 0)
                r = caps_compute(c);
        if (r >= 0)
                r = requirements_compute(c);
        return r;
}

int container_request_from_spec(const json_t *spec, const struct nctk_config *cfg,
                                struct container_request **ret, struct nctk_error **err) {
        return container_request_from_spec_in_mode(spec, cfg, false, ret, err);
}

int container_request_from_spec_in_mode(const json_t *spec, const struct nctk_config *cfg,
                                        bool is_cdi_mode, struct container_request **ret,
                                        struct nctk_error **err) {
        struct ctx c = {.spec = spec, .cfg = cfg, .err = err, .is_cdi_mode = is_cdi_mode};
        int r;

        if (!json_is_object(spec)) {
                r = nctk_error_set(err, EINVAL, "invalid OCI spec: not a JSON object");
        } else if (!(c.r = container_request_new())) {
                r = oom(err);
        } else {
                r = request_compute(&c);
                if (r >= 0 && !c.r->is_gpu_container) {
                        free(c.r->devices);
                        c.r->devices = NULL;
                }
                c.r->compat = request_compat_mode(cfg, false);
                if (r >= 0)
                        *ret = TAKE_PTR(c.r);
        }
        ctx_release(&c);
        return r;
}
