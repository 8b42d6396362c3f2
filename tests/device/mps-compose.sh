#!/usr/bin/env bash
# Runs on the GPU machine: the MPS scenario of examples/mps without docker (there is none there).
# runc containers through nctk's runtime shim (legacy mode, what `runtime: nvidia` runs), with what
# docker-compose gives them: the example's daemon entrypoint in one container (CAP_SYS_ADMIN, the
# pipe directory a host directory bind-mounted at /run/nvidia-mps, as the compose volume is), two
# clients with the same directory and their own CUDA_MPS_ACTIVE_THREAD_PERCENTAGE, each in its own
# namespaces (IPC too) and running tests/device/mps-work.cu at the same time. Then the throughput
# the documentation gives as MPS's reason: N containers each running the same fixed, partial-GPU
# work at once, time-sliced (no MPS) and under MPS.
# usage: BIN=out/device-bin OUT=dir bash tests/device/mps-compose.sh   (N=4 containers; < 3 min)
set -uo pipefail
export NCTK_DEVICE_WORK=mps
# shellcheck source=tests/device/common.sh
. "$(dirname "$0")/common.sh"
repo=$(cd "$here/../.." && pwd)
N=${N:-4}
gpu_mode() { nvidia-smi -i 0 --query-gpu=compute_mode --format=csv,noheader; }
# Bounded: a CUDA call that hangs must not hold the machine.
shim() { NVIDIA_CTK_CONFIG_FILE_PATH=$work/config.toml timeout 300 "$work/bin/nvidia-container-runtime" "$@"; }
host_mps() { CUDA_MPS_PIPE_DIRECTORY=$mps timeout 10 nvidia-cuda-mps-control; }
now_ms() { date +%s%3N; }

# The CUDA program: from scripts/device-bundle.sh, else built here.
if [ -x "$BIN/mps-work" ]; then
        cp "$BIN/mps-work" "$work/mps-work"
else
        nvcc -O2 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_75,code=compute_75 \
                -o "$work/mps-work" "$here/mps-work.cu" || exit 1
fi
for f in $(ldd "$work/mps-work" | grep -o '/[^ :]*' | grep -v "^$work"); do
        mkdir -p "$rootfs$(dirname "$f")"
        cp -L "$f" "$rootfs$f"
done
cp "$work/mps-work" "$rootfs/"
for c in mkdir timeout head kill sleep test rm; do ln -sf busybox "$rootfs/bin/$c"; done
mkdir -p "$rootfs/usr/local/bin" "$rootfs/run" "$rootfs/var/log"
cp "$repo/examples/mps/daemon/entrypoint.sh" "$rootfs/usr/local/bin/mps-daemon"
cp "$repo/examples/mps/client/mps-client.sh" "$rootfs/usr/local/bin/mps-client"

mps=$work/mps       # the compose file's volume
mpslog=$work/mps-log # the daemon's CUDA_MPS_LOG_DIRECTORY, kept for $OUT
mkdir -p "$mps" "$mpslog"
ids=()
cleanup() {
        local id
        for id in "${ids[@]}"; do
                "$BIN/runc" kill "$id" KILL >/dev/null 2>&1
                "$BIN/runc" delete -f "$id" >/dev/null 2>&1
        done
        echo quit | host_mps >/dev/null 2>&1
        [ "$(gpu_mode)" = Default ] || nvidia-smi -i 0 -c DEFAULT >/dev/null
        rm -rf "$work"
}
trap cleanup EXIT

# mps_bundle NAME SCRIPT ADMIN(yes|no) ENV...: bundle() plus the pipe directory; ADMIN: the
# daemon's CAP_SYS_ADMIN (compose's cap_add) and its log directory.
mps_bundle() {
        local name=$1 script=$2 admin=$3 b
        shift 3
        b=$(bundle "$name" "$script" no "$@")
        python3 - "$b" "$mps" "$mpslog" "$admin" <<'PY'
import json, sys
b, mps, logs, admin = sys.argv[1:]
p = f"{b}/config.json"
c = json.load(open(p))
c["mounts"].append({"destination": "/run/nvidia-mps", "type": "bind", "source": mps,
                    "options": ["rbind", "rw"]})
if admin == "yes":
    c["mounts"].append({"destination": "/var/log/nvidia-mps", "type": "bind", "source": logs,
                        "options": ["rbind", "rw"]})
    for k in ("bounding", "effective", "permitted"):
        c["process"]["capabilities"][k].append("CAP_SYS_ADMIN")
json.dump(c, open(p, "w"), indent=1)
PY
        echo "$b"
}
gpu="NVIDIA_VISIBLE_DEVICES=0 NVIDIA_DRIVER_CAPABILITIES=compute,utility CUDA_MPS_PIPE_DIRECTORY=/run/nvidia-mps"
daemon_env="$gpu NVIDIA_REQUIRE_ARCH=arch>=7.0 CUDA_MPS_LOG_DIRECTORY=/var/log/nvidia-mps"

# start NAME BUNDLE: runs the container in the background, its output in $work/NAME.out.
declare -A pid
start() {
        local id="nctk-mps-$$-$1"
        ids+=("$id")
        shim run --bundle "$2" "$id" >"$work/$1.out" 2>&1 </dev/null &
        pid[$1]=$!
}
finish() { wait "${pid[$1]}"; }

# clients PREFIX COUNT START LAUNCHES [PERCENT...]: COUNT containers running the work at START,
# through the client image's entrypoint (it checks for the daemon) but for PREFIX ts.
clients() {
        local prefix=$1 count=$2 at=$3 launches=$4 i env b entry=/usr/local/bin/mps-client
        shift 4
        [ "$prefix" != ts ] || entry=
        for ((i = 0; i < count; i++)); do
                env=$gpu
                [ $# -eq 0 ] || { env="$env CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=$1"; shift; }
                b=$(mps_bundle "$prefix$i" "exec $entry /mps-work $at $launches 32" no $env)
                start "$prefix$i" "$b"
        done
}
# makespan PREFIX COUNT: from the first start to the last end, in seconds, over the work lines.
makespan() {
        cat "$work/$1"*.out | python3 -c '
import re, sys
w = [tuple(map(int, re.search(r"start_ms=(\d+) end_ms=(\d+)", l).groups())) for l in sys.stdin if l.startswith("work ")]
print(f"{(max(e for _, e in w) - min(s for s, _ in w)) / 1e3:.3f}" if len(w) == int(sys.argv[1]) else "incomplete")' "$2"
}
oks() { cat "$work/$1"*.out | grep -c '^work .* ok$'; }
late() { cat "$work/$1"*.out | grep -c 'late by'; }

check "compute mode before" "$(gpu_mode)" "Default"

# 1. One container alone, without MPS: the SM count and the work's time, which sets LAUNCHES so
# that the work takes about 2 s alone (the time-sliced run then takes about N times that).
b=$(mps_bundle alone "exec /mps-work $(($(now_ms) + 3000)) 400 32" no $gpu)
start alone "$b"
finish alone
cat "$work/alone.out"
sms=$(sed -n 's/^sms //p' "$work/alone.out")
check "CUDA in a container: SM count" "$([ "${sms:-0}" -gt 0 ] && echo yes)" "yes"
t1=$(sed -n 's/^work .*seconds=\([0-9.]*\) .*/\1/p' "$work/alone.out")
launches=$(python3 -c "import sys; t = float(sys.argv[1] or 0); print(max(20, round(400 * 2.0 / t)) if t > 0 else 400)" "${t1:-0}")
echo "alone: $t1 s for 400 launches; launches for the runs below: $launches"

# 2. Time-sliced: N containers, no MPS, DEFAULT compute mode.
clients ts "$N" $(($(now_ms) + 5000)) "$launches"
for ((i = 0; i < N; i++)); do finish "ts$i"; done
cat "$work"/ts*.out
check "time-sliced: containers whose work checked" "$(oks ts)" "$N"
check "time-sliced: containers late for the start" "$(late ts)" "0"
ts_time=$(makespan ts "$N")

# 3. The compose scenario: the daemon, then two clients at 25% and 50% at the same time.
b=$(mps_bundle mps-daemon "exec /usr/local/bin/mps-daemon" yes $daemon_env)
start mps-daemon "$b"
for ((i = 0; i < 100; i++)); do
        [ -e "$mps/control" ] && break
        sleep 0.2
done
check "daemon: control endpoint in the shared directory" "$([ -e "$mps/control" ] && echo yes)" "yes"
check "daemon: compute mode while it runs" "$(gpu_mode)" "Exclusive_Process"
ls -la "$mps"
clients seed 2 $(($(now_ms) + 6000)) "$launches" 25 50
# Both clients have their contexts and wait for the start time: what nvidia-smi shows now.
for ((i = 0; i < 150; i++)); do
        [ "$(cat "$work"/seed*.out 2>/dev/null | grep -c '^ready$')" -ge 2 ] && break
        sleep 0.2
done
nvidia-smi | tee "$OUT/mps-nvidia-smi.txt"
servers=$(echo get_server_list | host_mps)
echo "get_server_list: $servers"
[ -z "$servers" ] || echo "get_client_list: $(echo "get_client_list ${servers%%[!0-9]*}" | host_mps | tr '\n' ' ')"
finish seed0
finish seed1
cat "$work"/seed*.out
check "nvidia-smi: MPS servers" "$(grep -c 'nvidia-cuda-mps-server' "$OUT/mps-nvidia-smi.txt")" "1"
check "nvidia-smi: M+C processes (the two clients)" "$(grep -c ' M+C ' "$OUT/mps-nvidia-smi.txt")" "2"
check "clients: said what they connect to" "$(cat "$work"/seed*.out | grep -cE '^mps-client: MPS daemon at /run/nvidia-mps, active thread percentage (25|50)$')" "2"
sm25=$(sed -n 's/^sms //p' "$work/seed0.out")
sm50=$(sed -n 's/^sms //p' "$work/seed1.out")
echo "SM count: alone $sms, at 25% $sm25, at 50% $sm50"
if [ "$sms" = 132 ]; then # the H200, measured before: 32 and 66
        check "client at 25%: SMs" "$sm25" "32"
        check "client at 50%: SMs" "$sm50" "66"
else
        check "client shares: 25% < 50% < all" "$([ "${sm25:-0}" -gt 0 ] && [ "$sm25" -lt "${sm50:-0}" ] && [ "$sm50" -lt "$sms" ] && echo yes)" "yes"
fi
check "clients: work checked" "$(oks seed)" "2"

# 4. Throughput under MPS: the same N containers as in 2, clients of the daemon.
clients mps "$N" $(($(now_ms) + 6000)) "$launches"
for ((i = 0; i < N; i++)); do finish "mps$i"; done
cat "$work"/mps[0-9]*.out
check "MPS: containers whose work checked" "$(oks mps)" "$N"
check "MPS: containers late for the start" "$(late mps)" "0"
mps_time=$(makespan mps "$N")

# 5. docker stop: SIGTERM to the daemon container; the entrypoint quits MPS and restores DEFAULT.
"$BIN/runc" kill "nctk-mps-$$-mps-daemon" TERM
finish mps-daemon
{ cat "$work/mps-daemon.out"; echo "--- control.log"; cat "$mpslog/control.log"; } >"$OUT/mps-daemon.txt" 2>&1
cat "$OUT/mps-daemon.txt"
check "daemon: stopped by SIGTERM" "$(grep -c '^mps-daemon: stopped' "$work/mps-daemon.out")" "1"
check "compute mode after the daemon" "$(gpu_mode)" "Default"
check "processes left on the GPU" "$(nvidia-smi -i 0 --query-compute-apps=pid,process_name --format=csv,noheader)" ""

# 6. The image's requirement, on this GPU: an arch it does not meet is refused in one line that
# names the architecture (a Pascal is refused by arch>=7.0 the same way; CI shows that one).
b=$(mps_bundle req "exec /usr/local/bin/mps-daemon" yes ${daemon_env/arch>=7.0/arch>=10.0})
out=$(shim run --bundle "$b" "nctk-mps-$$-req" 2>&1)
rc=$?
echo "$out"
ids+=("nctk-mps-$$-req")
check "arch>=10.0: refused" "$([ "$rc" -ne 0 ] && echo yes)" "yes"
check "arch>=10.0: the line" "$(echo "$out" | grep -c 'unsatisfied condition: arch>=10.0 (this host.s GPU has compute capability 9.0, Hopper)')" "1"

# 7. For the record: can a container without CAP_SYS_ADMIN set a compute mode? (The compose file
# gives the daemon CAP_SYS_ADMIN because the driver's check says so.)
b=$(mps_bundle noadmin "nvidia-smi -c EXCLUSIVE_PROCESS; echo rc=\$?; nvidia-smi -c DEFAULT >/dev/null" no $gpu)
start noadmin "$b"
finish noadmin
echo "info - compute mode without CAP_SYS_ADMIN: $(tr '\n' ' ' <"$work/noadmin.out")"
check "compute mode at the end" "$(gpu_mode)" "Default"

{
        echo "GPU: $(nvidia-smi -i 0 --query-gpu=name --format=csv,noheader), $sms SMs"
        echo "work per container: $launches launches of 32 blocks x 256 threads (mps-work.cu); alone: $t1 s for 400"
        echo "time-sliced (no MPS), $N containers at once: $ts_time s from first start to last end"
        echo "MPS, $N client containers at once:           $mps_time s"
        python3 -c "import sys; a, b = sys.argv[1:]; print(f'MPS / time-sliced: {float(b) / float(a):.3f} (throughput x{float(a) / float(b):.2f})')" "$ts_time" "$mps_time" 2>/dev/null
} | tee "$OUT/mps-throughput.txt"
check "throughput: MPS faster than time-sliced" "$(python3 -c "import sys; print('yes' if float(sys.argv[2]) < float(sys.argv[1]) else 'no')" "$ts_time" "$mps_time" 2>/dev/null)" "yes"
echo "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]
