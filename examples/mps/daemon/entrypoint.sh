#!/bin/sh
# Entrypoint of the MPS daemon image (examples/mps): the GPUs this container was given
# (NVIDIA_VISIBLE_DEVICES; NVML in here sees no others) go to EXCLUSIVE_PROCESS, so that the MPS
# server is the only process with a context on them; nvidia-cuda-mps-control runs in the
# foreground; DEFAULT comes back when it stops, however it stops (short of SIGKILL).
set -u
me=mps-daemon
pipe=${CUDA_MPS_PIPE_DIRECTORY:-/tmp/nvidia-mps}
logs=${CUDA_MPS_LOG_DIRECTORY:-/var/log/nvidia-mps}

fail() {
        echo "$me: $*" >&2
        exit 1
}

for prog in nvidia-smi nvidia-cuda-mps-control; do
        command -v "$prog" >/dev/null 2>&1 ||
                fail "no $prog in this container: run it with the nvidia runtime, NVIDIA_VISIBLE_DEVICES" \
                        "naming the GPUs and NVIDIA_DRIVER_CAPABILITIES=compute,utility"
done
mkdir -p "$pipe" "$logs" || fail "cannot create $pipe and $logs"

restore() {
        nvidia-smi -c DEFAULT >/dev/null 2>&1 ||
                echo "$me: could not set the compute mode back to DEFAULT" >&2
}

# The driver lets only CAP_SYS_ADMIN change a compute mode. On a failure half-way through several
# GPUs, the ones already changed go back.
if ! out=$(nvidia-smi -c EXCLUSIVE_PROCESS 2>&1); then
        restore
        fail "cannot set the compute mode to EXCLUSIVE_PROCESS ($(echo "$out" | head -n 1)):" \
                "the container needs CAP_SYS_ADMIN (cap_add: [SYS_ADMIN])"
fi
echo "$out"

# SIGTERM (docker stop) asks the daemon to quit, which stops its server first; a daemon that does
# not answer gets SIGTERM itself. Either way the loop below waits for it before restoring.
daemon=
stopping=
on_signal() {
        stopping=1
        [ -n "$daemon" ] || return
        echo quit | timeout 10 nvidia-cuda-mps-control >/dev/null 2>&1 || kill -TERM "$daemon" 2>/dev/null
}
trap on_signal TERM INT HUP

nvidia-cuda-mps-control -f &
daemon=$!
# A signal that came before $daemon was known.
[ -z "$stopping" ] || on_signal
rc=0
while kill -0 "$daemon" 2>/dev/null; do
        wait "$daemon"
        rc=$?
done
restore
if [ -n "$stopping" ]; then
        echo "$me: stopped"
        exit 0
fi
fail "nvidia-cuda-mps-control exited with status $rc (its log: $logs/control.log)"
