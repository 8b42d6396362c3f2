/* The CDI hooks (nvidia-cdi-hook, `nvidia-ctk hook`): what NVIDIA's CDI specs ask a
 * createContainer hook to do to a container's rootfs, done through one rootfs fd. Each acts on
 * ROOTFD, an O_PATH directory fd of the container's root opened in its mount namespace, and
 * returns 0 or -errno with ERR; nothing from the image is executed and nothing outside ROOTFD's
 * tree is created or changed, whatever links the image holds. */
#ifndef NCTK_CDIHOOK_CDIHOOK_H
#define NCTK_CDIHOOK_CDIHOOK_H

#include <stddef.h>
#include <sys/types.h>

#include "4-plan/plan.h"
#include "nctk/nctk.h"

/* Our own ld.so.conf.d files: fixed names, so a restarted container rewrites them instead of
 * piling up copies. "00-compat" sorts before "00-nvcr", so the loader prefers the image's
 * forward-compatible libcuda over the host's, as with the reference's names. */
#define CDIHOOK_COMPAT_CONF "/etc/ld.so.conf.d/00-compat-nctk.conf"
#define CDIHOOK_FOLDERS_CONF "/etc/ld.so.conf.d/00-nvcr-nctk.conf"

/* Writes DATA to PATH inside ROOTFD: a new file created with O_EXCL|O_NOFOLLOW beside it, then
 * renamed over it (a link planted at PATH is replaced, never followed). PATH's missing parent
 * directories are created (mode 0755). */
int cdihook_write_file(int rootfd, const char *path, const char *data, mode_t mode);

/* create-symlinks: each link of E (E->links only), in the rootfs; a correct link is left, a
 * wrong link replaced, an image file in the way kept with a warning. */
int cdihook_links(int rootfd, const struct edits *e, struct nctk_error **err);

/* create-soname-symlinks: in each of FOLDERS (absolute container paths; a missing one is
 * skipped with a warning), the link SONAME -> FILE for each library FILE whose DT_SONAME differs
 * from its name, the newest file of each SONAME as ldconfig picks it (`ldconfig -n -N`), made
 * as create-symlinks makes links (a correct link left, a wrong link replaced, an image file kept
 * with a warning). A SONAME with a '/' (or "." / "..") makes no link. Nothing is executed. */
int cdihook_soname_links(int rootfd, char *const *folders, size_t n, struct nctk_error **err);

/* update-ldcache: the container's /etc/ld.so.cache, written by our cache writer: the image's
 * forward-compatibility directory when enable-cuda-compat chose it, FOLDERS, then the
 * directories of the image's ld.so.conf. FOLDERS are also listed in CDIHOOK_FOLDERS_CONF, so an
 * ldconfig run later in the container keeps them. A musl image gets them in its
 * /etc/ld-musl-<arch>.path instead (musl reads no ld.so.cache). */
int cdihook_ldcache(int rootfd, char *const *folders, size_t n, struct nctk_error **err);

/* enable-cuda-compat: when the image's /usr/local/cuda/compat holds a libcuda of a higher major
 * version than HOST_DRIVER_VERSION ("580.159.04"), lists that directory in CDIHOOK_COMPAT_CONF
 * (read by update-ldcache, which runs after this hook); otherwise removes that file, left from
 * a start on an older driver. */
int cdihook_cuda_compat(int rootfd, const char *host_driver_version, struct nctk_error **err);

/* disable-device-node-modification: the container's /proc/driver/nvidia/params is covered with a
 * read-only copy saying ModifyDeviceFiles: 0. Returns 1 (nothing done) when the container has
 * no such file (no driver loaded). Without the new mount API (Linux 5.2), the copy's tmpfs is
 * mounted for a moment on a scratch directory at the rootfs' top, removed again. */
int cdihook_params(int rootfd, struct nctk_error **err);

/* update-application-profile: EGLVisibleDGPUDevices limited to the GPUs in the container's
 * /dev (nvidiaN character devices, minors 0 to 63), in
 * /etc/nvidia/nvidia-application-profiles-rc.d/10-container.conf. Nothing when there are none. */
int cdihook_app_profile(int rootfd, struct nctk_error **err);

/* chmod: MODE on each of PATHS inside the rootfs (links followed inside it); a missing path is
 * skipped with a warning. Only directories, regular files and device nodes are changed. */
int cdihook_chmod(int rootfd, mode_t mode, char *const *paths, size_t n, struct nctk_error **err);

#endif
