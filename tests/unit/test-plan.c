/* The planner: a hand-built inventory (driver under /drv, two GPUs whose minors are not their
 * indices, two MIG devices on GPU 1) against a set of requests, asserting the exact mounts,
 * nodes, links, cgroup rules, ld cache directories and /proc mask that come out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "2-select/select.h"
#include "4-plan/plan.h"
#include "unit-tap.h"
#include "util/macros.h"

#define VER "580.159.04"
#define LIBDIR "/usr/lib/x86_64-linux-gnu"
#define LIBDIR32 "/usr/lib/i386-linux-gnu"
#define BINDIR "/usr/bin"
#define MIGCAPS "/proc/driver/nvidia/capabilities/gpu0/mig"
#define SOCKET "/run/nvidia-persistenced/socket"
#define FIRMWARE "/lib/firmware/nvidia/" VER "/gsp_ga10x.bin"
#define EGL_CONFIG "/usr/share/glvnd/egl_vendor.d/10_nvidia.json"
#define MISSING "/dev/nvidia-caps-imex-channels/channel0" /* exists == false */

#define LIB_FLAGS (MOUNT_RDONLY | MOUNT_NOSUID | MOUNT_NODEV)
#define IPC_FLAGS (MOUNT_NOSUID | MOUNT_NODEV | MOUNT_NOEXEC)
#define PROC_FLAGS (MOUNT_RDONLY | MOUNT_NOSUID | MOUNT_NODEV | MOUNT_NOEXEC)

#define CU NCTK_CAP_COMPUTE
#define UT NCTK_CAP_UTILITY

/* ---- the inventory ----------------------------------------------------------------------------
 */

static struct nctk_mig migs[] = {
        {.index = 0,
         .gi = 7,
         .ci = 0,
         .uuid = "MIG-11111111-2222-3333-4444-555555555555",
         .gi_caps = MIGCAPS "/gi7/access",
         .ci_caps = MIGCAPS "/gi7/ci0/access",
         .gi_caps_minor = 66,
         .ci_caps_minor = 67},
        {.index = 1,
         .gi = 8,
         .ci = 0,
         .uuid = "MIG-66666666-7777-8888-9999-aaaaaaaaaaaa",
         .gi_caps = MIGCAPS "/gi8/access",
         .ci_caps = MIGCAPS "/gi8/ci0/access",
         .gi_caps_minor = 75,
         .ci_caps_minor = 76},
};

static struct nctk_gpu gpus[] = {
        {.index = 0,
         .minor = 1,
         .uuid = "GPU-aaaaaaaa-0000-0000-0000-000000000000",
         .busid = "00000000:10:00.0",
         .model = "NVIDIA H100"},
        {.index = 1,
         .minor = 0,
         .uuid = "GPU-bbbbbbbb-0000-0000-0000-000000000000",
         .busid = "00000000:22:00.0",
         .model = "NVIDIA H100",
         .mig_capable = true,
         .mig_enabled = true,
         .n_migs = ELEMENTSOF(migs),
         .migs = migs},
};

static struct nctk_node nodes[] = {
        {NCTK_NODE_CTL, "/dev/nvidiactl", 195, 255, true},
        {NCTK_NODE_UVM, "/dev/nvidia-uvm", 510, 0, true},
        {NCTK_NODE_UVM_TOOLS, "/dev/nvidia-uvm-tools", 510, 1, true},
        {NCTK_NODE_MODESET, "/dev/nvidia-modeset", 195, 254, true},
        {NCTK_NODE_GPU, "/dev/nvidia1", 195, 1, true},
        {NCTK_NODE_GPU, "/dev/nvidia0", 195, 0, true},
        {NCTK_NODE_CAP, "/dev/nvidia-caps/nvidia-cap66", 511, 66, true},
        {NCTK_NODE_CAP, "/dev/nvidia-caps/nvidia-cap67", 511, 67, true},
        {NCTK_NODE_CAP, "/dev/nvidia-caps/nvidia-cap75", 511, 75, true},
        {NCTK_NODE_CAP, "/dev/nvidia-caps/nvidia-cap76", 511, 76, true},
        {NCTK_NODE_IMEX, MISSING, 509, 0, false},
};

#define LIB(name, soname, caps)                                                                    \
        { LIBDIR "/" name ".so." VER, soname, caps, false }
static struct nctk_file libs[] = {
        LIB("libnvidia-ml", "libnvidia-ml.so.1", UT),
        LIB("libcuda", "libcuda.so.1", CU),
        LIB("libnvcuvid", "libnvcuvid.so.1", NCTK_CAP_VIDEO),
        LIB("libnvidia-glcore", "libnvidia-glcore.so." VER, NCTK_CAP_GRAPHICS),
        LIB("libGLX_nvidia", "libGLX_nvidia.so.0", NCTK_CAP_GRAPHICS),
        LIB("libnvidia-opticalflow", "libnvidia-opticalflow.so.1", NCTK_CAP_VIDEO),
        {LIBDIR32 "/libcuda.so." VER, "libcuda.so.1", CU, true},
};
static struct nctk_file bins[] = {
        {BINDIR "/nvidia-smi", NULL, UT, false},
        {BINDIR "/nvidia-cuda-mps-control", NULL, CU, false},
};
static struct nctk_file ipcs[] = {{SOCKET, NULL, UT, false}};
static struct nctk_file firmware[] = {{FIRMWARE, NULL, NCTK_CAP_ALL, false}};
static struct nctk_file configs[] = {{EGL_CONFIG, NULL, NCTK_CAP_GRAPHICS, false}};

static const struct nctk_inventory inv = {
        .driver_root = "/drv",
        .dev_root = "/",
        .proc_root = "/proc",
        .driver_version = VER,
        .cuda_version = "13.0",
        .nvml_loaded = true,
        .majors = {.nvidia = 195, .uvm = 510, .modeset = 195, .caps = 511, .caps_imex = 509},
        .mig_config_minor = -1,
        .mig_monitor_minor = -1,
        .n_gpus = ELEMENTSOF(gpus),
        .gpus = gpus,
        .n_nodes = ELEMENTSOF(nodes),
        .nodes = nodes,
        .n_libs = ELEMENTSOF(libs),
        .libs = libs,
        .n_bins = ELEMENTSOF(bins),
        .bins = bins,
        .n_ipcs = ELEMENTSOF(ipcs),
        .ipcs = ipcs,
        .n_firmware = ELEMENTSOF(firmware),
        .firmware = firmware,
        .n_configs = ELEMENTSOF(configs),
        .configs = configs,
};

static struct container_facts facts = {.layout = {LIBDIR, LIBDIR32, BINDIR}};

/* ---- lookups -----------------------------------------------------------------------------------
 */

static const struct edit_mount *has_mount(const struct edits *e, const char *target) {
        for (size_t i = 0; i < e->n_mounts; i++)
                if (STREQ(e->mounts[i].target, target))
                        return &e->mounts[i];
        return NULL;
}

static const struct edit_node *has_node(const struct edits *e, const char *target) {
        for (size_t i = 0; i < e->n_nodes; i++)
                if (STREQ(e->nodes[i].target, target))
                        return &e->nodes[i];
        return NULL;
}

static const struct edit_link *has_link(const struct edits *e, const char *path) {
        for (size_t i = 0; i < e->n_links; i++)
                if (STREQ(e->links[i].path, path))
                        return &e->links[i];
        return NULL;
}

static const struct edit_rule *has_rule(const struct edits *e, unsigned major, unsigned minor) {
        for (size_t i = 0; i < e->n_rules; i++)
                if (e->rules[i].major == (int) major && e->rules[i].minor == (int) minor)
                        return &e->rules[i];
        return NULL;
}

static bool has_node_dev(const struct edits *e, int major, int minor) {
        for (size_t i = 0; i < e->n_nodes; i++)
                if ((int) e->nodes[i].major == major && (int) e->nodes[i].minor == minor)
                        return true;
        return false;
}

static size_t count_mounts_under(const struct edits *e, const char *prefix) {
        size_t n = 0;

        for (size_t i = 0; i < e->n_mounts; i++)
                n += strncmp(e->mounts[i].target, prefix, strlen(prefix)) == 0;
        return n;
}

static size_t count_links_under(const struct edits *e, const char *prefix) {
        size_t n = 0;

        for (size_t i = 0; i < e->n_links; i++)
                n += strncmp(e->links[i].path, prefix, strlen(prefix)) == 0;
        return n;
}

/* ---- checks ------------------------------------------------------------------------------------
 */

static void check_mount(const struct edits *e, const char *target, const char *source,
                        unsigned flags) {
        const struct edit_mount *m = has_mount(e, target);

        assert_non_null(m);
        assert_string_equal(m->source, source);
        assert_int_equal(m->flags, flags);
}

/* A driver library at its usual name in DIR, from the same path under /drv. */
static void check_lib(const struct edits *e, const char *dir, const char *name) {
        char target[256], source[sizeof("/drv") + sizeof(target)];

        snprintf(target, sizeof(target), "%s/%s.so." VER, dir, name);
        snprintf(source, sizeof(source), "/drv%s", target);
        check_mount(e, target, source, LIB_FLAGS);
}

static void check_no_lib(const struct edits *e, const char *name) {
        char target[256];

        snprintf(target, sizeof(target), LIBDIR "/%s.so." VER, name);
        assert_null(has_mount(e, target));
}

static void check_node(const struct edits *e, const char *path, unsigned major, unsigned minor) {
        const struct edit_node *n = has_node(e, path);

        assert_non_null(n);
        assert_string_equal(n->source, path); /* the dev root is "/" */
        assert_int_equal(n->major, major);
        assert_int_equal(n->minor, minor);
        assert_int_equal(n->mode, 0666);
}

static void check_link(const struct edits *e, const char *path, const char *target) {
        const struct edit_link *l = has_link(e, path);

        assert_non_null(l);
        assert_string_equal(l->target, target);
}

/* A /proc file of the driver, bound read-only from the proc root at the same path. */
static void check_proc_mount(const struct edits *e, const char *path) {
        check_mount(e, path, path, PROC_FLAGS);
}

/* What every plan must satisfy: one cgroup rule per node and nothing else, each node once, each
 * mount target once, the missing node never, and the /proc mask on. */
static void check_common(const struct edits *e) {
        assert_null(has_node(e, MISSING));
        assert_int_equal(e->n_rules, e->n_nodes);
        for (size_t i = 0; i < e->n_nodes; i++) {
                const struct edit_rule *r = has_rule(e, e->nodes[i].major, e->nodes[i].minor);
                assert_non_null(r);
                assert_int_equal(r->type, 'c');
                assert_int_equal(r->access, 3);
                assert_true(has_node(e, e->nodes[i].target) == &e->nodes[i]);
        }
        for (size_t i = 0; i < e->n_rules; i++)
                assert_true(has_node_dev(e, e->rules[i].major, e->rules[i].minor));
        for (size_t i = 0; i < e->n_mounts; i++)
                assert_true(has_mount(e, e->mounts[i].target) == &e->mounts[i]);
        assert_true(e->mask_proc);
}

static void check_ldcache(const struct edits *e, size_t n, const char *first, const char *second) {
        assert_int_equal(e->n_ldcache_dirs, n);
        if (n > 0)
                assert_string_equal(e->ldcache_dirs[0], first);
        if (n > 1)
                assert_string_equal(e->ldcache_dirs[1], second);
}

/* ---- planning ----------------------------------------------------------------------------------
 */

/* Plans REQ with the devices DEVICES of INV (the selection lives only for the call). */
static struct edits *plan_for(const struct nctk_inventory *in, struct plan_request req,
                              const char *devices) {
        struct nctk_error *err = NULL;
        struct selection sel;
        struct edits *e = NULL;

        assert_int_equal(selection_parse(in, devices, &sel, &err), 0);
        req.sel = &sel;
        assert_int_equal(plan_build(in, &req, &facts, &e, &err), 0);
        assert_null(err);
        assert_non_null(e);
        selection_release(&sel);
        check_common(e);
        return e;
}

static struct edits *plan_caps(unsigned caps, const char *devices) {
        return plan_for(&inv, (struct plan_request){.caps = caps}, devices);
}

/* ---- tests -------------------------------------------------------------------------------------
 */

static void test_compute_utility(void **state) {
        struct edits *e = plan_caps(CU | UT, "1");

        (void) state;
        check_lib(e, LIBDIR, "libnvidia-ml");
        check_lib(e, LIBDIR, "libcuda");
        check_mount(e, BINDIR "/nvidia-smi", "/drv" BINDIR "/nvidia-smi", LIB_FLAGS);
        check_mount(e, BINDIR "/nvidia-cuda-mps-control", "/drv" BINDIR "/nvidia-cuda-mps-control",
                    LIB_FLAGS);
        check_mount(e, SOCKET, "/drv" SOCKET, IPC_FLAGS);
        check_mount(e, FIRMWARE, "/drv" FIRMWARE, LIB_FLAGS);
        assert_int_equal(e->n_mounts, 6);
        check_no_lib(e, "libnvcuvid");
        check_no_lib(e, "libnvidia-glcore");
        check_no_lib(e, "libGLX_nvidia");
        assert_null(has_mount(e, EGL_CONFIG));
        assert_int_equal(count_mounts_under(e, LIBDIR32), 0);

        check_node(e, "/dev/nvidiactl", 195, 255);
        check_node(e, "/dev/nvidia-uvm", 510, 0);
        check_node(e, "/dev/nvidia-uvm-tools", 510, 1);
        check_node(e, "/dev/nvidia0", 195, 0); /* GPU index 1 has minor 0 */
        assert_null(has_node(e, "/dev/nvidia1"));
        assert_null(has_node(e, "/dev/nvidia-modeset"));
        assert_int_equal(e->n_nodes, 4);
        assert_int_equal(e->n_rules, 4);

        check_link(e, LIBDIR "/libcuda.so.1", "libcuda.so." VER);
        check_link(e, LIBDIR "/libcuda.so", "libcuda.so.1");
        check_link(e, LIBDIR "/libnvidia-ml.so.1", "libnvidia-ml.so." VER);
        assert_int_equal(e->n_links, 3);
        check_ldcache(e, 1, LIBDIR, NULL);
        assert_true(e->mask_proc);
        assert_int_equal(e->n_proc_gpus, 1);
        assert_string_equal(e->proc_gpus[0], "0000:22:00.0");
        edits_free(e);
}

static void test_video_implies_compute(void **state) {
        struct edits *e = plan_caps(NCTK_CAP_VIDEO, "0");

        (void) state;
        check_lib(e, LIBDIR, "libcuda");
        check_lib(e, LIBDIR, "libnvcuvid");
        check_lib(e, LIBDIR, "libnvidia-opticalflow");
        check_no_lib(e, "libnvidia-ml");
        check_no_lib(e, "libGLX_nvidia");
        assert_null(has_mount(e, BINDIR "/nvidia-smi"));
        assert_non_null(has_mount(e, BINDIR "/nvidia-cuda-mps-control"));
        check_link(e, LIBDIR "/libnvidia-opticalflow.so.1", "libnvidia-opticalflow.so." VER);
        check_link(e, LIBDIR "/libnvidia-opticalflow.so", "libnvidia-opticalflow.so.1");
        check_link(e, LIBDIR "/libnvcuvid.so.1", "libnvcuvid.so." VER);
        assert_null(has_link(e, LIBDIR "/libnvcuvid.so"));
        check_node(e, "/dev/nvidia-uvm", 510, 0);
        check_node(e, "/dev/nvidia-uvm-tools", 510, 1);
        check_node(e, "/dev/nvidia1", 195, 1); /* GPU index 0 has minor 1 */
        assert_null(has_node(e, "/dev/nvidia0"));
        assert_null(has_node(e, "/dev/nvidia-modeset"));
        assert_int_equal(e->n_nodes, 4);
        assert_int_equal(e->n_proc_gpus, 1);
        assert_string_equal(e->proc_gpus[0], "0000:10:00.0");
        edits_free(e);
}

static void test_display_implies_graphics(void **state) {
        struct edits *e = plan_caps(NCTK_CAP_DISPLAY, "0");

        (void) state;
        check_lib(e, LIBDIR, "libnvidia-glcore");
        check_lib(e, LIBDIR, "libGLX_nvidia");
        check_mount(e, EGL_CONFIG, "/drv" EGL_CONFIG, LIB_FLAGS);
        check_mount(e, FIRMWARE, "/drv" FIRMWARE, LIB_FLAGS);
        assert_int_equal(e->n_mounts, 4);
        check_link(e, LIBDIR "/libGLX_nvidia.so.0", "libGLX_nvidia.so." VER);
        check_link(e, LIBDIR "/libGLX_indirect.so.0", "libGLX_nvidia.so." VER);
        assert_int_equal(e->n_links, 2); /* glcore's soname is its own name: no link */
        check_node(e, "/dev/nvidia-modeset", 195, 254);
        check_node(e, "/dev/nvidiactl", 195, 255);
        check_node(e, "/dev/nvidia1", 195, 1);
        assert_null(has_node(e, "/dev/nvidia-uvm"));
        assert_int_equal(e->n_nodes, 3);
        check_ldcache(e, 1, LIBDIR, NULL);
        edits_free(e);
}

static void test_graphics_without_display(void **state) {
        struct edits *e = plan_caps(NCTK_CAP_GRAPHICS, "0");

        (void) state;
        check_lib(e, LIBDIR, "libGLX_nvidia");
        assert_null(has_node(e, "/dev/nvidia-modeset"));
        assert_null(has_node(e, "/dev/nvidia-uvm"));
        assert_int_equal(e->n_nodes, 2);
        edits_free(e);
}

static void test_device_none(void **state) {
        struct edits *e = plan_caps(CU | UT, "none");

        (void) state;
        check_node(e, "/dev/nvidiactl", 195, 255);
        check_node(e, "/dev/nvidia-uvm", 510, 0);
        check_node(e, "/dev/nvidia-uvm-tools", 510, 1);
        assert_null(has_node(e, "/dev/nvidia0"));
        assert_null(has_node(e, "/dev/nvidia1"));
        assert_int_equal(e->n_nodes, 3);
        assert_int_equal(e->n_proc_gpus, 0);
        assert_null(e->proc_gpus);
        check_lib(e, LIBDIR, "libcuda"); /* the driver is still there */
        edits_free(e);
}

static void test_compat32(void **state) {
        struct edits *e =
                plan_for(&inv, (struct plan_request){.caps = CU | UT, .compat32 = true}, "1");

        (void) state;
        check_lib(e, LIBDIR, "libcuda");
        check_lib(e, LIBDIR32, "libcuda");
        assert_int_equal(count_mounts_under(e, LIBDIR32 "/"), 1);
        check_link(e, LIBDIR32 "/libcuda.so.1", "libcuda.so." VER);
        check_link(e, LIBDIR32 "/libcuda.so", "libcuda.so.1");
        assert_int_equal(count_links_under(e, LIBDIR32 "/"), 2);
        check_ldcache(e, 2, LIBDIR, LIBDIR32);
        edits_free(e);
}

static void test_compat32_off(void **state) {
        struct edits *e = plan_caps(CU | UT, "1");

        (void) state;
        check_lib(e, LIBDIR, "libcuda");
        assert_null(has_mount(e, LIBDIR32 "/libcuda.so." VER));
        assert_int_equal(count_mounts_under(e, LIBDIR32 "/"), 0);
        assert_int_equal(count_links_under(e, LIBDIR32 "/"), 0);
        check_ldcache(e, 1, LIBDIR, NULL);
        edits_free(e);
}

static void test_compat32_graphics_only(void **state) {
        struct edits *e = plan_for(
                &inv, (struct plan_request){.caps = NCTK_CAP_GRAPHICS, .compat32 = true}, "0");

        (void) state;
        /* no 32-bit library asks for graphics: no 32-bit directory in the ld cache */
        assert_int_equal(count_mounts_under(e, LIBDIR32 "/"), 0);
        check_ldcache(e, 1, LIBDIR, NULL);
        edits_free(e);
}

static void test_mig_device(void **state) {
        struct edits *e = plan_caps(CU | UT, "1:0");

        (void) state;
        check_node(e, "/dev/nvidia0", 195, 0); /* the parent's full node */
        assert_null(has_node(e, "/dev/nvidia1"));
        check_proc_mount(e, MIGCAPS "/gi7/access");
        check_proc_mount(e, MIGCAPS "/gi7/ci0/access");
        assert_int_equal(count_mounts_under(e, "/proc/"), 2);
        check_node(e, "/dev/nvidia-caps/nvidia-cap66", 511, 66);
        check_node(e, "/dev/nvidia-caps/nvidia-cap67", 511, 67);
        assert_non_null(has_rule(e, 511, 66));
        assert_non_null(has_rule(e, 511, 67));
        assert_null(has_node(e, "/dev/nvidia-caps/nvidia-cap75"));
        assert_null(has_node(e, "/dev/nvidia-caps/nvidia-cap76"));
        assert_null(has_rule(e, 511, 75));
        assert_null(has_rule(e, 511, 76));
        assert_null(has_mount(e, MIGCAPS "/gi8/access"));
        assert_int_equal(e->n_nodes, 6);
        assert_int_equal(e->n_proc_gpus, 1);
        assert_string_equal(e->proc_gpus[0], "0000:22:00.0");
        edits_free(e);
}

/* MIG config/monitor "all": the parent's whole MIG tree and the global file, every instance's
 * cap node, and no per-instance access mounts. */
static void check_mig_global(const struct edits *e, const char *file) {
        char path[96];

        check_node(e, "/dev/nvidia0", 195, 0);
        snprintf(path, sizeof(path), "/proc/driver/nvidia/capabilities/mig/%s", file);
        check_proc_mount(e, path);
        check_proc_mount(e, "/proc/driver/nvidia/capabilities/gpu0/mig");
        assert_int_equal(count_mounts_under(e, "/proc/"), 2);
        assert_null(has_mount(e, MIGCAPS "/gi7/access"));
        for (unsigned m = 0; m < 4; m++) {
                static const unsigned minors[] = {66, 67, 75, 76};
                snprintf(path, sizeof(path), "/dev/nvidia-caps/nvidia-cap%u", minors[m]);
                check_node(e, path, 511, minors[m]);
        }
        assert_int_equal(e->n_nodes, 8);
}

static void test_mig_config_skips_access(void **state) {
        struct edits *e =
                plan_for(&inv, (struct plan_request){.caps = CU | UT, .mig_config = true}, "1:0");

        (void) state;
        check_mig_global(e, "config");
        edits_free(e);
        e = plan_for(&inv, (struct plan_request){.caps = CU | UT, .mig_monitor = true}, "1:0");
        check_mig_global(e, "monitor");
        edits_free(e);
}

static void test_all_devices(void **state) {
        struct edits *e = plan_caps(UT, "all");

        (void) state;
        check_node(e, "/dev/nvidia0", 195, 0);
        check_node(e, "/dev/nvidia1", 195, 1);
        check_node(e, "/dev/nvidia-caps/nvidia-cap75", 511, 75);
        check_node(e, "/dev/nvidia-caps/nvidia-cap76", 511, 76);
        check_proc_mount(e, MIGCAPS "/gi8/ci0/access");
        assert_int_equal(count_mounts_under(e, "/proc/"), 4);
        assert_int_equal(e->n_nodes, 7);
        assert_int_equal(e->n_proc_gpus, 2);
        assert_string_equal(e->proc_gpus[0], "0000:10:00.0");
        assert_string_equal(e->proc_gpus[1], "0000:22:00.0");
        edits_free(e);
}

static void test_missing_node_never_planned(void **state) {
        static const unsigned channels[] = {0};
        struct edits *e = plan_for(
                &inv, (struct plan_request){.caps = NCTK_CAP_ALL, .n_imex = 1, .imex = channels},
                "all");

        (void) state;
        assert_null(has_node(e, MISSING));
        assert_null(has_rule(e, 509, 0));
        assert_int_equal(e->n_nodes, 10); /* every node but the missing one */
        edits_free(e);
}

static void test_utility_only(void **state) {
        struct edits *e = plan_caps(UT, "1");

        (void) state;
        check_lib(e, LIBDIR, "libnvidia-ml");
        check_no_lib(e, "libcuda");
        check_mount(e, BINDIR "/nvidia-smi", "/drv" BINDIR "/nvidia-smi", LIB_FLAGS);
        assert_null(has_mount(e, BINDIR "/nvidia-cuda-mps-control"));
        check_mount(e, SOCKET, "/drv" SOCKET, IPC_FLAGS);
        assert_int_equal(e->n_mounts, 4);
        assert_null(has_node(e, "/dev/nvidia-uvm"));
        assert_null(has_node(e, "/dev/nvidia-uvm-tools"));
        check_node(e, "/dev/nvidiactl", 195, 255);
        check_node(e, "/dev/nvidia0", 195, 0);
        assert_int_equal(e->n_nodes, 2);
        assert_null(has_link(e, LIBDIR "/libcuda.so.1"));
        assert_int_equal(e->n_links, 1);
        edits_free(e);
}

static void test_duplicate_library(void **state) {
        struct nctk_file dup[] = {libs[0], libs[1], libs[1], libs[0]};
        struct nctk_inventory in = inv;
        struct edits *e;

        (void) state;
        in.libs = dup;
        in.n_libs = ELEMENTSOF(dup);
        e = plan_for(&in, (struct plan_request){.caps = CU | UT}, "1");
        check_lib(e, LIBDIR, "libcuda");
        assert_int_equal(count_mounts_under(e, LIBDIR "/"), 2);
        assert_int_equal(e->n_mounts, 6);
        assert_int_equal(e->n_links, 3);
        check_ldcache(e, 1, LIBDIR, NULL);
        edits_free(e);
}

static void test_no_caps(void **state) {
        struct edits *e = plan_caps(0, "1");

        (void) state;
        assert_int_equal(e->n_mounts, 0);
        assert_int_equal(e->n_links, 0);
        assert_int_equal(e->n_ldcache_dirs, 0);
        check_node(e, "/dev/nvidiactl", 195, 255);
        check_node(e, "/dev/nvidia0", 195, 0);
        assert_int_equal(e->n_nodes, 2);
        edits_free(e);
}

/* An image whose compat libcuda is newer than the driver gets its compat directory first. */
static void test_compat_newer_first(void **state) {
        struct edits *e;

        (void) state;
        facts.compat_cuda_major = strtoul(inv.driver_version, NULL, 10) + 1;
        e = plan_for(&inv, (struct plan_request){.caps = CU | UT}, "0");
        facts.compat_cuda_major = 0;
        assert_true(e->n_ldcache_dirs >= 2);
        assert_string_equal(e->ldcache_dirs[0], CONTAINER_COMPAT_DIR);
        assert_string_equal(e->ldcache_dirs[1], LIBDIR);
        edits_free(e);
}

/* Not when it is not newer, when disabled, or when no compute library is asked for. */
static void test_compat_older_or_disabled(void **state) {
        unsigned long have = strtoul(inv.driver_version, NULL, 10);
        const struct {
                unsigned long major;
                unsigned caps;
                enum compat_mode mode;
        } cases[] = {
                {have, CU, COMPAT_MOUNT},
                {have + 1, CU, COMPAT_DISABLED},
                {have + 1, UT, COMPAT_LDCONFIG},
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct edits *e;

                facts.compat_cuda_major = cases[i].major;
                e = plan_for(&inv,
                             (struct plan_request){.caps = cases[i].caps, .compat = cases[i].mode},
                             "0");
                for (size_t k = 0; k < e->n_ldcache_dirs; k++)
                        assert_string_not_equal(e->ldcache_dirs[k], CONTAINER_COMPAT_DIR);
                edits_free(e);
        }
        facts.compat_cuda_major = 0;
}

/* An MPS client: the daemon's pipe directory at CUDA's default, over the host daemon's, and the
 * variables; nothing without the compute capability or without a daemon. */
static void test_mps_client(void **state) {
        struct plan_mps m = {.pipe_dir = "/run/nvidia-mps/GPU-1/pipe",
                             .thread_percentage = 25,
                             .pinned_limit = "2048M"};
        struct edits *e = plan_for(&inv, (struct plan_request){.caps = CU | UT, .mps = &m}, "1");

        (void) state;
        check_mount(e, PLAN_MPS_PIPE_DIR, "/run/nvidia-mps/GPU-1/pipe", IPC_FLAGS);
        assert_int_equal(e->n_env, 3);
        assert_string_equal(e->env[0], "CUDA_MPS_PIPE_DIRECTORY=/tmp/nvidia-mps");
        assert_string_equal(e->env[1], "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=25");
        assert_string_equal(e->env[2], "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=2048M");
        edits_free(e);

        m.thread_percentage = 0;
        m.pinned_limit = NULL;
        e = plan_for(&inv, (struct plan_request){.caps = CU, .mps = &m}, "1");
        assert_int_equal(e->n_env, 1);
        edits_free(e);

        e = plan_for(&inv, (struct plan_request){.caps = UT, .mps = &m}, "1");
        assert_null(has_mount(e, PLAN_MPS_PIPE_DIR));
        assert_int_equal(e->n_env, 0);
        edits_free(e);

        m.pipe_dir = NULL;
        e = plan_for(&inv, (struct plan_request){.caps = CU, .mps = &m}, "1");
        assert_int_equal(e->n_env, 0);
        edits_free(e);
}

/* ---- feature-gated devices ---------------------------------------------------------------- */

static struct nctk_node gated_nodes[] = {
        {NCTK_NODE_CTL, "/dev/nvidiactl", 195, 255, true},
        {NCTK_NODE_GPU, "/dev/nvidia1", 195, 1, true},
        {NCTK_NODE_GPU, "/dev/nvidia0", 195, 0, true},
        {NCTK_NODE_NVSWITCH, "/dev/nvidia-nvswitch0", 509, 0, true},
        {NCTK_NODE_NVSWITCH, "/dev/nvidia-nvswitchctl", 509, 255, true},
        {NCTK_NODE_GDRCOPY, "/dev/gdrdrv", 508, 0, true},
        {NCTK_NODE_GDS, "/dev/nvidia-fs0", 507, 0, true},
};

static char warnings[1024];

static void capture_warning(enum nctk_log_level level, const char *file, int line, const char *msg,
                            void *userdata) {
        (void) file;
        (void) line;
        (void) userdata;
        if (level == NCTK_LOG_WARNING)
                snprintf(warnings + strlen(warnings), sizeof(warnings) - strlen(warnings), "%s\n",
                         msg);
}

static struct edits *plan_gates(const struct nctk_inventory *in, unsigned gates) {
        struct edits *e;

        warnings[0] = '\0';
        nctk_set_log_sink(capture_warning, NULL);
        e = plan_for(in, (struct plan_request){.caps = UT, .gates = gates}, "1");
        nctk_set_log_sink(NULL, NULL);
        return e;
}

/* Each gate gives its own nodes (with their cgroup rules: check_common) and nothing else; GDS
 * also its files, read-only; a gate without nodes on the host is a warning. */
static void test_gated(void **state) {
        struct nctk_inventory in = inv;
        struct edits *e;

        (void) state;
        in.nodes = gated_nodes;
        in.n_nodes = ELEMENTSOF(gated_nodes);
        in.gds_udev = "/run/udev";
        in.gds_cufile = "/usr/local/cuda/gds/cufile.json"; /* a link's real path */

        e = plan_gates(&in, 0);
        assert_int_equal(e->n_nodes, 2);
        assert_null(has_mount(e, "/run/udev"));
        edits_free(e);

        e = plan_gates(&in, NCTK_GATE_NVSWITCH | NCTK_GATE_GDS);
        check_node(e, "/dev/nvidia-nvswitch0", 509, 0);
        check_node(e, "/dev/nvidia-nvswitchctl", 509, 255);
        check_node(e, "/dev/nvidia-fs0", 507, 0);
        assert_null(has_node(e, "/dev/gdrdrv"));
        assert_int_equal(e->n_nodes, 5);
        check_mount(e, "/run/udev", "/drv/run/udev", LIB_FLAGS);
        check_mount(e, "/etc/cufile.json", "/drv/usr/local/cuda/gds/cufile.json", LIB_FLAGS);
        assert_string_equal(warnings, "");
        edits_free(e);

        e = plan_gates(&in, NCTK_GATE_GDRCOPY | NCTK_GATE_MOFED);
        check_node(e, "/dev/gdrdrv", 508, 0);
        assert_int_equal(e->n_nodes, 3);
        assert_string_equal(warnings, "NVIDIA_MOFED=enabled but '/dev' has no InfiniBand device "
                                      "(infiniband/uverbs*, infiniband/rdma_cm), skipping\n");
        edits_free(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_gated),
                cmocka_unit_test(test_mps_client),
                cmocka_unit_test(test_compute_utility),
                cmocka_unit_test(test_video_implies_compute),
                cmocka_unit_test(test_display_implies_graphics),
                cmocka_unit_test(test_graphics_without_display),
                cmocka_unit_test(test_device_none),
                cmocka_unit_test(test_compat32),
                cmocka_unit_test(test_compat32_off),
                cmocka_unit_test(test_compat32_graphics_only),
                cmocka_unit_test(test_mig_device),
                cmocka_unit_test(test_mig_config_skips_access),
                cmocka_unit_test(test_all_devices),
                cmocka_unit_test(test_missing_node_never_planned),
                cmocka_unit_test(test_utility_only),
                cmocka_unit_test(test_duplicate_library),
                cmocka_unit_test(test_no_caps),
                cmocka_unit_test(test_compat_newer_first),
                cmocka_unit_test(test_compat_older_or_disabled),
        };
        return unit_run_group_tests(tests, NULL, NULL);
}
