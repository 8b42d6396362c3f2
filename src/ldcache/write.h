/* Writing a container's ld.so.cache ourselves, as glibc's `ldconfig -X` would write it for the
 * same directories, so that no binary from the image is ever executed (DESIGN.md, rule 2). */
#ifndef NCTK_LDCACHE_WRITE_H
#define NCTK_LDCACHE_WRITE_H

#include <stddef.h>

#include "nctk/nctk.h"

#define LDCACHE_CONF_MAX_DIRS 64           /* directories from ld.so.conf + built-in ones */
#define LDCACHE_CONF_MAX_BYTES (64u << 10) /* all configuration files read, together */
#define LDCACHE_CONF_MAX_DEPTH 8           /* nested `include` levels */
#define LDCACHE_MAX_DIRS 1024              /* directories scanned, hwcaps subdirectories too */
#define LDCACHE_MAX_ENTRIES (1u << 16)     /* libraries in the cache */
#define LDCACHE_MAX_FILES (1u << 18)       /* candidate files examined */

/* Scans DIRS (N_DIRS paths as the container sees them, resolved inside ROOTFD, an O_PATH or
 * O_DIRECTORY fd of the container's root) and writes OUT_PATH (normally "/etc/ld.so.cache",
 * resolved inside ROOTFD) in glibc's "glibc-ld.so.cache1.1" format, with the entries, their
 * order, the string table and the glibc-hwcaps extension that the ldconfig of this
 * architecture (glibc 2.36, Debian's build) writes when run as `ldconfig -X` inside the
 * container with the same directory list; only the generator string in the extension differs
 * ("nctk VERSION"). Each DIRS element follows ld.so.conf line rules: trailing blanks and
 * slashes are dropped, a "=libc6"-style suffix sets the type; directories that do not exist
 * are skipped, duplicates (same inode) are scanned once, under their first name.
 *
 * Nothing from the image is executed, no symlink is created or followed out of the root: file
 * symlinks are followed inside it (like the chrooted ldconfig), devices and FIFOs are never
 * opened, a symlink planted at OUT_PATH is replaced rather than followed. The file is written
 * to a temporary name created with O_EXCL|O_NOFOLLOW in OUT_PATH's directory and renamed over
 * OUT_PATH, mode 0644, owned by that directory's owner (so a user-namespaced container sees its
 * own root as the owner); it is not fsync'ed (a container rootfs is rewritten at every start).
 *
 * Returns 0 or -errno with ERR set: -ENOENT when OUT_PATH's directory does not exist in the
 * container (it is not created: an image without /etc is not a glibc image), -EISDIR when
 * OUT_PATH is a directory, -E2BIG beyond LDCACHE_MAX_DIRS, LDCACHE_MAX_ENTRIES or
 * LDCACHE_MAX_FILES, -EOPNOTSUPP
 * on an architecture whose ldconfig we do not emulate, -ENOMEM, or the error of a failed
 * write. */
int ldcache_write(int rootfd, const char *const *dirs, size_t n_dirs, const char *out_path,
                  struct nctk_error **err);

/* The directory list `ldconfig` of the container would use: the lines of its /etc/ld.so.conf
 * (resolved inside ROOTFD) with their `include` globs expanded (relative patterns are relative
 * to the including file's directory, matches read in sorted order, `hwcap` lines ignored), then
 * the built-in directories: on a Debian-style multiarch root (/usr/lib/<triplet> or
 * /lib/<triplet> exists) "/lib/<triplet>", "/usr/lib/<triplet>", "/lib", "/usr/lib" (Debian's
 * ldconfig); elsewhere glibc's upstream list ("/lib", "/lib64", "/libx32", "/usr/lib",
 * "/usr/lib64", "/usr/libx32" on x86-64; "/libilp32" on aarch64). Lines are returned as
 * ldconfig hands them on (comment and leading blanks removed); lines that name no directory are
 * dropped. A missing ld.so.conf gives the built-in list. *RET_DIRS is a NULL-terminated array
 * of *RET_N strings, freed with ldcache_dirs_free(). Returns 0; -E2BIG beyond
 * LDCACHE_CONF_MAX_DIRS directories or LDCACHE_CONF_MAX_BYTES of configuration; -ELOOP beyond
 * LDCACHE_CONF_MAX_DEPTH nested includes; -ENOMEM; -EOPNOTSUPP (architecture). */
int ldcache_dirs_from_conf(int rootfd, char ***ret_dirs, size_t *ret_n);

void ldcache_dirs_free(char **dirs);

/* ---- internal, shared with ldcache-conf.c and the tests --------------------------------- */

/* glibc's _dl_cache_libcmp: the dynamic loader binary-searches the cache with it, so the cache
 * is sorted by it (numbers compared by value, digits after everything else). */
int ldcache_libcmp(const char *a, const char *b);

/* Opens PATH inside ROOTFD (symlinks followed inside the root) for reading only if it is a
 * regular file: the type is checked on an O_PATH fd before anything is opened, so a device node
 * or a FIFO planted in the image is never opened. Returns the fd, -EBADFD for another file
 * type, or -errno. */
int ldcache_open_regular(int rootfd, const char *path);

#endif
