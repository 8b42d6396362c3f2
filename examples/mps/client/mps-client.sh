#!/bin/sh
# Entrypoint of the MPS client image (examples/mps): says which daemon and which share this
# container gets, then runs its command. Without the daemon's control endpoint, CUDA would run
# the program without MPS (or fail, on a GPU in EXCLUSIVE_PROCESS mode); this says so instead.
set -u
pipe=${CUDA_MPS_PIPE_DIRECTORY:-/tmp/nvidia-mps}
if [ ! -e "$pipe/control" ]; then
        echo "mps-client: no MPS control daemon in $pipe: start the mps-daemon service first" >&2
        exit 1
fi
share="the daemon's default active thread percentage"
[ -z "${CUDA_MPS_ACTIVE_THREAD_PERCENTAGE:-}" ] ||
        share="active thread percentage $CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"
echo "mps-client: MPS daemon at $pipe, $share"
exec "$@"
