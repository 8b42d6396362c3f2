/* NVML queries in a forked, privilege-dropped helper. The driver's libnvidia-ml is big, closed and
 * loaded from a driver root we may not control; it runs only in the helper, which answers once
 * over a socketpair in the fixed format of nvml.h and exits. The parent parses that answer as
 * untrusted input and reaps the helper on every path. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "1-discover/nvml-types.h"
#include "1-discover/nvml.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/strv.h"
#include "util/userns.h"

/* ---- the parent's side: decoding the answer -------------------------------------------------- */

static const char *const brand_names[] = {
        [NVML_BRAND_UNKNOWN] = "Unknown",
        [NVML_BRAND_QUADRO] = "Quadro",
        [NVML_BRAND_TESLA] = "Tesla",
        [NVML_BRAND_NVS] = "NVS",
        [NVML_BRAND_GRID] = "GRID",
        [NVML_BRAND_GEFORCE] = "GeForce",
        [NVML_BRAND_TITAN] = "TITAN",
        [NVML_BRAND_VAPPS] = "VApps",
        [NVML_BRAND_VPC] = "VPC",
        [NVML_BRAND_VCS] = "VCS",
        [NVML_BRAND_VWS] = "VWS",
        [NVML_BRAND_CLOUD_GAMING] = "CloudGaming",
        [NVML_BRAND_QUADRO_RTX] = "QuadroRTX",
        [NVML_BRAND_NVIDIA_RTX] = "NvidiaRTX",
        [NVML_BRAND_NVIDIA] = "Nvidia",
        [NVML_BRAND_GEFORCE_RTX] = "GeForceRTX",
        [NVML_BRAND_TITAN_RTX] = "TitanRTX",
};

static const char *const arch_names[] = {
        [NVML_ARCH_KEPLER] = "Kepler",
        [NVML_ARCH_MAXWELL] = "Maxwell",
        [NVML_ARCH_PASCAL] = "Pascal",
        [NVML_ARCH_VOLTA] = "Volta",
        [NVML_ARCH_TURING] = "Turing",
        [NVML_ARCH_AMPERE] = "Ampere",
        [NVML_ARCH_ADA] = "Ada",
        [NVML_ARCH_HOPPER] = "Hopper",
        [NVML_ARCH_BLACKWELL] = "Blackwell",
};

static const char *name_of(const char *const *names, size_t n, uint32_t v, const char *dflt) {
        return v < n && names[v] ? names[v] : dflt;
}

/* Copies a helper-supplied char array: it may lack its NUL, and control characters would reach
 * terminals and logs, so they become '?'. */
static void wire_strcpy(char *dst, size_t dst_size, const char *src, size_t src_size) {
        size_t n = strnlen(src, src_size);

        if (n >= dst_size)
                n = dst_size - 1;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) src[i];
                dst[i] = c < 0x20 || c == 0x7f ? '?' : (char) c;
        }
        dst[n] = '\0';
}
#define WIRE_STRCPY(dst, src) wire_strcpy((dst), sizeof(dst), (src), sizeof(src))

struct cursor {
        const char *p;
        size_t left;
};

static bool cursor_take(struct cursor *c, void *dst, size_t size) {
        if (c->left < size)
                return false;
        memcpy(dst, c->p, size); /* the buffer has no alignment guarantee */
        c->p += size;
        c->left -= size;
        return true;
}

static int truncated(struct nctk_error **err) {
        return nctk_error_set(err, EPIPE, "the NVML helper's answer ends early");
}

static int oom(struct nctk_error **err) {
        return nctk_error_set(err, ENOMEM, "out of memory");
}

/* One line per NVML failure, saying what to do about the ones people actually meet. */
static int nvml_error(int rc, uint32_t index, const char *msg, struct nctk_error **err) {
        switch (rc) {
        case NVML_E_LIB_RM_VERSION_MISMATCH:
                return nctk_error_set(err, EPROTO,
                                      "NVML: driver/library version mismatch (%s): the loaded "
                                      "kernel module and the user-space driver differ; reboot or "
                                      "reinstall the driver",
                                      msg);
        case NVML_E_DRIVER_NOT_LOADED:
                return nctk_error_set(err, ENXIO,
                                      "NVML: the NVIDIA kernel driver is not loaded (%s): load it "
                                      "with 'modprobe nvidia', or set load-kmods = true in "
                                      "config.toml (--load-kmods)",
                                      msg);
        case NVML_E_GPU_IS_LOST:
                if (index == UINT32_MAX)
                        return nctk_error_set(err, ENODEV, "NVML: a GPU is lost (%s)", msg);
                return nctk_error_set(err, ENODEV, "NVML: GPU at index %u is lost (%s)", index,
                                      msg);
        case NVML_E_NO_PERMISSION:
                return nctk_error_set(err, EACCES,
                                      "NVML: permission denied (%s): check the permissions of "
                                      "/dev/nvidiactl and /dev/nvidia*",
                                      msg);
        default: return nctk_error_set(err, EIO, "NVML: %s", msg);
        }
}

static int helper_error(const struct nvml_wire_header *h, struct nctk_error **err) {
        char msg[sizeof(h->msg)];

        WIRE_STRCPY(msg, h->msg);
        switch (h->status) {
        case NVML_WIRE_ERRNO:
                return nctk_error_set(err, h->errnum > 0 && h->errnum < 4096 ? h->errnum : EIO,
                                      "%s", msg[0] ? msg : "the NVML helper failed");
        case NVML_WIRE_NVML: return nvml_error(h->nvml_rc, h->err_index, msg, err);
        default:
                return nctk_error_set(err, EBADMSG, "bad answer from the NVML helper: status %u",
                                      (unsigned) h->status);
        }
}

static int parse_header(struct cursor *c, struct nvml_wire_header *h, struct nctk_error **err) {
        uint32_t magic;
        uint16_t version;

        /* Check what has arrived before asking for more, so that garbage says "garbage". */
        if (c->left >= sizeof(magic)) {
                memcpy(&magic, c->p, sizeof(magic));
                if (magic != NVML_WIRE_MAGIC)
                        return nctk_error_set(err, EBADMSG,
                                              "bad answer from the NVML helper: magic 0x%08x, "
                                              "expected 0x%08x",
                                              magic, NVML_WIRE_MAGIC);
        }
        if (c->left >= sizeof(magic) + sizeof(version)) {
                memcpy(&version, c->p + sizeof(magic), sizeof(version));
                if (version != NVML_WIRE_VERSION)
                        return nctk_error_set(err, EBADMSG,
                                              "bad answer from the NVML helper: version %u, "
                                              "expected %u",
                                              (unsigned) version, NVML_WIRE_VERSION);
        }
        if (!cursor_take(c, h, sizeof(*h)))
                return truncated(err);
        return 0;
}

static int parse_mig(struct cursor *c, struct nctk_mig *m, struct nctk_error **err) {
        struct nvml_wire_mig w;

        if (!cursor_take(c, &w, sizeof(w)))
                return truncated(err);
        m->index = w.index;
        m->gi = w.gi;
        m->ci = w.ci;
        WIRE_STRCPY(m->uuid, w.uuid);
        m->gi_caps[0] = m->ci_caps[0] = '\0';
        m->gi_caps_minor = m->ci_caps_minor = -1;
        return 0;
}

static int parse_gpu(struct cursor *c, struct nctk_gpu *g, struct nctk_error **err) {
        struct nvml_wire_gpu w;
        int r;

        if (!cursor_take(c, &w, sizeof(w)))
                return truncated(err);
        if (w.n_migs > NVML_WIRE_MAX_MIGS || (w.n_migs > 0 && !(w.mig_capable && w.mig_enabled)))
                return nctk_error_set(err, EBADMSG,
                                      "bad answer from the NVML helper: %u MIG devices on GPU %u",
                                      w.n_migs, w.index);
        g->index = w.index;
        g->minor = w.minor;
        WIRE_STRCPY(g->uuid, w.uuid);
        WIRE_STRCPY(g->busid, w.busid);
        WIRE_STRCPY(g->model, w.name);
        strscpy(g->brand, sizeof(g->brand),
                name_of(brand_names, ELEMENTSOF(brand_names), w.brand, "Unknown"));
        strscpy(g->arch_name, sizeof(g->arch_name),
                name_of(arch_names, ELEMENTSOF(arch_names), w.arch, ""));
        g->cc_major = w.cc_major;
        g->cc_minor = w.cc_minor;
        g->mig_capable = w.mig_capable != 0;
        g->mig_enabled = g->mig_capable && w.mig_enabled != 0;
        g->persistence = w.persistence <= NCTK_PERSISTENCE_ON
                                 ? (enum nctk_persistence) w.persistence
                                 : NCTK_PERSISTENCE_UNKNOWN;
        if (w.n_migs == 0)
                return 0;
        g->migs = calloc(w.n_migs, sizeof(*g->migs));
        if (!g->migs)
                return oom(err);
        for (; g->n_migs < w.n_migs; g->n_migs++) {
                r = parse_mig(c, &g->migs[g->n_migs], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int nvml_result_parse(const void *buf, size_t len, struct nvml_result **ret,
                      struct nctk_error **err) {
        _cleanup_(nvml_result_freep) struct nvml_result *res = NULL;
        struct cursor c = {buf, len};
        struct nvml_wire_header h;
        int r;

        r = parse_header(&c, &h, err);
        if (r < 0)
                return r;
        if (h.status != NVML_WIRE_OK)
                return helper_error(&h, err);
        if (h.n_gpus > NVML_WIRE_MAX_GPUS)
                return nctk_error_set(err, EBADMSG,
                                      "bad answer from the NVML helper: %u GPUs (at most %u)",
                                      h.n_gpus, NVML_WIRE_MAX_GPUS);
        res = calloc(1, sizeof(*res));
        if (!res || (h.n_gpus > 0 && !(res->gpus = calloc(h.n_gpus, sizeof(*res->gpus)))))
                return oom(err);
        WIRE_STRCPY(res->driver_version, h.driver_version);
        res->cuda_version = h.cuda_version > 0 ? h.cuda_version : 0;
        while (res->n_gpus < h.n_gpus) {
                /* Counted before it is filled, so that a half-parsed GPU's MIGs are freed. */
                r = parse_gpu(&c, &res->gpus[res->n_gpus++], err);
                if (r < 0)
                        return r;
        }
        if (c.left > 0)
                return nctk_error_set(err, EBADMSG,
                                      "bad answer from the NVML helper: %zu bytes too many",
                                      c.left);
        *ret = TAKE_PTR(res);
        return 0;
}

struct nvml_result *nvml_result_free(struct nvml_result *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_gpus; i++)
                free(r->gpus[i].migs);
        free(r->gpus);
        free(r);
        return NULL;
}

/* ---- the helper: runs in the forked child and never returns ---------------------------------- */

struct nvml_fns {
        nvml_init_v2_fn init_v2;
        nvml_init_with_flags_fn init_with_flags;
        nvml_shutdown_fn shutdown;
        nvml_error_string_fn error_string;
        nvml_sys_driver_version_fn driver_version;
        nvml_sys_cuda_version_fn cuda_version;
        nvml_dev_count_fn count;
        nvml_dev_by_index_fn by_index;
        nvml_dev_string_fn uuid, name;
        nvml_dev_pci_fn pci;
        nvml_dev_uint_fn brand, arch, minor, max_migs, gi_id, ci_id;
        nvml_dev_cc_fn cc;
        nvml_dev_mig_mode_fn mig_mode;
        nvml_dev_uint_fn persistence;
        nvml_dev_mig_by_index_fn mig_by_index;
};

struct helper_ctx {
        const struct nvml_query *q;
        const char *root; /* the driver root, "/" when none */
        const char *path; /* what dlopen() is given */
        bool is_root;     /* started as root: chroot and drop privileges */
        struct nvml_fns f;
        struct nvml_wire_header hdr;
        char *out; /* GPU and MIG records, after the header */
        size_t len, cap;
};

static int helper_fail(struct helper_ctx *c, int errnum, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int helper_fail(struct helper_ctx *c, int errnum, const char *fmt, ...) {
        va_list ap;

        c->hdr.status = NVML_WIRE_ERRNO;
        c->hdr.errnum = errnum > 0 ? errnum : EIO;
        va_start(ap, fmt);
        vsnprintf(c->hdr.msg, sizeof(c->hdr.msg), fmt, ap);
        va_end(ap);
        return -c->hdr.errnum;
}

static int helper_nvml_fail(struct helper_ctx *c, nvml_return_t rc, uint32_t index,
                            const char *call) {
        const char *s = c->f.error_string ? c->f.error_string(rc) : NULL;

        c->hdr.status = NVML_WIRE_NVML;
        c->hdr.nvml_rc = rc;
        c->hdr.err_index = index;
        if (s)
                snprintf(c->hdr.msg, sizeof(c->hdr.msg), "%s: %s", call, s);
        else
                snprintf(c->hdr.msg, sizeof(c->hdr.msg), "%s: error %d", call, rc);
        return -EIO;
}

/* Optional facts: a failure leaves the field unknown, but a lost GPU fails the whole query.
 * Returns 1 when the value is good, 0 when it is unknown, or -errno. */
static int helper_soft(struct helper_ctx *c, nvml_return_t rc, uint32_t index, const char *call) {
        if (rc == NVML_E_GPU_IS_LOST)
                return helper_nvml_fail(c, rc, index, call);
        return rc == NVML_OK;
}

/* Appends SIZE bytes of DATA (zeros when NULL); returns the offset where they went, or -ENOMEM. */
static ssize_t helper_append(struct helper_ctx *c, const void *data, size_t size) {
        size_t off = c->len;

        if (c->cap - c->len < size) {
                size_t cap = c->cap ? c->cap * 2 : 8192;
                char *p;

                while (cap - c->len < size)
                        cap *= 2;
                p = realloc(c->out, cap);
                if (!p)
                        return helper_fail(c, ENOMEM, "NVML helper: out of memory");
                c->out = p;
                c->cap = cap;
        }
        if (data)
                memcpy(c->out + off, data, size);
        else
                memset(c->out + off, 0, size);
        c->len += size;
        return (ssize_t) off;
}

/* The caller's handlers must not run here (a SIGINT handler that cleans up mounts, say). */
static void helper_reset_signals(void) {
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        sigset_t none;

        for (int s = 1; s < NSIG; s++) {
                struct sigaction old;

                if (s != SIGKILL && s != SIGSTOP && sigaction(s, NULL, &old) == 0 &&
                    old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)
                        sigaction(s, &dfl, NULL);
        }
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
}

static int close_all_but_proc(int keep) {
        _cleanup_closedir_ DIR *d = opendir("/proc/self/fd");
        struct dirent *de;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char *end;
                long fd = strtol(de->d_name, &end, 10);

                if (*end == '\0' && end != de->d_name && fd >= 3 && fd != keep && fd != dirfd(d))
                        close((int) fd);
        }
        return 0;
}

/* The helper keeps its socket and nothing else of ours: a library from a driver root, running as
 * an unprivileged user, must not reach the caller's rootfs fds, pipes or sockets. 0-2 become
 * /dev/null so that the library's own output cannot land in the socket. */
static int helper_close_fds(int *sock) {
        int s = *sock, null;

        if (s < 3 && (s = fcntl(s, F_DUPFD, 3)) < 0)
                return -errno;
        if ((s > 3 && close_range(3, (unsigned) s - 1, 0) < 0) ||
            close_range((unsigned) s + 1, ~0u, 0) < 0) {
                int r = close_all_but_proc(s); /* kernels before 5.9 */
                if (r < 0)
                        return r;
        }
        null = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int fd = 0; fd < 3; fd++) {
                if (null < 0)
                        close(fd); /* no /dev/null: closed is the next best */
                else if (fd != null && dup2(null, fd) < 0)
                        return -errno;
        }
        if (null > 2)
                close(null);
        *sock = s;
        return 0;
}

/* As root: enter the driver root, so that the library and whatever it opens come from there, and
 * become the given user for good; then nothing the library does can regain privileges. */
static int helper_drop_privileges(struct helper_ctx *c) {
        uid_t uid = c->q->uid;
        gid_t gid = c->q->gid;

        if (c->is_root) {
                if (!STREQ(c->root, "/") && chroot(c->root) < 0)
                        return helper_fail(c, errno, "cannot enter driver root '%s': %m", c->root);
                if (chdir("/") < 0)
                        return helper_fail(c, errno, "cannot enter '/' in the driver root: %m");
                if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
                    setresuid(uid, uid, uid) < 0)
                        return helper_fail(c, errno,
                                           "NVML helper: cannot switch to uid %u, gid %u: %m",
                                           (unsigned) uid, (unsigned) gid);
        } else if (chdir("/") < 0) {
                return helper_fail(c, errno, "NVML helper: cannot enter '/': %m");
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return helper_fail(c, errno, "NVML helper: cannot set no_new_privs: %m");
        return 0;
}

static void helper_dlsym(struct nvml_fns *f, void *h) {
        f->init_v2 = (nvml_init_v2_fn) dlsym(h, "nvmlInit_v2");
        f->init_with_flags = (nvml_init_with_flags_fn) dlsym(h, "nvmlInitWithFlags");
        f->shutdown = (nvml_shutdown_fn) dlsym(h, "nvmlShutdown");
        f->error_string = (nvml_error_string_fn) dlsym(h, "nvmlErrorString");
        f->driver_version = (nvml_sys_driver_version_fn) dlsym(h, "nvmlSystemGetDriverVersion");
        f->cuda_version = (nvml_sys_cuda_version_fn) dlsym(h, "nvmlSystemGetCudaDriverVersion_v2");
        if (!f->cuda_version)
                f->cuda_version =
                        (nvml_sys_cuda_version_fn) dlsym(h, "nvmlSystemGetCudaDriverVersion");
        f->count = (nvml_dev_count_fn) dlsym(h, "nvmlDeviceGetCount_v2");
        f->by_index = (nvml_dev_by_index_fn) dlsym(h, "nvmlDeviceGetHandleByIndex_v2");
        f->uuid = (nvml_dev_string_fn) dlsym(h, "nvmlDeviceGetUUID");
        f->name = (nvml_dev_string_fn) dlsym(h, "nvmlDeviceGetName");
        f->pci = (nvml_dev_pci_fn) dlsym(h, "nvmlDeviceGetPciInfo_v3");
        f->brand = (nvml_dev_uint_fn) dlsym(h, "nvmlDeviceGetBrand");
        f->arch = (nvml_dev_uint_fn) dlsym(h, "nvmlDeviceGetArchitecture");
        f->cc = (nvml_dev_cc_fn) dlsym(h, "nvmlDeviceGetCudaComputeCapability");
        f->minor = (nvml_dev_uint_fn) dlsym(h, "nvmlDeviceGetMinorNumber");
        f->mig_mode = (nvml_dev_mig_mode_fn) dlsym(h, "nvmlDeviceGetMigMode");
        f->persistence = (nvml_dev_uint_fn) dlsym(h, "nvmlDeviceGetPersistenceMode");
        f->max_migs = (nvml_dev_uint_fn) dlsym(h, "nvmlDeviceGetMaxMigDeviceCount");
        f->mig_by_index =
                (nvml_dev_mig_by_index_fn) dlsym(h, "nvmlDeviceGetMigDeviceHandleByIndex");
        f->gi_id = (nvml_dev_uint_fn) dlsym(h, "nvmlDeviceGetGpuInstanceId");
        f->ci_id = (nvml_dev_uint_fn) dlsym(h, "nvmlDeviceGetComputeInstanceId");
}

/* The entry points without which there is no answer; architecture, CUDA version and MIG mode are
 * optional (older drivers), and the MIG device calls are checked where MIG is enabled. */
static int helper_check_syms(struct helper_ctx *c) {
        const struct nvml_fns *f = &c->f;
        const struct {
                const char *name;
                bool ok;
        } req[] = {
                {"nvmlInit_v2", f->init_v2 || f->init_with_flags},
                {"nvmlShutdown", f->shutdown},
                {"nvmlErrorString", f->error_string},
                {"nvmlSystemGetDriverVersion", f->driver_version},
                {"nvmlDeviceGetCount_v2", f->count},
                {"nvmlDeviceGetHandleByIndex_v2", f->by_index},
                {"nvmlDeviceGetUUID", f->uuid},
                {"nvmlDeviceGetName", f->name},
                {"nvmlDeviceGetPciInfo_v3", f->pci},
                {"nvmlDeviceGetBrand", f->brand},
                {"nvmlDeviceGetCudaComputeCapability", f->cc},
                {"nvmlDeviceGetMinorNumber", f->minor},
        };

        for (size_t i = 0; i < ELEMENTSOF(req); i++)
                if (!req[i].ok)
                        return helper_fail(c, ENOSYS, "NVML '%s' lacks %s: the driver is too old",
                                           c->path, req[i].name);
        return 0;
}

static int helper_query_migs(struct helper_ctx *c, nvml_device_t dev, uint32_t i, uint32_t *ret_n) {
        const struct nvml_fns *f = &c->f;
        unsigned max = 0;
        uint32_t n = 0;
        nvml_return_t rc;

        if (!f->max_migs || !f->mig_by_index || !f->gi_id || !f->ci_id)
                return helper_fail(c, ENOSYS,
                                   "NVML '%s' reports MIG mode but lacks the MIG device "
                                   "calls",
                                   c->path);
        if ((rc = f->max_migs(dev, &max)) != NVML_OK)
                return helper_nvml_fail(c, rc, i, "nvmlDeviceGetMaxMigDeviceCount");
        for (unsigned j = 0; j < max && j < NVML_WIRE_MAX_MIGS; j++) {
                struct nvml_wire_mig m = {.index = j};
                nvml_device_t mdev;

                rc = f->mig_by_index(dev, j, &mdev);
                if (rc == NVML_E_NOT_FOUND) /* slots are sparse */
                        continue;
                if (rc != NVML_OK)
                        return helper_nvml_fail(c, rc, i, "nvmlDeviceGetMigDeviceHandleByIndex");
                if ((rc = f->uuid(mdev, m.uuid, sizeof(m.uuid))) != NVML_OK)
                        return helper_nvml_fail(c, rc, i, "nvmlDeviceGetUUID (MIG device)");
                if ((rc = f->gi_id(mdev, &m.gi)) != NVML_OK)
                        return helper_nvml_fail(c, rc, i, "nvmlDeviceGetGpuInstanceId");
                if ((rc = f->ci_id(mdev, &m.ci)) != NVML_OK)
                        return helper_nvml_fail(c, rc, i, "nvmlDeviceGetComputeInstanceId");
                if (helper_append(c, &m, sizeof(m)) < 0)
                        return -ENOMEM;
                n++;
        }
        *ret_n = n;
        return 0;
}

static int helper_query_optional(struct helper_ctx *c, nvml_device_t dev, struct nvml_wire_gpu *g) {
        const struct nvml_fns *f = &c->f;
        unsigned cur = 0, pending = 0;
        int r;

        r = helper_soft(c, f->brand(dev, &g->brand), g->index, "nvmlDeviceGetBrand");
        if (r < 0)
                return r;
        if (r == 0)
                g->brand = NVML_BRAND_UNKNOWN;
        if (f->arch) {
                r = helper_soft(c, f->arch(dev, &g->arch), g->index, "nvmlDeviceGetArchitecture");
                if (r < 0)
                        return r;
                if (r == 0)
                        g->arch = 0;
        }
        r = helper_soft(c, f->cc(dev, &g->cc_major, &g->cc_minor), g->index,
                        "nvmlDeviceGetCudaComputeCapability");
        if (r < 0)
                return r;
        if (r == 0)
                g->cc_major = g->cc_minor = 0;
        if (f->mig_mode) {
                /* Success alone says the GPU can do MIG; NOT_SUPPORTED says it cannot. */
                r = helper_soft(c, f->mig_mode(dev, &cur, &pending), g->index,
                                "nvmlDeviceGetMigMode");
                if (r < 0)
                        return r;
                g->mig_capable = r > 0;
                g->mig_enabled = r > 0 && cur == NVML_MIG_ENABLE;
        }
        if (f->persistence) {
                unsigned on = 0;

                r = helper_soft(c, f->persistence(dev, &on), g->index,
                                "nvmlDeviceGetPersistenceMode");
                if (r < 0)
                        return r;
                g->persistence = r == 0 ? NCTK_PERSISTENCE_UNKNOWN
                                 : on   ? NCTK_PERSISTENCE_ON
                                        : NCTK_PERSISTENCE_OFF;
        }
        return 0;
}

static int helper_query_gpu(struct helper_ctx *c, uint32_t i) {
        const struct nvml_fns *f = &c->f;
        struct nvml_wire_gpu g = {.index = i};
        struct nvml_pci_info pci = {0};
        nvml_device_t dev;
        nvml_return_t rc;
        ssize_t off;
        int r;

        if ((rc = f->by_index(i, &dev)) != NVML_OK)
                return helper_nvml_fail(c, rc, i, "nvmlDeviceGetHandleByIndex_v2");
        if ((rc = f->uuid(dev, g.uuid, sizeof(g.uuid))) != NVML_OK)
                return helper_nvml_fail(c, rc, i, "nvmlDeviceGetUUID");
        if ((rc = f->name(dev, g.name, sizeof(g.name))) != NVML_OK)
                return helper_nvml_fail(c, rc, i, "nvmlDeviceGetName");
        if ((rc = f->pci(dev, &pci)) != NVML_OK)
                return helper_nvml_fail(c, rc, i, "nvmlDeviceGetPciInfo_v3");
        if ((rc = f->minor(dev, &g.minor)) != NVML_OK)
                return helper_nvml_fail(c, rc, i, "nvmlDeviceGetMinorNumber");
        memcpy(g.busid, pci.bus_id, sizeof(g.busid));
        r = helper_query_optional(c, dev, &g);
        if (r < 0)
                return r;
        /* The GPU record precedes its MIG records: reserve it, fill it in when they are counted. */
        off = helper_append(c, NULL, sizeof(g));
        if (off < 0)
                return -ENOMEM;
        if (g.mig_enabled && (r = helper_query_migs(c, dev, i, &g.n_migs)) < 0)
                return r;
        memcpy(c->out + off, &g, sizeof(g));
        return 0;
}

static int helper_query(struct helper_ctx *c) {
        const struct nvml_fns *f = &c->f;
        char version[sizeof(c->hdr.driver_version)] = "";
        unsigned count = 0;
        int cuda = 0, r;
        nvml_return_t rc;

        if ((rc = f->driver_version(version, sizeof(version))) != NVML_OK)
                return helper_nvml_fail(c, rc, UINT32_MAX, "nvmlSystemGetDriverVersion");
        if (f->cuda_version && f->cuda_version(&cuda) != NVML_OK)
                cuda = 0;
        if ((rc = f->count(&count)) != NVML_OK)
                return helper_nvml_fail(c, rc, UINT32_MAX, "nvmlDeviceGetCount_v2");
        if (count > NVML_WIRE_MAX_GPUS)
                return helper_fail(c, E2BIG, "NVML reports %u GPUs, more than the %u supported",
                                   count, NVML_WIRE_MAX_GPUS);
        for (uint32_t i = 0; i < count; i++) {
                r = helper_query_gpu(c, i);
                if (r < 0)
                        return r;
        }
        memcpy(c->hdr.driver_version, version, sizeof(version));
        c->hdr.driver_version[sizeof(version) - 1] = '\0';
        c->hdr.cuda_version = cuda;
        c->hdr.n_gpus = count;
        return 0;
}

static int helper_nvml(struct helper_ctx *c) {
        _cleanup_free_ char *joined = NULL;
        nvml_return_t rc;
        void *h;
        int r;

        /* Without root there is no chroot: the library is named through the driver root instead. */
        c->path = c->q->lib_path;
        if (!c->is_root && !STREQ(c->root, "/")) {
                joined = path_join(c->root, c->q->lib_path);
                if (!joined)
                        return helper_fail(c, ENOMEM, "NVML helper: out of memory");
                c->path = joined;
        }
        h = dlopen(c->path, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
                const char *why = dlerror();
                return helper_fail(c, ENOENT, "cannot load NVML '%s': %s", c->path,
                                   why ? why : "unknown error");
        }
        helper_dlsym(&c->f, h);
        r = helper_check_syms(c);
        if (r < 0)
                return r;
        if (c->q->no_attach && c->f.init_with_flags)
                rc = c->f.init_with_flags(NVML_INIT_NO_ATTACH);
        else
                rc = c->f.init_v2 ? c->f.init_v2() : c->f.init_with_flags(0);
        if (rc != NVML_OK)
                return helper_nvml_fail(c, rc, UINT32_MAX, "nvmlInit");
        /* No nvmlShutdown() and no dlclose(): the helper _exit()s right after answering and
         * the kernel releases the driver's files; the teardown cost ~2.5 ms on an H200. */
        return helper_query(c);
}

static int helper_send(struct helper_ctx *c, int sock) {
        int r;

        if (c->hdr.status != NVML_WIRE_OK) {
                c->hdr.n_gpus = 0;
                c->len = 0;
        }
        r = write_full(sock, &c->hdr, sizeof(c->hdr));
        if (r >= 0 && c->len > 0)
                r = write_full(sock, c->out, c->len);
        return r;
}

/* The child's whole life: set up, query, answer, _exit(). It never returns into the caller's
 * code and runs no atexit handlers or stdio flushes of the parent's buffers. */
static _Noreturn void helper_main(const struct nvml_query *q, const char *root, int sock,
                                  pid_t parent) {
        /* Root of a user namespace is an ordinary user on the host, which may map no other id
         * to drop to: there the helper keeps its ids, as an unprivileged caller's would. */
        struct helper_ctx c = {
                .q = q, .root = root, .is_root = geteuid() == 0 && !in_user_namespace()};
        int r;

        /* Die with the parent (strictly: with the thread that forked); it may have died before
         * the prctl took effect. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(127);
        c.hdr.magic = NVML_WIRE_MAGIC;
        c.hdr.version = NVML_WIRE_VERSION;
        c.hdr.err_index = UINT32_MAX;
        helper_reset_signals();
        r = helper_close_fds(&sock);
        if (r < 0)
                r = helper_fail(&c, -r, "NVML helper: cannot close inherited file descriptors: %s",
                                strerror(-r));
        if (r >= 0)
                r = helper_drop_privileges(&c);
        if (r >= 0)
                helper_nvml(&c);
        r = helper_send(&c, sock);
        free(c.out);
        _exit(r < 0 ? 126 : 0);
}

/* ---- the parent: run the helper, read its answer, reap it ------------------------------------ */

#define HELPER_KILL_GRACE_MS 2000u

struct helper {
        pid_t pid;
        int pidfd;
        int status;     /* from waitpid, -1 when unknown */
        bool abandoned; /* did not die within the grace period after SIGKILL */
};

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* Waits until FD is readable or DEADLINE (CLOCK_MONOTONIC ms) passes: 0 or -ETIMEDOUT/-errno. */
static int wait_readable(int fd, uint64_t deadline) {
        for (;;) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                uint64_t now = now_ms();
                int r;

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, deadline - now > INT32_MAX ? INT32_MAX : (int) (deadline - now));
                if (r > 0)
                        return 0;
                if (r == 0)
                        return -ETIMEDOUT;
                if (errno != EINTR)
                        return -errno;
        }
}

/* Reads until end of file, at most NVML_WIRE_MAX_SIZE bytes (-EFBIG beyond). */
static int read_answer(int fd, uint64_t deadline, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;

        for (;;) {
                ssize_t n;
                int r;

                if (len == cap) {
                        size_t ncap = cap ? cap * 2 : 16384;
                        char *p;

                        if (cap > NVML_WIRE_MAX_SIZE)
                                return -EFBIG;
                        p = realloc(buf, ncap);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        cap = ncap;
                }
                r = wait_readable(fd, deadline);
                if (r < 0)
                        return r;
                n = read(fd, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        if (len > NVML_WIRE_MAX_SIZE)
                return -EFBIG;
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* Reaps the helper once it has exited, waiting until DEADLINE at most (on its pidfd, or polling
 * on kernels before 5.3 and under valgrind, which lacks pidfd_open). Returns true when reaped. */
static bool helper_reap_until(struct helper *h, uint64_t deadline) {
        for (;;) {
                pid_t p = waitpid(h->pid, &h->status, WNOHANG);

                if (p == h->pid || (p < 0 && errno == ECHILD)) {
                        if (p < 0) /* the caller ignores SIGCHLD, or reaped it itself */
                                h->status = -1;
                        h->pid = 0;
                        return true;
                }
                if (now_ms() >= deadline)
                        return false;
                if (h->pidfd < 0 || wait_readable(h->pidfd, deadline) < 0)
                        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
        }
}

/* Kills and reaps the helper. One stuck in the kernel (a hung GPU ioctl) may not die at once:
 * rather than hang with it, give up after a grace period; it stays our zombie until we exit. */
static void helper_kill(struct helper *h) {
        if (h->pid <= 0)
                return;
        kill(h->pid, SIGKILL);
        if (!helper_reap_until(h, now_ms() + HELPER_KILL_GRACE_MS)) {
                h->pid = 0;
                h->abandoned = true;
        }
}

/* Lets the helper exit until DEADLINE, then kills it; reaps it either way. */
static void helper_wait(struct helper *h, uint64_t deadline) {
        if (!helper_reap_until(h, deadline))
                helper_kill(h);
}

/* Cleanup for every early return: no helper outlives nvml_query_run. */
static void helper_killp(struct helper *h) {
        helper_kill(h);
        closep(&h->pidfd);
}

static void status_describe(const struct helper *h, char *buf, size_t size) {
        int status = h->status;

        if (h->abandoned)
                snprintf(buf, size, "still running after SIGKILL");
        else if (status < 0)
                snprintf(buf, size, "exit status unknown");
        else if (WIFEXITED(status))
                snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status) && sigabbrev_np(WTERMSIG(status)))
                snprintf(buf, size, "killed by SIG%s", sigabbrev_np(WTERMSIG(status)));
        else
                snprintf(buf, size, "wait status 0x%x", (unsigned) status);
}

static int query_check(const struct nvml_query *q, struct nctk_error **err) {
        if (!q || !q->lib_path || q->lib_path[0] != '/')
                return nctk_error_set(err, EINVAL, "NVML library path '%s' is not absolute",
                                      q && q->lib_path ? q->lib_path : "");
        /* setresuid(-1) means "unchanged": the helper would stay root. */
        if (geteuid() == 0 && (q->uid == (uid_t) -1 || q->gid == (gid_t) -1))
                return nctk_error_set(err, EINVAL, "no user set for the NVML helper");
        return 0;
}

int nvml_query_run(const struct nvml_query *q, struct nvml_result **ret, struct nctk_error **err) {
        return nvml_query_run_raw(q, ret, NULL, NULL, err);
}

int nvml_query_run_raw(const struct nvml_query *q, struct nvml_result **ret, char **ret_raw,
                       size_t *ret_raw_len, struct nctk_error **err) {
        _cleanup_(helper_killp) struct helper h = {.pidfd = -EBADF, .status = -1};
        _cleanup_close_ int sock = -EBADF, child_sock = -EBADF;
        _cleanup_free_ char *buf = NULL;
        const char *root;
        unsigned timeout;
        uint64_t deadline;
        size_t len = 0;
        pid_t parent = getpid();
        char st[64];
        int pair[2], r;

        r = query_check(q, err);
        if (r < 0)
                return r;
        root = q->driver_root && q->driver_root[0] ? q->driver_root : "/";
        timeout = q->timeout_ms ? q->timeout_ms : NVML_QUERY_TIMEOUT_MS_DEFAULT;
        /* now_ms truncates: one more ms so that the wait is never shorter than TIMEOUT */
        deadline = now_ms() + timeout + 1;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return nctk_error_set(err, errno, "cannot create the NVML helper's socket: %s",
                                      strerror(errno));
        sock = pair[0];
        child_sock = pair[1];
        h.pid = fork();
        if (h.pid < 0)
                return nctk_error_set(err, errno, "cannot fork the NVML helper: %s",
                                      strerror(errno));
        if (h.pid == 0)
                helper_main(q, root, child_sock, parent);
        closep(&child_sock);
        child_sock = -EBADF; /* end of file comes when the helper exits */
        h.pidfd = (int) syscall(SYS_pidfd_open, h.pid, 0);

        r = read_answer(sock, deadline, &buf, &len);
        if (r == -ETIMEDOUT) {
                helper_kill(&h);
                return nctk_error_set(err, ETIMEDOUT,
                                      "NVML did not answer within %u ms (%s): is the driver or a "
                                      "GPU hung? Without persistence mode each start sets up "
                                      "every GPU: enable it (nvidia-persistenced, or "
                                      "nvidia-smi -pm 1)",
                                      timeout,
                                      h.abandoned ? "its helper does not die either"
                                                  : "killed its helper");
        }
        closep(&sock);
        sock = -EBADF;
        helper_wait(&h, deadline);
        if (r == -EFBIG)
                return nctk_error_set(err, EBADMSG, "bad answer from the NVML helper: too long");
        if (r < 0)
                return nctk_error_set(err, -r, "cannot read the NVML helper's answer: %s",
                                      strerror(-r));
        r = nvml_result_parse(buf, len, ret, err);
        if (r >= 0 && ret_raw) {
                *ret_raw = TAKE_PTR(buf);
                *ret_raw_len = len;
        }
        if (r == -EPIPE) {
                status_describe(&h, st, sizeof(st));
                return nctk_error_set(err, EPIPE,
                                      "NVML helper died before answering (%s, after %zu bytes)", st,
                                      len);
        }
        return r;
}
