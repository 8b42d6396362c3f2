/* The driver's other files: IPC sockets (persistenced, fabricmanager, the MPS pipe directory),
 * GSP firmware, and the graphics loaders' config files (Vulkan ICD, EGL/GLVND vendor files). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "1-discover/discover.h"
#include "util/chase.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

#define PERSISTENCED_SOCKET "/var/run/nvidia-persistenced/socket"
#define FABRICMANAGER_SOCKET "/var/run/nvidia-fabricmanager/socket"
#define MPS_PIPE_DIR_DEFAULT "/tmp/nvidia-mps"

/* Adds PATH to LIST when it resolves inside the root to a file of type TYPE (S_IFSOCK, ...).
 * An inaccessible path counts as missing, as the reference does. */
static int add_if_type(struct discover_ctx *ctx, struct nctk_file **list, size_t *n,
                       const char *path, mode_t type, unsigned cap) {
        _cleanup_close_ int fd = chase_open(ctx->rootfd, path, O_PATH, 0);
        _cleanup_free_ char *real = NULL;
        struct stat st;
        int r;

        if (fd < 0 || fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != type) {
                log_debug("missing '%s'", path);
                return 0;
        }
        r = chase_real_path(ctx->rootfd, ctx->root_real, path, &real);
        if (r < 0)
                return 0;
        r = file_list_add(list, n, real, cap, false);
        return r < 0 ? r : 0;
}

int ipcs_discover(struct discover_ctx *ctx, struct nctk_error **err) {
        struct nctk_inventory *inv = ctx->inv;
        unsigned flags = ctx->opts->flags;
        const char *mps = ctx->opts->mps_pipe_dir && *ctx->opts->mps_pipe_dir
                                  ? ctx->opts->mps_pipe_dir
                                  : MPS_PIPE_DIR_DEFAULT;
        int r = 0;

        if (!(flags & NCTK_DISCOVER_NO_PERSISTENCED))
                r = add_if_type(ctx, &inv->ipcs, &inv->n_ipcs, PERSISTENCED_SOCKET, S_IFSOCK,
                                NCTK_CAP_UTILITY);
        if (r >= 0 && !(flags & NCTK_DISCOVER_NO_FABRICMANAGER))
                r = add_if_type(ctx, &inv->ipcs, &inv->n_ipcs, FABRICMANAGER_SOCKET, S_IFSOCK,
                                NCTK_CAP_UTILITY);
        if (r >= 0 && !(flags & NCTK_DISCOVER_NO_MPS))
                r = add_if_type(ctx, &inv->ipcs, &inv->n_ipcs, mps, S_IFDIR, NCTK_CAP_COMPUTE);
        if (r < 0)
                return nctk_error_set(err, -r, "cannot look up driver IPC paths: %s", strerror(-r));
        return 0;
}

/* Adds every regular file in DIR whose name matches PATTERN. */
static int add_glob(struct discover_ctx *ctx, struct nctk_file **list, size_t *n, const char *dir,
                    const char *pattern, unsigned cap) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r;

        r = chase_opendir(ctx->rootfd, dir, &d);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0; /* no such directory on this host */
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL;

                if (fnmatch(pattern, de->d_name, 0) != 0)
                        continue;
                p = path_join(dir, de->d_name);
                if (!p)
                        return -ENOMEM;
                r = add_if_type(ctx, list, n, p, S_IFREG, cap);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The kernel's extra firmware directory (firmware_class.path), as set on the host. */
static char *firmware_class_path(void) {
        _cleanup_close_ int fd =
                open("/sys/module/firmware_class/parameters/path", O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        char *s;

        if (fd < 0 || read_full_fd(fd, 4096, &buf, NULL) < 0)
                return NULL;
        s = strstrip(buf);
        return *s == '/' ? strdup(s) : NULL;
}

int firmware_discover(struct discover_ctx *ctx, struct nctk_error **err) {
        struct nctk_inventory *inv = ctx->inv;
        _cleanup_free_ char *class_path = NULL;
        const char *bases[3];
        size_t nb = 0;
        int r = 0;

        if (ctx->opts->flags & NCTK_DISCOVER_NO_GSP_FIRMWARE)
                return 0;
        /* The standard place, the kernel's configured extra place, and beside the driver tree. */
        bases[nb++] = "/lib/firmware";
        class_path = firmware_class_path();
        if (class_path)
                bases[nb++] = class_path;
        if (ctx->driver_prefix)
                bases[nb++] = NULL; /* filled below */
        for (size_t i = 0; r >= 0 && i < nb; i++) {
                _cleanup_free_ char *fwroot = NULL;
                char dir[4096];

                if (!bases[i]) {
                        fwroot = path_join(ctx->driver_prefix, "firmware");
                        if (!fwroot)
                                return -ENOMEM;
                }
                snprintf(dir, sizeof(dir), "%s/nvidia/%s", bases[i] ? bases[i] : fwroot,
                         inv->driver_version);
                r = add_glob(ctx, &inv->firmware, &inv->n_firmware, dir, "gsp*.bin", NCTK_CAP_ALL);
        }
        if (r < 0)
                return nctk_error_set(err, -r, "cannot look up GSP firmware: %s", strerror(-r));
        return 0;
}

/* Graphics config files: (subdirectory, file pattern) below each data directory. */
static const struct {
        const char *subdir;
        const char *pattern;
} graphics_configs[] = {
        {"vulkan/icd.d", "nvidia_icd*.json"},
        {"vulkan/implicit_layer.d", "nvidia_layers*.json"},
        {"glvnd/egl_vendor.d", "*_nvidia*.json"},
        {"egl/egl_external_platform.d", "*_nvidia_*.json"},
};

int configs_discover(struct discover_ctx *ctx, struct nctk_error **err) {
        struct nctk_inventory *inv = ctx->inv;
        _cleanup_free_ char *share = NULL;
        const char *datadirs[] = {"/etc", "/usr/local/share", "/usr/share", NULL};
        int r = 0;

        if (ctx->driver_prefix) {
                share = path_join(ctx->driver_prefix, "share");
                if (!share)
                        return -ENOMEM;
                datadirs[ELEMENTSOF(datadirs) - 1] = share;
        }
        for (size_t d = 0; r >= 0 && d < ELEMENTSOF(datadirs); d++) {
                if (!datadirs[d])
                        continue;
                for (size_t i = 0; r >= 0 && i < ELEMENTSOF(graphics_configs); i++) {
                        _cleanup_free_ char *dir =
                                path_join(datadirs[d], graphics_configs[i].subdir);
                        if (!dir)
                                return -ENOMEM;
                        r = add_glob(ctx, &inv->configs, &inv->n_configs, dir,
                                     graphics_configs[i].pattern, NCTK_CAP_GRAPHICS);
                }
        }
        if (r < 0)
                return nctk_error_set(err, -r, "cannot look up graphics configs: %s", strerror(-r));
        return 0;
}
