#!/usr/bin/env bash
# Runs on the GPU machine: nctk's MPS shares on the H200. `nctk mps start` with a 25% thread
# percentage and a 2 GiB pinned memory limit; a plain GPU container (no MPS variables) run by
# runc through the shim in cdi mode becomes a client and sees about a quarter of the SMs, a
# cudaMalloc above the limit fails, an image that sets CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=100 gets
# no more; nvidia-smi shows the server and the clients (M+C); a prestart-hook-only container
# (no variables set) is a client too; `nctk mps stop` restores DEFAULT and leaves nothing. Also
# records what a client on the host gets when it asks for 100% itself (does the daemon's default
# cap it?).
# usage: BIN=out/device-bin OUT=dir tests/device/mps.sh        (about 60 s)
set -uo pipefail
NCTK_DEVICE_WORK=mps
# shellcheck source=tests/device/common.sh
source "$(dirname "$0")/common.sh"

nvcc -O2 -o "$rootfs/mpsprobe" "$here/mpsprobe.cu" || exit 1
mps_root=/run/nvidia-mps # the default: the prestart hook finds it without a config key
nctk() { "$BIN/nctk" "$@"; }
cleanup() {
        nctk mps stop >/dev/null 2>&1
        nvidia-smi -i 0 -c DEFAULT >/dev/null 2>&1
        rm -rf "$work"
}
trap cleanup EXIT
smi_mode() { nvidia-smi -i 0 --query-gpu=compute_mode --format=csv,noheader; }
sms_of() { sed -n 's/^sms \([0-9]*\).*/\1/p' <<<"$1" | head -1; }
quarter() { [ -n "$1" ] && [ "$1" -gt 0 ] && [ "$1" -le 34 ] && echo yes || echo "no ($1)"; }
total=$(nvidia-smi -i 0 --query-gpu=name --format=csv,noheader)
echo "GPU 0: $total"

check "compute mode before" "$(smi_mode)" "Default"
nctk mps start --device=0 --thread-percentage=25 --pinned-memory-limit=2G >"$OUT/mps-start.txt" 2>&1
check "mps start" "$?" "0"
cat "$OUT/mps-start.txt"
check "compute mode while the daemon runs" "$(smi_mode)" "Exclusive_Process"
nctk mps status | tee "$OUT/mps-status-idle.txt"

shim() { NVIDIA_CTK_CONFIG_FILE_PATH=$work/config-cdi.toml "$work/bin/nvidia-container-runtime" "$@"; }
# shellcheck disable=SC2086 # gpu_env holds two words
b1=$(bundle plain "/mpsprobe 12 1024 4096" no $gpu_env)
# shellcheck disable=SC2086
b2=$(bundle greedy "/mpsprobe 12 1024" no $gpu_env CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=100)
shim run --bundle "$b1" mps-plain >"$work/plain.txt" 2>&1 &
p1=$!
shim run --bundle "$b2" mps-greedy >"$work/greedy.txt" 2>&1 &
p2=$!
sleep 6
nvidia-smi | tee "$OUT/mps-nvidia-smi.txt"
nctk mps status | tee "$OUT/mps-status-busy.txt"
wait $p1 $p2
"$BIN/runc" delete --force mps-plain >/dev/null 2>&1
"$BIN/runc" delete --force mps-greedy >/dev/null 2>&1
plain=$(cat "$work/plain.txt")
greedy=$(cat "$work/greedy.txt")
echo "$plain" | sed 's/^/plain: /'
echo "$greedy" | sed 's/^/greedy: /'
check "plain container sees about 25% of the SMs" "$(quarter "$(sms_of "$plain")")" "yes"
check "... with the variable nctk set" "$(grep -c 'CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=25)' <<<"$plain")" "1"
check "cudaMalloc below the 2 GiB limit" "$(grep -c '^malloc 1024 ok' <<<"$plain")" "1"
check "cudaMalloc above the 2 GiB limit fails" "$(grep -c '^malloc 4096 ok' <<<"$plain")" "0"
check "an image asking for 100% gets no more" "$(quarter "$(sms_of "$greedy")")" "yes"
check "nvidia-smi shows the MPS server" "$(grep -c nvidia-cuda-mps-server "$OUT/mps-nvidia-smi.txt" | awk '{print ($1 > 0)}')" "1"
check "nvidia-smi shows two M+C clients" "$(grep -c 'M+C' "$OUT/mps-nvidia-smi.txt")" "2"
check "status lists the clients by container" "$(grep -o 'container [0-9a-z-]*' "$OUT/mps-status-busy.txt" | wc -l | awk '{print ($1 >= 1)}')" "1"

# The prestart hook alone (no runtime shim, nobody sets the variables): the mount at CUDA's
# default pipe directory makes it a client, and the daemon's default still limits it.
# shellcheck disable=SC2086
b3=$(bundle hookonly "/mpsprobe 0" yes $gpu_env)
hook_out=$("$BIN/runc" run --bundle "$b3" mps-hook 2>&1)
"$BIN/runc" delete --force mps-hook >/dev/null 2>&1
echo "$hook_out" | sed 's/^/hook-only: /'
check "hook-only container is a client at about 25%" "$(quarter "$(sms_of "$hook_out")")" "yes"

# What a client that asks for more than the daemon's default gets (the docs' question).
pipe=$(ls -d "$mps_root"/GPU-*/pipe | head -1)
host100=$(CUDA_MPS_PIPE_DIRECTORY=$pipe CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=100 "$rootfs/mpsprobe" 0 2>&1)
host10=$(CUDA_MPS_PIPE_DIRECTORY=$pipe CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=10 "$rootfs/mpsprobe" 0 2>&1)
echo "host client asking 100%: $host100" | tee "$OUT/mps-own-share.txt"
echo "host client asking 10%: $host10" | tee -a "$OUT/mps-own-share.txt"
# An observation of the driver's behaviour, not of nctk's (nctk replaces an image's value anyway):
# NVIDIA's documentation says a client's own value can only lower the daemon's default.
echo "observation: a client's own 100% stays within the daemon's 25%: $(quarter "$(sms_of "$host100")")" |
        tee -a "$OUT/mps-own-share.txt"

nctk mps stop >"$OUT/mps-stop.txt" 2>&1
check "mps stop" "$?" "0"
cat "$OUT/mps-stop.txt"
check "compute mode after stop" "$(smi_mode)" "Default"
# Zombies are not processes left running (the machine's init reaps them when it gets to it).
ps -eo pid=,ppid=,stat=,etime=,comm= | grep 'nvidia-cuda-mps' >>"$OUT/mps-stop.txt"
check "no MPS process left" "$(ps -eo stat=,comm= | awk '$1 !~ /^Z/ && $2 ~ /^nvidia-cuda-mps/' | wc -l)" "0"
check "no daemon directory left" "$(find "$mps_root" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" "0"
check "mounts left on the host" "$(grep -c "$work" /proc/self/mountinfo)" "0"
nctk mps stop >/dev/null
check "stop again: nothing to do" "$?" "0"

echo "mps: $pass passed, $fail failed" | tee "$OUT/mps-summary.txt"
[ "$fail" = 0 ]
