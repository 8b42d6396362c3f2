/* The syntax of the values a container's spec may carry: device ids, CDI names, versions, Go
 * booleans, mount paths. Pure functions on untrusted strings; nothing here allocates but
 * path_clean. */
#ifndef NCTK_OCI_VALUES_H
#define NCTK_OCI_VALUES_H

#include <stdbool.h>
#include <stddef.h>

#define VALUE_DIGITS "0123456789"
#define VALUE_HEX VALUE_DIGITS "abcdefABCDEF"
#define VALUE_ALNUM VALUE_DIGITS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

/* Whether all LEN bytes of S are in SET (a NUL byte never is). */
bool value_span(const char *s, size_t len, const char *set);
/* 1 to MAX_DIGITS decimal digits. */
bool value_is_number(const char *s, size_t len, size_t max_digits);

enum device_kind { DEVICE_BAD, DEVICE_GPU, DEVICE_CDI };

/* What the LEN bytes at S name, by syntax alone: DEVICE_GPU for an index, GPU-<uuid>,
 * MIG-<uuid>, MIG-GPU-<uuid>/<gi>/<ci>, <gpu>:<mig>, or a PCI bus id (domain:bus:dev.fn, hex,
 * leading zeros optional); DEVICE_CDI for vendor/class=name; else DEVICE_BAD. */
enum device_kind device_id_classify(const char *s, size_t len);
/* vendor/class=name with the CDI specification's character sets. */
bool cdi_name_is_valid(const char *s, size_t len);

/* Go's path.Clean: one slash between elements, no "." elements, ".." resolved lexically, "."
 * for an empty result. Heap string, NULL on ENOMEM. */
char *path_clean(const char *p);

/* Go's strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False. -EINVAL otherwise. */
int parse_go_bool(const char *s, bool *ret);

/* CUDA_VERSION as the reference reads it: a semantic version with an optional leading "v" and
 * optional minor and patch ("12", "v12.4", "12.4.1-rc1+b2"; no leading zeros; prerelease and
 * build only after a patch), major and minor below 2^32. -EINVAL otherwise. */
int cuda_version_parse(const char *v, unsigned long *ret_major, unsigned long *ret_minor);

#endif
