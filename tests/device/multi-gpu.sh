#!/usr/bin/env bash
# Runs on the GPU machine (issue 12), for any number N >= 1 of GPUs:
#   inventory  nvidia-container-cli info (text, --csv, --json) and list (--json, per --device)
#              against nvidia-smi -q, /proc/driver/nvidia/gpus and /dev: index, minor, UUID, bus id
#   isolation  one container per GPU, all started at once, in each mode (runc + hook, shim legacy,
#              shim cdi): each sees exactly its GPU (nvidia-smi -L, CUDA, /dev) and the device
#              cgroup refuses a node of every other GPU that the container makes itself with mknod
#              (EPERM on open, while the node of its own GPU opens); then selections by count,
#              index list, UUID, UUID list, bus id and "all"
#   peer       tests/device/peer.cu on the host and in one container with every GPU: the same
#              peer-access matrix and cudaMemcpyPeer bandwidth within PEER_TOL; NVSwitch nodes and
#              the fabric manager socket when the machine has them
#   cost       create+start over plain runc with 1, 2, 4, 8 GPUs (capped at N), hook and both shim
#              modes, warm (NVML cache kept) and cold (/run/nctk/nvml-* removed before each start)
# Checks that need two GPUs print "not run - ...: needs ≥2 GPUs" on one and are counted apart:
# a run passes when nothing failed, and says how much was not run.
# usage: BIN=out/device-bin OUT=dir tests/device/multi-gpu.sh [all|inventory|isolation|peer|cost]...
#   COST_WARM=15 COST_COLD=5 rounds; PEER_TOL=0.15 relative bandwidth tolerance.
#   NCTK_SIM_ROOT=DIR (a root made by tests/sim/nctk-sim --layout nvidia): the same checks
#   against the simulated driver on a machine without GPUs; CUDA checks are then not run.
set -uo pipefail
parts=()
for p in "${@:-all}"; do
        case $p in
        all) parts+=(inventory isolation peer cost) ;;
        inventory | isolation | peer | cost) parts+=("$p") ;;
        *) echo "multi-gpu.sh: unknown part '$p' (use all, inventory, isolation, peer or cost)" >&2; exit 2 ;;
        esac
done
export NCTK_DEVICE_WORK=multi
# shellcheck source=tests/device/common.sh
. "$(dirname "$0")/common.sh"
notrun=0
not_run() { echo "not run - $1: $2"; notrun=$((notrun + 1)); }
# Adds the ok/FAIL/not run lines of a check's output file to the counts.
tally() {
        pass=$((pass + $(grep -c '^ok - ' "$1")))
        fail=$((fail + $(grep -c '^FAIL - ' "$1")))
        notrun=$((notrun + $(grep -c '^not run - ' "$1")))
}
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

sim=${NCTK_SIM_ROOT:-}
cli_root=()
if [ -n "$sim" ]; then
        sim=$(readlink -f "$sim")
        smi() { chroot "$sim" /usr/local/nvidia/bin/nvidia-smi "$@"; }
        cli_root=(--root "$sim" --proc-root "$sim/proc")
        printf '\n[nvidia-container-cli]\nroot = "%s"\nproc-root = "%s/proc"\n' "$sim" "$sim" |
                tee -a "$work/config.toml" >> "$work/config-cdi.toml"
        devdir=$sim/dev procdir=$sim/proc own_open=ENXIO cuda=no
else
        smi() { nvidia-smi "$@"; }
        devdir=/dev procdir=/proc own_open=ok cuda=yes
fi
cli() { "$BIN/nctk" nvidia-container-cli "${cli_root[@]}" "$@"; }

# The image of common.sh, plus the probe (mknod-open), peer and the applets the scripts use.
cp "$BIN/probe" "$rootfs/"
[ "$cuda" = yes ] && cp "$BIN/peer" "$rootfs/"
for c in sed head sort; do ln -s busybox "$rootfs/bin/$c"; done

# The machine's GPUs as nvidia-smi -q shows them: "index minor uuid busid" per line, in index order.
smi -q > "$OUT/mg-smi-q.txt"
python3 - "$OUT/mg-smi-q.txt" > "$work/gpus" <<'PY'
import re, sys
gpus, cur = [], None
for line in open(sys.argv[1]):
    if re.match(r"^GPU [0-9A-Fa-f]+:", line):
        cur = {}
        gpus.append(cur)
        continue
    m = re.match(r"^\s+(Minor Number|GPU UUID|Bus Id)\s*:\s*(\S+)", line)
    if cur is not None and m and m.group(1) not in cur:
        cur[m.group(1)] = m.group(2)
for i, g in enumerate(gpus):
    print(i, g.get("Minor Number", "?"), g.get("GPU UUID", "?"), g.get("Bus Id", "?"))
PY
N=$(wc -l < "$work/gpus")
mapfile -t MINOR < <(cut -d' ' -f2 "$work/gpus")
mapfile -t UUID < <(cut -d' ' -f3 "$work/gpus")
mapfile -t BUS < <(cut -d' ' -f4 "$work/gpus")
echo "# $(date -u +%FT%TZ) $N GPU(s)${sim:+ (simulated: $sim)}; index minor uuid bus id:"
sed 's/^/#   /' "$work/gpus"
if [ "$N" -lt 1 ]; then echo "FAIL - nvidia-smi -q lists no GPU"; exit 1; fi

# mg_bundle NAME MODE SCRIPT ENV...: a bundle whose process may mknod; MODE hook gets the prestart
# hook as dockerd adds it, any other mode none (the shim adds what it needs; plain runc nothing).
mg_bundle() {
        local b=$work/$1 mode=$2 script=$3
        shift 3
        mkdir -p "$b"
        cp -a "$rootfs" "$b/rootfs"
        (cd "$b" && "$BIN/runc" spec)
        python3 - "$b" "$script" "$mode" "$work/bin/nvidia-container-runtime-hook" "$work/config.toml" "$@" <<'PY'
import json, sys
b, script, mode, hookpath, cfg, env = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]
p = f"{b}/config.json"
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/sh", "-c", script]
c["process"]["env"] += env
for kind in ("bounding", "effective", "permitted"):
    c["process"]["capabilities"][kind].append("CAP_MKNOD")
c["root"] = {"path": f"{b}/rootfs", "readonly": False}
if mode == "hook":
    c["hooks"] = {"prestart": [{"path": hookpath, "args": ["nvidia-container-runtime-hook", "prestart"],
                                "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                                        f"NVIDIA_CTK_CONFIG_FILE_PATH={cfg}"]}]}
json.dump(c, open(p, "w"), indent=1)
PY
        echo "$b"
}
# run_ctr MODE BUNDLE ID: runs the container as that mode's engine would, then deletes it.
run_ctr() {
        local rc
        case $1 in
        hook) "$BIN/runc" run --bundle "$2" "$3" ;;
        legacy) NVIDIA_CTK_CONFIG_FILE_PATH=$work/config.toml "$work/bin/nvidia-container-runtime" run --bundle "$2" "$3" ;;
        cdi) NVIDIA_CTK_CONFIG_FILE_PATH=$work/config-cdi.toml "$work/bin/nvidia-container-runtime" run --bundle "$2" "$3" ;;
        esac
        rc=$?
        "$BIN/runc" delete -f "$3" >/dev/null 2>&1
        return $rc
}
# CUDA and /proc write "0000:18:00.0", NVML "00000000:18:00.0": one form to compare them.
norm_bus() { python3 -c 'import sys; d,b,rest=sys.argv[1].lower().split(":"); print(f"{int(d,16):x}:{b}:{rest}")' "$1"; }
modes=(hook legacy cdi)
# What a container prints about its GPUs: "smi: " lines, "gpu-nodes: K", CUDA's "device" lines.
# shellcheck disable=SC2016 # expanded by the container's shell
view='nvidia-smi -L 2>&1 | sed "s/^/smi: /"; echo "gpu-nodes: $(ls /dev | grep -c "^nvidia[0-9]")"'
[ "$cuda" = yes ] && view="$view; /peer list"
# cuda_busids FILE: the bus ids CUDA listed ("device I BUSID NAME" lines of peer list), sorted.
cuda_busids() { for b in $(sed -n 's/^device [0-9]* \([^ ]*\) .*/\1/p' "$1"); do norm_bus "$b"; done | sort | tr '\n' ' '; }
# smi_uuids FILE: the UUIDs nvidia-smi -L listed, sorted.
smi_uuids() { grep -o 'smi: GPU [0-9]*: .*UUID: GPU-[^)]*' "$1" | sed 's/.*UUID: //' | sort | tr '\n' ' '; }

part_inventory() {
        cli info > "$OUT/mg-info.txt"
        cli info --csv > "$OUT/mg-info.csv"
        cli info --json > "$OUT/mg-info.json"
        cli list > "$OUT/mg-list.txt"
        cli list --json > "$OUT/mg-list.json"
        for i in $(seq 0 $((N - 1))); do cli list --device="$i" --json > "$OUT/mg-list-$i.json"; done
        python3 - "$work/gpus" "$OUT" "$procdir" "$devdir" <<'PY' | tee "$work/inventory.out"
import csv, json, os, re, stat, sys
gpus_file, out, procdir, devdir = sys.argv[1:]
smi = [dict(zip(("index", "minor", "uuid", "bus"), l.split())) for l in open(gpus_file)]
def bus(s):
    d, b, rest = s.lower().split(":")
    return f"{int(d, 16):x}:{b}:{rest}"
# info, text: blocks of "Key:   value".
info, cur = [], None
for line in open(f"{out}/mg-info.txt"):
    k, _, v = line.partition(":")
    v = v.strip()
    if k == "Device Index":
        cur = {"index": v}
        info.append(cur)
    elif cur is not None and k in ("Device Minor", "GPU UUID", "Bus Location"):
        cur[{"Device Minor": "minor", "GPU UUID": "uuid", "Bus Location": "bus"}[k]] = v
rows = list(csv.reader(open(f"{out}/mg-info.csv")))
hdr = rows.index(["Device Index", "Device Minor", "Model", "Brand", "GPU UUID", "Bus Location", "Architecture"])
csv_gpus = [{"index": r[0], "minor": r[1], "uuid": r[4], "bus": r[5]} for r in rows[hdr + 1:] if r]
js = [{"index": str(g["index"]), "minor": str(g["minor"]), "uuid": g["uuid"], "bus": g["bus_id"]}
      for g in json.load(open(f"{out}/mg-info.json"))["gpus"]]
# /proc/driver/nvidia/gpus/<bus>/information: the kernel's own minor for each bus id.
proc = {}
pdir = f"{procdir}/driver/nvidia/gpus"
for d in os.listdir(pdir):
    txt = open(f"{pdir}/{d}/information").read()
    proc[bus(d)] = {"minor": re.search(r"Device Minor:\s*(\d+)", txt).group(1),
                    "uuid": re.search(r"GPU UUID:\s*(\S+)", txt).group(1)}
def gpu_nodes(paths):
    return sorted(int(m.group(1)) for p in paths if (m := re.search(r"/dev/nvidia(\d+)$", p)))
listed = gpu_nodes(json.load(open(f"{out}/mg-list.json")).get("device", []))
listed_text = gpu_nodes(l.strip() for l in open(f"{out}/mg-list.txt"))
n = len(smi)
for name, got in (("info", info), ("info --csv", csv_gpus), ("info --json", js)):
    print(("ok" if len(got) == n else "FAIL") + f" - {name}: {len(got)} GPUs, nvidia-smi -q {n}")
print(("ok" if len(proc) == n else "FAIL") + f" - /proc/driver/nvidia/gpus: {len(proc)} GPUs, nvidia-smi -q {n}")
print("# index -> minor (nvidia-smi -q): " + ", ".join(f"{g['index']}->{g['minor']}" for g in smi))
for g in smi:
    i, want = int(g["index"]), (g["index"], g["minor"], g["uuid"], bus(g["bus"]))
    bad = []
    for name, src in (("info", info), ("info --csv", csv_gpus), ("info --json", js)):
        s = src[i] if i < len(src) else {}
        got = (s.get("index"), s.get("minor"), s.get("uuid"), bus(s["bus"]) if "bus" in s else None)
        if got != want:
            bad.append(f"{name} {got}")
    p = proc.get(bus(g["bus"]), {})
    if (p.get("minor"), p.get("uuid")) != (g["minor"], g["uuid"]):
        bad.append(f"/proc {p}")
    node = f"{devdir}/nvidia{g['minor']}"
    try:
        st = os.stat(node)
        if not stat.S_ISCHR(st.st_mode) or (os.major(st.st_rdev), os.minor(st.st_rdev)) != (195, int(g["minor"])):
            bad.append(f"{node} is not 195:{g['minor']}")
    except OSError as e:
        bad.append(f"{node}: {e.strerror}")
    one = gpu_nodes(json.load(open(f"{out}/mg-list-{i}.json")).get("device", []))
    if one != [int(g["minor"])]:
        bad.append(f"list --device={i} --json gives /dev/nvidia{one}")
    print(("FAIL" if bad else "ok") + f" - GPU {i}: minor {g['minor']} {g['uuid']} {g['bus']}"
          + (" (nvidia-smi -q, info, --csv, --json, /proc, /dev, list --device)" if not bad else ": " + "; ".join(bad)))
want_nodes = sorted(int(g["minor"]) for g in smi)
for name, got in (("list", listed_text), ("list --json", listed)):
    print(("ok" if got == want_nodes else "FAIL") + f" - {name}: GPU nodes of minors {got}, want {want_nodes}")
PY
        tally "$work/inventory.out"
        check "list --device=$N (one past the last): one error line" "$(cli list --device="$N" 2>&1 >/dev/null | wc -l)" "1"
}

# iso_check MODE I FILE RC: what container I of MODE printed.
iso_check() {
        local m=$1 i=$2 f=$3 rc=$4 k
        check "$m, GPU $i: container exit" "$rc" "0"
        check "$m, GPU $i: nvidia-smi -L" "$(smi_uuids "$f")" "${UUID[$i]} "
        check "$m, GPU $i: GPU nodes in /dev" "$(sed -n 's/^gpu-nodes: //p' "$f")" "1"
        if [ "$cuda" = yes ]; then
                check "$m, GPU $i: CUDA sees" "$(cuda_busids "$f")" "$(norm_bus "${BUS[$i]}") "
                check "$m, GPU $i: CUDA program" "$(grep -c '^vecadd ok' "$f")" "1"
        fi
        check "$m, GPU $i: own node 195:${MINOR[$i]} made in the container opens" \
                "$(sed -n 's|^mknod-open /dev/mg-mine ||p' "$f")" "$own_open"
        if [ "$N" -lt 2 ]; then
                not_run "$m, GPU $i: another GPU's node refused by the device cgroup" "needs ≥2 GPUs"
                return
        fi
        for k in $(seq 0 $((N - 1))); do
                [ "$k" = "$i" ] && continue
                check "$m, GPU $i: node 195:${MINOR[$k]} of GPU $k made in the container" \
                        "$(sed -n "s|^mknod-open /dev/mg-other${MINOR[$k]} ||p" "$f")" "EPERM"
        done
}

# sel_run MODE NAME VALUE INDEX...: a container asking NVIDIA_VISIBLE_DEVICES=VALUE gets exactly
# the GPUs of INDEX... Started in the background; sel_check reads the result.
sel_specs=()
part_isolation() {
        local m i k s b probe
        for m in "${modes[@]}"; do
                for i in $(seq 0 $((N - 1))); do
                        probe="/probe mknod-open /dev/mg-mine 195 ${MINOR[$i]}"
                        for k in $(seq 0 $((N - 1))); do
                                [ "$k" = "$i" ] || probe="$probe; /probe mknod-open /dev/mg-other${MINOR[$k]} 195 ${MINOR[$k]}"
                        done
                        s="$view; $probe"
                        [ "$cuda" = yes ] && s="$s; /vecadd"
                        mg_bundle "iso-$m-$i" "$m" "$s" "NVIDIA_VISIBLE_DEVICES=$i" \
                                NVIDIA_DRIVER_CAPABILITIES=compute,utility >/dev/null
                done
                # All of this mode's containers at once.
                for i in $(seq 0 $((N - 1))); do
                        (run_ctr "$m" "$work/iso-$m-$i" "mg-iso-$m-$i-$$" > "$work/iso-$m-$i.out" 2>&1
                         echo $? > "$work/iso-$m-$i.rc") &
                done
                wait
                for i in $(seq 0 $((N - 1))); do
                        cp "$work/iso-$m-$i.out" "$OUT/mg-iso-$m-$i.txt"
                        iso_check "$m" "$i" "$work/iso-$m-$i.out" "$(cat "$work/iso-$m-$i.rc")"
                done
        done

        # Selections: NAME|VALUE|INDEXES. docker --gpus 2 sets NVIDIA_VISIBLE_DEVICES=0,1.
        local last=$((N - 1)) idx
        sel_specs=("UUID of GPU $last|${UUID[$last]}|$last"
                   "bus id of GPU $last|${BUS[$last]}|$last"
                   "all|all|$(seq -s' ' 0 $last)")
        if [ "$N" -ge 2 ]; then
                idx="1 0"
                [ "$N" -ge 4 ] && idx="1 3"
                sel_specs+=("count 2 (--gpus 2)|0,1|0 1"
                            "index list ${idx/ /,}|${idx/ /,}|$idx"
                            "UUID list of GPUs $last,0|${UUID[$last]},${UUID[0]}|0 $last")
        else
                not_run "selection by count 2, by index list, by UUID list" "needs ≥2 GPUs"
        fi
        for m in "${modes[@]}"; do
                for k in "${!sel_specs[@]}"; do
                        IFS='|' read -r _ s _ <<< "${sel_specs[$k]}"
                        mg_bundle "sel-$m-$k" "$m" "$view" "NVIDIA_VISIBLE_DEVICES=$s" \
                                NVIDIA_DRIVER_CAPABILITIES=compute,utility >/dev/null
                        (run_ctr "$m" "$work/sel-$m-$k" "mg-sel-$m-$k-$$" > "$work/sel-$m-$k.out" 2>&1
                         echo $? > "$work/sel-$m-$k.rc") &
                done
                wait
                for k in "${!sel_specs[@]}"; do
                        IFS='|' read -r name s idx <<< "${sel_specs[$k]}"
                        { echo "# $m, $name: NVIDIA_VISIBLE_DEVICES=$s"; cat "$work/sel-$m-$k.out"; } > "$OUT/mg-sel-$m-$k.txt"
                        local want_u="" want_b=""
                        for i in $idx; do want_u+="${UUID[$i]}"$'\n'; want_b+="$(norm_bus "${BUS[$i]}")"$'\n'; done
                        check "$m, $name: container exit" "$(cat "$work/sel-$m-$k.rc")" "0"
                        check "$m, $name: nvidia-smi -L" "$(smi_uuids "$work/sel-$m-$k.out")" \
                                "$(printf %s "$want_u" | sort | tr '\n' ' ')"
                        check "$m, $name: GPU nodes in /dev" "$(sed -n 's/^gpu-nodes: //p' "$work/sel-$m-$k.out")" \
                                "$(wc -w <<< "$idx")"
                        [ "$cuda" = yes ] && check "$m, $name: CUDA sees" "$(cuda_busids "$work/sel-$m-$k.out")" \
                                "$(printf %s "$want_b" | sort | tr '\n' ' ')"
                done
        done
}

part_peer() {
        local b f
        if [ "$cuda" != yes ]; then
                not_run "peer access, host against container" "the simulated driver has no CUDA"
        else
                CUDA_DEVICE_ORDER=PCI_BUS_ID "$BIN/peer" > "$OUT/mg-peer-host.txt" 2>&1
                check "peer on the host: exit" "$?" "0"
                b=$(mg_bundle peer hook "/peer" NVIDIA_VISIBLE_DEVICES=all \
                        NVIDIA_DRIVER_CAPABILITIES=compute,utility CUDA_DEVICE_ORDER=PCI_BUS_ID)
                run_ctr hook "$b" "mg-peer-$$" > "$OUT/mg-peer-container.txt" 2>&1
                check "peer in a container with all GPUs: exit" "$?" "0"
                python3 - "$OUT/mg-peer-host.txt" "$OUT/mg-peer-container.txt" "$N" "${PEER_TOL:-0.15}" <<'PY' | tee "$work/peer.out"
import sys
host_f, ctr_f, n, tol = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
def bus(s):
    d, b, rest = s.lower().split(":")
    return f"{int(d, 16):x}:{b}:{rest}"
def parse(f):
    dev, acc, bw = {}, {}, {}
    for line in open(f):
        w = line.split()
        if w[:1] == ["device"]:
            dev[w[1]] = bus(w[2])
        elif w[:1] == ["access"]:
            acc[(dev[w[1]], dev[w[2]])] = int(w[3])
        elif w[:1] == ["bw"]:
            bw[(dev[w[1]], dev[w[2]])] = float(w[3])
    return dev, acc, bw
hd, ha, hb = parse(host_f)
cd, ca, cb = parse(ctr_f)
print(("ok" if len(cd) == len(hd) == n else "FAIL") + f" - peer: GPUs seen by CUDA: host {len(hd)}, container {len(cd)}, want {n}")
print(("ok" if sorted(cd.values()) == sorted(hd.values()) else "FAIL") + " - peer: the same bus ids in the container")
if n < 2:
    print("not run - peer access and bandwidth between GPUs: needs ≥2 GPUs")
    sys.exit(0)
pairs = sorted(ha)
print(("ok" if ca == ha else "FAIL") + f" - peer: cudaDeviceCanAccessPeer, {len(pairs)} ordered pairs: "
      f"host {sum(ha.values())} can, container {sum(ca.values())} can")
worst, bad = 0.0, []
print("# cudaMemcpyPeer GB/s, host / container (src bus -> dst bus, peer access)")
for p in pairs:
    h, c = hb.get(p), cb.get(p)
    if h is None or c is None:
        bad.append(f"{p}: missing")
        continue
    d = abs(c - h) / h if h else float("inf")
    worst = max(worst, d)
    print(f"#   {p[0]} -> {p[1]}  access {ha[p]}  {h:8.1f} / {c:8.1f}  ({100 * (c - h) / h:+.1f}%)")
    if d > tol:
        bad.append(f"{p[0]}->{p[1]} host {h} container {c}")
print(("FAIL" if bad else "ok") + f" - peer: bandwidth within {100 * tol:.0f}% for every pair "
      f"(worst {100 * worst:.1f}%)" + ("; " + "; ".join(bad) if bad else ""))
hv = sorted(hb.values())
print(f"# host bandwidth: min {hv[0]:.1f}, median {hv[len(hv) // 2]:.1f}, max {hv[-1]:.1f} GB/s")
PY
                tally "$work/peer.out"
        fi

        # NVSwitch nodes only when asked for (the reference: NVIDIA_NVSWITCH=enabled in its
        # legacy mode); the fabric manager socket with the utility capability.
        local sw
        sw=$(find "$devdir" -maxdepth 1 -name 'nvidia-nvswitch*' 2>/dev/null | wc -l)
        if [ "$sw" -eq 0 ]; then
                not_run "NVSwitch nodes in the container exactly when requested" "no $devdir/nvidia-nvswitch* on this machine"
        else
                for req in no yes; do
                        local env=(NVIDIA_VISIBLE_DEVICES=all "NVIDIA_DRIVER_CAPABILITIES=compute,utility")
                        [ "$req" = yes ] && env+=(NVIDIA_NVSWITCH=enabled)
                        b=$(mg_bundle "sw-$req" legacy 'ls /dev | grep -c "^nvidia-nvswitch"' "${env[@]}")
                        f=$(run_ctr legacy "$b" "mg-sw-$req-$$" 2>&1 | tail -1)
                        if [ "$req" = yes ]; then
                                check "NVSwitch nodes with NVIDIA_NVSWITCH=enabled (shim legacy)" "$f" "$sw"
                        else
                                check "NVSwitch nodes without a request (shim legacy)" "$f" "0"
                        fi
                done
        fi
        f=$(find "$sim/run/nvidia-fabricmanager/socket" "$sim/var/run/nvidia-fabricmanager/socket" -maxdepth 0 -type s 2>/dev/null | head -1)
        if [ -z "$f" ]; then
                not_run "fabric manager socket in the container" "no fabric manager socket on this machine"
        else
                # At the path the host resolves it to (/var/run is a link to /run on hosts and
                # in most images, not in this one).
                b=$(mg_bundle fm hook 'for d in /run /var/run; do test -S $d/nvidia-fabricmanager/socket && echo fm-socket; done' \
                        NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility)
                check "fabric manager socket in a container with utility" \
                        "$(run_ctr hook "$b" "mg-fm-$$" 2>&1 | grep -c '^fm-socket')" "1"
        fi
}

part_cost() {
        local c k m list counts=()
        for k in 1 2 4 8; do
                c=$((k < N ? k : N))
                [[ " ${counts[*]} " == *" $c "* ]] || counts+=("$c")
        done
        mg_bundle cost-plain none true >/dev/null
        for c in "${counts[@]}"; do
                list=$(seq -s, 0 $((c - 1)))
                for m in "${modes[@]}"; do
                        mg_bundle "cost-$m-$c" "$m" true "NVIDIA_VISIBLE_DEVICES=$list" \
                                NVIDIA_DRIVER_CAPABILITIES=compute,utility >/dev/null
                done
        done
        python3 - "$BIN/runc" "$work" "${COST_WARM:-15}" "${COST_COLD:-5}" "${counts[@]}" <<'PY' 2>&1 | tee "$OUT/mg-cost.txt" "$work/cost.out"
import glob, os, statistics, subprocess, sys, time
runc, work, warm, cold, counts = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
shim = f"{work}/bin/nvidia-container-runtime"
modes = {"hook": ([runc], None), "legacy": ([shim], f"{work}/config.toml"), "cdi": ([shim], f"{work}/config-cdi.toml")}
cases = [("plain", 0, [runc], None, f"{work}/cost-plain")]
cases += [(m, int(c), cmd, cfg, f"{work}/cost-{m}-{c}") for c in counts for m, (cmd, cfg) in modes.items()]
# Not pipes: the container's init keeps create's stdout and stderr open until it exits.
errf = open(f"{work}/cost-stderr", "w+")
quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf)
def drop_cache():
    for f in glob.glob("/run/nctk/nvml-*"):
        os.unlink(f)
def create_start(cmd, cfg, b, cid):
    env = dict(os.environ)
    if cfg:
        env["NVIDIA_CTK_CONFIG_FILE_PATH"] = cfg
    t0 = time.perf_counter()
    for args in (["create", "--bundle", b, cid], ["start", cid]):
        errf.seek(0)
        errf.truncate()
        p = subprocess.run(cmd + args, env=env, **quiet)
        if p.returncode:
            errf.seek(0)
            print(f"FAIL - cost: {' '.join(cmd + args)}: exit {p.returncode}: {errf.read().strip()[-300:]}")
            sys.exit(1)
    dt = (time.perf_counter() - t0) * 1e3
    subprocess.run([runc, "delete", "-f", cid], capture_output=True)
    return dt
t = {(kind, c[0], c[1]): [] for kind in ("warm", "cold") for c in cases}
for name, n, cmd, cfg, b in cases:  # one untimed start each: page cache, NVML cache
    create_start(cmd, cfg, b, f"mgc-w-{name}-{n}")
t0 = time.perf_counter()
for kind, rounds in (("warm", warm), ("cold", cold)):
    for r in range(rounds):
        for name, n, cmd, cfg, b in cases:
            if kind == "cold":
                drop_cache()
            t[(kind, name, n)].append(create_start(cmd, cfg, b, f"mgc-{kind[0]}{r}-{name}-{n}"))
            if kind == "cold" and name != "plain" and not glob.glob("/run/nctk/nvml-*"):
                print(f"FAIL - cost: no /run/nctk/nvml-* after a cold {name} start: the cache is not where this test drops it")
                sys.exit(1)
print(f"ok - cost: {sum(len(v) for v in t.values())} create+start, every one exit 0, in {time.perf_counter() - t0:.0f} s")
med = {k: statistics.median(v) for k, v in t.items() if v}
print(f"# create+start, median ms; overhead over plain runc in the same rounds "
      f"(warm: {warm} rounds, cold: {cold} rounds, /run/nctk/nvml-* removed before each start)")
print(f"# plain runc: warm {med[('warm', 'plain', 0)]:.1f} ms" + (f", cold rounds {med[('cold', 'plain', 0)]:.1f} ms" if cold else ""))
print("# GPUs | hook warm | legacy warm | cdi warm | hook cold | legacy cold | cdi cold")
for c in counts:
    cells = []
    for kind in ("warm", "cold"):
        for m in modes:
            k = (kind, m, int(c))
            cells.append(f"{med[k] - med[(kind, 'plain', 0)]:+.1f}" if k in med else "-")
    print(f"# {int(c):4d} | " + " | ".join(f"{x:>9s}" for x in cells))
PY
        tally "$work/cost.out"
}

for p in "${parts[@]}"; do
        start=$SECONDS
        echo "# part $p"
        "part_$p"
        echo "# part $p: $((SECONDS - start)) s"
done
echo "# multi-gpu ($N GPUs, ${parts[*]}): $pass passed, $fail failed, $notrun not run"
[ "$fail" -eq 0 ]
