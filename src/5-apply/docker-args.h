/* A plan as the arguments of a plain `docker run` (runc, no hook, no nvidia runtime):
 * --device for its nodes, --volume for its files, --env for LD_LIBRARY_PATH; the docker-args
 * back-end of the plan, beside the OCI spec writer (spec.c). */
#ifndef NCTK_APPLY_DOCKER_ARGS_H
#define NCTK_APPLY_DOCKER_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "4-plan/plan.h"

/* Where the libraries go. Docker binds only paths that exist on the host, and a host directory
 * of symlinks would point at host paths the container does not have; binding each library file
 * on its own under its SONAME in one container directory needs no host state at all and is
 * always the files the driver has now. nvidia-docker 1 used these directories, and CUDA images
 * still name them in their LD_LIBRARY_PATH. */
#define DOCKER_ARGS_LIBDIR64 "/usr/local/nvidia/lib64"
#define DOCKER_ARGS_LIBDIR32 "/usr/local/nvidia/lib"

struct docker_words {
        char **v;
        size_t n;
};

struct docker_args {
        struct docker_words devices; /* HOST:CONTAINER:rw */
        struct docker_words volumes; /* HOST:CONTAINER[:ro] */
        struct docker_words env;     /* NAME=VALUE */
        bool has_lib64, has_lib32;
        const char *bad_path; /* a path docker's syntax cannot carry, borrowed from the plan */
};

/* Fills A (zeroed) from the edits E; -errno. A path docker's syntax cannot carry leaves
 * A->bad_path set. */
int docker_args_build(struct docker_args *a, const struct edits *e);
void docker_args_release(struct docker_args *a);

#endif
