/* Driver binaries, searched along PATH inside the driver root and then beside the driver's
 * libraries (a driver installed as one tree, like /usr/local/nvidia/{bin,lib64}). Only ELF
 * executables are taken: a wrapper script that sets LD_LIBRARY_PATH and execs the real binary
 * would be useless, or worse, inside a container. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "1-discover/discover.h"
#include "util/chase.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const struct {
        unsigned cap;
        const char *name;
} driver_bins[] = {
        {NCTK_CAP_UTILITY, "nvidia-smi"},
        {NCTK_CAP_UTILITY, "nvidia-debugdump"},
        {NCTK_CAP_UTILITY, "nvidia-persistenced"},
        {NCTK_CAP_UTILITY, "nv-fabricmanager"},
        {NCTK_CAP_COMPUTE, "nvidia-cuda-mps-control"},
        {NCTK_CAP_COMPUTE, "nvidia-cuda-mps-server"},
};

static bool is_elf_executable(int rootfd, const char *path) {
        _cleanup_close_ int fd = chase_open(rootfd, path, O_RDONLY | O_NOCTTY, 0);
        unsigned char magic[SELFMAG];
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
                return false;
        if (pread(fd, magic, sizeof(magic), 0) != (ssize_t) sizeof(magic))
                return false;
        if (memcmp(magic, ELFMAG, SELFMAG) != 0) {
                log_debug("skipping '%s': not an ELF executable (a wrapper script?)", path);
                return false;
        }
        return true;
}

/* Looks NAME up in DIR; adds the real path when it is an ELF executable. Returns 1 when found. */
static int binary_try(struct discover_ctx *ctx, const char *dir, const char *name, unsigned cap) {
        _cleanup_free_ char *p = path_join(dir, name);
        _cleanup_free_ char *real = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        if (!is_elf_executable(ctx->rootfd, p))
                return 0;
        r = chase_real_path(ctx->rootfd, ctx->root_real, p, &real);
        if (r < 0)
                return 0;
        r = file_list_add(&ctx->inv->bins, &ctx->inv->n_bins, real, cap, false);
        return r < 0 ? r : 1;
}

static int binary_find(struct discover_ctx *ctx, const char *search, const char *name,
                       unsigned cap) {
        _cleanup_free_ char *copy = strdup(search);
        char *dir, *save = NULL;
        int r;

        if (!copy)
                return -ENOMEM;
        for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                if (dir[0] != '/')
                        continue; /* relative PATH entries mean nothing inside a root */
                r = binary_try(ctx, dir, name, cap);
                if (r != 0)
                        return r;
        }
        if (ctx->driver_prefix) {
                _cleanup_free_ char *bindir = path_join(ctx->driver_prefix, "bin");
                if (!bindir)
                        return -ENOMEM;
                r = binary_try(ctx, bindir, name, cap);
                if (r != 0)
                        return r;
        }
        log_debug("missing binary %s", name);
        return 0;
}

int binaries_discover(struct discover_ctx *ctx, struct nctk_error **err) {
        const char *search = ctx->opts->path && *ctx->opts->path ? ctx->opts->path : DEFAULT_PATH;

        for (size_t i = 0; i < ELEMENTSOF(driver_bins); i++) {
                int r;

                if ((ctx->opts->flags & NCTK_DISCOVER_NO_MPS) &&
                    driver_bins[i].cap == NCTK_CAP_COMPUTE)
                        continue;
                r = binary_find(ctx, search, driver_bins[i].name, driver_bins[i].cap);
                if (r < 0)
                        return nctk_error_set(err, -r, "cannot look up driver binaries: %s",
                                              strerror(-r));
        }
        return 0;
}
