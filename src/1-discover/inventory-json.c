/* The inventory as JSON (info --json; the reference has none): for scripts, and for every
 * front-end that reports what the host has. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>

#include "1-discover/discover.h"
#include "util/macros.h"

static json_t *mig_json(const struct nctk_mig *m) {
        return json_pack("{s:I,s:I,s:I,s:s,s:s,s:s,s:i,s:i}", "index", (json_int_t) m->index, "gi",
                         (json_int_t) m->gi, "ci", (json_int_t) m->ci, "uuid", m->uuid, "gi_caps",
                         m->gi_caps, "ci_caps", m->ci_caps, "gi_caps_minor", m->gi_caps_minor,
                         "ci_caps_minor", m->ci_caps_minor);
}

static json_t *gpu_json(const struct nctk_gpu *g) {
        json_t *migs = json_array();
        char arch[16] = "";

        if (!migs)
                return NULL;
        for (size_t j = 0; j < g->n_migs; j++)
                if (json_array_append_new(migs, mig_json(&g->migs[j])) < 0) {
                        json_decref(migs);
                        return NULL;
                }
        if (g->cc_major > 0)
                snprintf(arch, sizeof(arch), "%d.%d", g->cc_major, g->cc_minor);
        return json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:o}", "index",
                         (json_int_t) g->index, "minor", (json_int_t) g->minor, "uuid", g->uuid,
                         "bus_id", g->busid, "model", g->model, "brand", g->brand, "architecture",
                         arch, "architecture_name", g->arch_name, "mig_capable", g->mig_capable,
                         "mig_enabled", g->mig_enabled, "mig_devices", migs);
}

static json_t *files_json(const struct nctk_file *f, size_t n) {
        json_t *arr = json_array();

        for (size_t i = 0; arr && i < n; i++) {
                json_t *caps = json_array();
                for (unsigned bit = 1; caps && bit < NCTK_CAP_ALL; bit <<= 1)
                        if (f[i].caps & bit)
                                json_array_append_new(caps, json_string(nctk_cap_name(bit)));
                if (json_array_append_new(arr, json_pack("{s:s,s:s?,s:o,s:b}", "path", f[i].path,
                                                         "soname", f[i].soname, "capabilities",
                                                         caps, "32bit", f[i].is_32bit)) < 0) {
                        json_decref(arr);
                        return NULL;
                }
        }
        return arr;
}

static json_t *nodes_json(const struct nctk_inventory *inv) {
        json_t *arr = json_array();

        for (size_t i = 0; arr && i < inv->n_nodes; i++) {
                const struct nctk_node *n = &inv->nodes[i];
                if (json_array_append_new(arr, json_pack("{s:s,s:I,s:I,s:b}", "path", n->path,
                                                         "major", (json_int_t) n->major, "minor",
                                                         (json_int_t) n->minor, "exists",
                                                         n->exists)) < 0) {
                        json_decref(arr);
                        return NULL;
                }
        }
        return arr;
}

json_t *inventory_json(const struct nctk_inventory *inv) {
        json_t *gpus = json_array();

        for (size_t i = 0; gpus && i < inv->n_gpus; i++)
                if (json_array_append_new(gpus, gpu_json(&inv->gpus[i])) < 0) {
                        json_decref(gpus);
                        return NULL;
                }
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "driver_root",
                         inv->driver_root, "dev_root", inv->dev_root, "proc_root", inv->proc_root,
                         "driver_version", inv->driver_version, "cuda_version", inv->cuda_version,
                         "nvml", inv->nvml_loaded, "gpus", gpus, "device_nodes", nodes_json(inv),
                         "libraries", files_json(inv->libs, inv->n_libs), "binaries",
                         files_json(inv->bins, inv->n_bins), "ipcs",
                         files_json(inv->ipcs, inv->n_ipcs), "firmwares",
                         files_json(inv->firmware, inv->n_firmware), "configs",
                         files_json(inv->configs, inv->n_configs));
}
