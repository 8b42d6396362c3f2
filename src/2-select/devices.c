/* Device selection: turns a device list (NVIDIA_VISIBLE_DEVICES, --device) into the set of GPUs
 * and MIG devices it names. The list comes from images and users, so every item is validated and
 * an unknown one is an error that names it, never a silent "no GPU". */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "2-select/select.h"
#include "util/macros.h"
#include "util/strv.h"

#define DEVICE_ITEM_MAX 128

static int selection_alloc(const struct nctk_inventory *inv, struct selection *s) {
        memset(s, 0, sizeof(*s));
        s->n_gpus = inv->n_gpus;
        s->gpus = calloc(inv->n_gpus + 1, sizeof(bool));
        s->has_mig = calloc(inv->n_gpus + 1, sizeof(bool));
        s->migs = calloc(inv->n_gpus + 1, sizeof(bool *));
        if (!s->gpus || !s->has_mig || !s->migs)
                return -ENOMEM;
        for (size_t i = 0; i < inv->n_gpus; i++) {
                s->migs[i] = calloc(inv->gpus[i].n_migs + 1, sizeof(bool));
                if (!s->migs[i])
                        return -ENOMEM;
        }
        return 0;
}

void selection_release(struct selection *s) {
        for (size_t i = 0; s->migs && i < s->n_gpus; i++)
                free(s->migs[i]);
        free(s->migs);
        free(s->gpus);
        free(s->has_mig);
        memset(s, 0, sizeof(*s));
}

bool selection_any(const struct selection *s) {
        for (size_t i = 0; i < s->n_gpus; i++)
                if (s->gpus[i] || s->has_mig[i])
                        return true;
        return false;
}

static void select_mig(struct selection *s, size_t gpu, size_t mig) {
        s->migs[gpu][mig] = true;
        s->has_mig[gpu] = true;
}

static void select_all(const struct nctk_inventory *inv, struct selection *s) {
        s->all = true;
        for (size_t i = 0; i < inv->n_gpus; i++) {
                s->gpus[i] = true;
                for (size_t j = 0; j < inv->gpus[i].n_migs; j++)
                        select_mig(s, i, j);
        }
}

/* A decimal index without sign or junk; -1 otherwise. */
static long parse_index(const char *s) {
        char *end;
        long v;

        if (!isdigit((unsigned char) s[0]))
                return -1;
        errno = 0;
        v = strtol(s, &end, 10);
        return (*end || errno || v > 1000000) ? -1 : v;
}

/* "dddd:bb:dd.f" with optional leading zeros, normalised to NVML's "%08x:%02x:%02x.0". */
static bool parse_busid(const char *s, char out[NCTK_BUSID_MAX]) {
        unsigned domain, bus, dev, fn;
        int n = 0;

        if (sscanf(s, "%x:%x:%x.%x%n", &domain, &bus, &dev, &fn, &n) != 4 || s[n] || bus > 0xff ||
            dev > 0x1f || fn != 0)
                return false;
        snprintf(out, NCTK_BUSID_MAX, "%08x:%02x:%02x.0", domain, bus, dev);
        return true;
}

static int select_by_uuid(const struct nctk_inventory *inv, struct selection *s, const char *id) {
        for (size_t i = 0; i < inv->n_gpus; i++) {
                if (strcasecmp(inv->gpus[i].uuid, id) == 0) {
                        s->gpus[i] = true;
                        return 0;
                }
                for (size_t j = 0; j < inv->gpus[i].n_migs; j++)
                        if (strcasecmp(inv->gpus[i].migs[j].uuid, id) == 0) {
                                select_mig(s, i, j);
                                return 0;
                        }
        }
        return -ENOENT;
}

static int select_by_busid(const struct nctk_inventory *inv, struct selection *s, const char *id) {
        char want[NCTK_BUSID_MAX];

        if (!parse_busid(id, want))
                return -ENOENT;
        for (size_t i = 0; i < inv->n_gpus; i++)
                if (strcasecmp(inv->gpus[i].busid, want) == 0) {
                        s->gpus[i] = true;
                        return 0;
                }
        return -ENOENT;
}

/* "<gpu index>:<mig index>" */
static int select_by_mig_index(const struct nctk_inventory *inv, struct selection *s,
                               const char *id) {
        char buf[DEVICE_ITEM_MAX];
        char *colon;
        long g, m;

        strscpy(buf, sizeof(buf), id);
        colon = strchr(buf, ':');
        if (!colon)
                return -ENOENT;
        *colon = '\0';
        g = parse_index(buf);
        m = parse_index(colon + 1);
        if (g < 0 || m < 0 || (size_t) g >= inv->n_gpus)
                return -ENOENT;
        for (size_t j = 0; j < inv->gpus[g].n_migs; j++)
                if (inv->gpus[g].migs[j].index == (unsigned) m) {
                        select_mig(s, (size_t) g, j);
                        return 0;
                }
        return -ENOENT;
}

static int select_item(const struct nctk_inventory *inv, struct selection *s, const char *id) {
        long idx;

        if (STREQ(id, "all")) {
                select_all(inv, s);
                return 0;
        }
        idx = parse_index(id);
        if (idx >= 0) {
                if ((size_t) idx >= inv->n_gpus)
                        return -ENOENT;
                s->gpus[idx] = true;
                return 0;
        }
        if (strncasecmp(id, "GPU-", 4) == 0 || strncasecmp(id, "MIG-", 4) == 0)
                return select_by_uuid(inv, s, id);
        if (select_by_busid(inv, s, id) == 0)
                return 0;
        return select_by_mig_index(inv, s, id);
}

static int unknown_device(const struct nctk_inventory *inv, const char *id,
                          struct nctk_error **err) {
        if (inv->n_gpus == 0)
                return nctk_error_set(err, EINVAL, "unknown device '%s': this host has no GPUs",
                                      id);
        /* Drivers renamed MIG devices; requests written for the old names fail here. */
        if (strncasecmp(id, "MIG-GPU-", 8) == 0)
                return nctk_error_set(err, EINVAL,
                                      "unknown device '%s': the MIG-GPU-<uuid>/GI/CI name is "
                                      "not used by current drivers; use the MIG device's UUID "
                                      "(MIG-..., as 'nvidia-smi -L' prints it) or GPU:MIG "
                                      "indexes (0:0)",
                                      id);
        return nctk_error_set(err, EINVAL,
                              "unknown device '%s' (this host has GPUs 0 to %zu; use an index, a "
                              "UUID, a PCI bus id, 'all' or 'none')",
                              id, inv->n_gpus - 1);
}

int selection_parse(const struct nctk_inventory *inv, const char *spec, struct selection *ret,
                    struct nctk_error **err) {
        struct selection s;
        const char *p = spec ? spec : "";
        int r;

        r = selection_alloc(inv, &s);
        if (r < 0) {
                selection_release(&s);
                return nctk_error_set(err, ENOMEM, "out of memory");
        }
        if (STREQ(p, "none") || STREQ(p, "void")) {
                *ret = s;
                return 0;
        }
        while (*p) {
                size_t len = strcspn(p, ",");
                char item[DEVICE_ITEM_MAX];

                if (len >= sizeof(item)) {
                        selection_release(&s);
                        return nctk_error_set(err, EINVAL, "device id too long: '%.32s...'", p);
                }
                memcpy(item, p, len);
                item[len] = '\0';
                p += len + (p[len] == ',');
                if (!*strstrip(item))
                        continue;
                if (select_item(inv, &s, strstrip(item)) < 0) {
                        selection_release(&s);
                        return unknown_device(inv, strstrip(item), err);
                }
        }
        *ret = s;
        return 0;
}
