/* The NVML answer cache (see cache.c). */
#ifndef NCTK_DISCOVER_CACHE_H
#define NCTK_DISCOVER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CACHE_DIR "/run/nctk"

struct cache_params {
        const char *root_real; /* the driver root */
        const char *nvml_path; /* libnvidia-ml inside it */
        uid_t uid;             /* the helper's identity */
        gid_t gid;
        int procfd;     /* the driver's procfs */
        int ldcache_fd; /* the ld cache that was read (its identity is part of the key) */
};

/* The fingerprint of everything that would change NVML's answer. */
int cache_key(const struct cache_params *p, char **ret);
/* The cached answer for KEY: -ENOENT none, -ESTALE another key, -EPERM not root or unsafe. */
int cache_load(const struct cache_params *p, const char *key, char **ret, size_t *ret_len);
int cache_store(const struct cache_params *p, const char *key, const char *data, size_t len);
/* One entry of CACHE_DIR by NAME, holding MAGIC, KEY, a NUL and the data (at most MAX bytes
 * in all): the same answers as cache_load; store writes it atomically, as root only. */
int cache_file_load(const char *name, const char *magic, const char *key, size_t max, char **ret,
                    size_t *ret_len);
int cache_file_store(const char *name, const char *magic, const char *key, const char *data,
                     size_t len);
/* An O_PATH fd of CACHE_DIR (made first when CREATE), or -EPERM when anyone but root could write
 * it: what is read from there steers what a container gets. */
int cache_dir_open(bool create);

#endif
