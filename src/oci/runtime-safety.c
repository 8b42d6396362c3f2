/* Is the low-level runtime safe with an image's mount targets? runc before 1.1.14 resolves a
 * bind mount's destination inside the rootfs once and then creates the missing target (and
 * mknods a device node) by that path: an image that swaps a directory for a symlink in between
 * gets an empty file or a node made in a host directory (CVE-2024-45310's class; Debian 12 ships
 * runc 1.1.5). Asking the runtime costs a process start (runc is a Go binary), so the answer is
 * kept in /run/nctk per binary, next to the NVML cache and under the same root-only rule. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "1-discover/cache.h"
#include "oci/runtime-safety.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/macros.h"
#include "util/strv.h"

#define SAFETY_MAGIC "nctk-runtime-safety 2\n"
#define VERSION_MAX 4096

/* runc's fix landed in 1.1.14 and in 1.2.0-rc.3. */
static bool runc_is_fixed(unsigned major, unsigned minor, unsigned patch, const char *rest) {
        unsigned rc;

        if (major != 1)
                return major > 1;
        if (minor == 1)
                return patch >= 14 && rest[0] != '-';
        if (minor == 2 && patch == 0 && rest[0] == '-')
                return sscanf(rest, "-rc.%u", &rc) == 1 && rc >= 3;
        return minor > 1;
}

int runtime_version_is_safe(const char *out) {
        unsigned major, minor, patch;
        char name[16], rest[32] = "";
        int n = 0;

        if (!out || sscanf(out, "%15s version %u.%u.%u%n", name, &major, &minor, &patch, &n) != 4)
                return 0;
        if (STREQ(name, "crun"))
                return 1;
        if (!STREQ(name, "runc"))
                return 0;
        (void) sscanf(out + n, "%31[^ \n]", rest);
        return runc_is_fixed(major, minor, patch, rest);
}

/* Run with nothing inherited but a pipe for stdout. */
int runtime_version_output(const char *runtime, char **ret) {
        char *const argv[] = {(char *) runtime, (char *) "--version", NULL};
        char *const envp[] = {(char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                       "/sbin:/bin",
                              NULL};
        _cleanup_close_ int rd = -EBADF;
        posix_spawn_file_actions_t fa;
        int p[2], status = 0, r;
        size_t len = 0;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        rd = p[0];
        r = posix_spawn_file_actions_init(&fa);
        r = r ? r : posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        r = r ? r : posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        r = r ? r : posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        r = r ? r : posix_spawn(&pid, runtime, &fa, NULL, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        if (r)
                return -r;
        r = read_full_fd(rd, VERSION_MAX, ret, &len);
        close(TAKE_FD(rd)); /* a runtime that writes more gets EPIPE, not a hang */
        if (waitpid(pid, &status, 0) < 0 && r >= 0)
                r = -errno;
        if (r >= 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
                r = -EIO;
        if (r < 0) {
                free(*ret);
                *ret = NULL;
        }
        return r;
}

/* The cache file of one runtime path, and what identifies the binary behind it. */
static void cache_name(const char *runtime, char *buf, size_t size) {
        uint64_t h = 14695981039346656037ull;

        for (const char *s = runtime; *s; s++)
                h = (h ^ (unsigned char) *s) * 1099511628211ull;
        snprintf(buf, size, "runtime-%016llx", (unsigned long long) h);
}

static int binary_key(const char *runtime, const struct stat *st, char **ret) {
        int n = asprintf(ret, "%s\n%llu %llu %lld %lld.%09ld %lld.%09ld\n", runtime,
                         (unsigned long long) st->st_dev, (unsigned long long) st->st_ino,
                         (long long) st->st_size, (long long) st->st_mtim.tv_sec,
                         st->st_mtim.tv_nsec, (long long) st->st_ctim.tv_sec, st->st_ctim.tv_nsec);

        return n < 0 ? -ENOMEM : 0;
}

/* 1 or 0 from the cache, -errno when it has no answer for KEY. */
static int cache_read(const char *name, const char *key) {
        _cleanup_free_ char *data = NULL;
        size_t n = 0;
        int r = cache_file_load(name, SAFETY_MAGIC, key, VERSION_MAX, &data, &n);

        if (r < 0)
                return r;
        return n == 1 && (data[0] == '0' || data[0] == '1') ? data[0] == '1' : -ESTALE;
}

static void cache_write(const char *name, const char *key, int safe) {
        (void) cache_file_store(name, SAFETY_MAGIC, key, safe ? "1" : "0", 1);
}

int runtime_is_mount_safe(const char *runtime) {
        _cleanup_free_ char *key = NULL, *out = NULL;
        char name[64];
        struct stat st;
        int r;

        if (stat(runtime, &st) < 0 || binary_key(runtime, &st, &key) < 0)
                return 0;
        cache_name(runtime, name, sizeof(name));
        r = cache_read(name, key);
        if (r >= 0)
                return r;
        r = runtime_version_output(runtime, &out);
        r = r < 0 ? 0 : runtime_version_is_safe(out);
        log_debug("runtime %s: %s", runtime,
                  r ? "makes mount targets safely" : "not known to make mount targets safely");
        cache_write(name, key, r);
        return r;
}

int runtime_mounts_in_hook(const char *setting, const char *runtime, bool *ret) {
        if (!setting || !*setting || STREQ(setting, "auto"))
                *ret = !runtime_is_mount_safe(runtime);
        else if (STREQ(setting, "always") || STREQ(setting, "never"))
                *ret = STREQ(setting, "always");
        else
                return -EINVAL;
        return 0;
}
