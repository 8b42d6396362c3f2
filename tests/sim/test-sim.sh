#!/bin/bash
# Self-test of the simulated driver (tests/sim/nctk-sim), TAP output.
#
# Builds roots of 0, 1, 8 and 64 GPUs in both layouts (plus MIG, leftovers of an old driver, no
# NVML, a lost GPU, an RM mismatch, no device nodes) and checks them against `nctk-sim describe`:
# the ld cache made by the real ldconfig, nvidia-smi run under chroot, the fake NVML's answers and
# its API contract, and how removing or denying device nodes changes what it sees.
# Needs root (mknod, chroot), cc and python3.

set -u
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SIM=$HERE/nctk-sim
SRC=$HERE/../../src

if [ "$(id -u)" != 0 ]; then
        echo "1..0 # SKIP needs root (mknod, chroot)"
        exit 0
fi
for tool in cc python3 ldconfig chroot readelf; do
        if ! command -v "$tool" >/dev/null; then
                echo "1..0 # SKIP $tool not found"
                exit 0
        fi
done

TMP=$(mktemp -d /tmp/nctk-sim-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export NCTK_SIM_CACHE=$TMP/cache

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
        n=$((n + 1)); failed=$((failed + 1))
        echo "not ok $n - $1"
        if [ $# -gt 1 ]; then printf '%s\n' "$2" | head -40 | sed 's/^/# /'; fi
}
# skip DESCRIPTION WHY: a test point that cannot run here, counted as skipped (by meson and
# scripts/test.sh, where as root it fails the run), never as passed.
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# check DESCRIPTION COMMAND...: one test point from a command's status; its output on failure.
check() {
        local what=$1 out
        shift
        if out=$("$@" 2>&1); then ok "$what"; else not_ok "$what" "$out"; fi
}
# same OUTPUT-FILE EXPECTED-FILE DESCRIPTION
same() {
        if diff -u "$2" "$1" >"$TMP/diff" 2>&1; then ok "$3"; else not_ok "$3" "$(cat "$TMP/diff")"; fi
}

# runs WANT_STATUS TEXT DESCRIPTION COMMAND...: the command exits WANT_STATUS and prints TEXT.
runs() {
        local want=$1 text=$2 what=$3 out rc
        shift 3
        out=$("$@" 2>&1)
        rc=$?
        if [ "$rc" = "$want" ] && [[ $out == *"$text"* ]]; then
                ok "$what"
        else
                not_ok "$what" "exit status $rc, output:
$out"
        fi
}

# The oracle: what a root should answer, computed from its description.
oracle() {
        python3 - "$@" <<'EOF'
import importlib.machinery, importlib.util, os, subprocess, sys

# `nctk-sim describe`, called in-process: this runs a hundred times.
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
loader = importlib.machinery.SourceFileLoader("nctk_sim", os.environ["SIM"])
sim = importlib.util.module_from_spec(importlib.util.spec_from_loader("nctk_sim", loader))
loader.exec_module(sim)
what, root = sys.argv[1], sys.argv[2]
d = sim.load_description(root)
vis = [g for g in d["gpus"] if g["visible"]]

def resolve(root, path, depth=0):
    """Follow symlinks as if root were /."""
    parts = path.strip("/").split("/")
    cur = "/"
    for i, p in enumerate(parts):
        nxt = os.path.join(cur, p)
        full = root + nxt
        if os.path.islink(full):
            t = os.readlink(full)
            t = t if t.startswith("/") else os.path.join(cur, t)
            return resolve(root, os.path.normpath(t + "/" + "/".join(parts[i + 1:])), depth + 1)
        cur = nxt
    return os.path.normpath(cur)

if what == "smi-L":
    for i, g in enumerate(vis):
        if g["lost"]:
            print("Unable to determine the device handle for GPU%d: GPU is lost.  Reboot the "
                  "system to recover this GPU" % i)
            continue
        print("GPU %d: %s (UUID: %s)" % (i, g["model"], g["uuid"]))
        migs = [m for m in g["mig_devices"] if m["visible"]]
        for j, m in enumerate(migs):
            print("  MIG %-11s Device %2d: (UUID: %s)" % (m["profile"], j, m["uuid"]))
elif what == "smi-csv":
    for i, g in enumerate(vis):
        if not g["lost"]:
            print("%d, %s, %s, %s, %s" % (i, g["uuid"], g["busid"], g["model"], d["driver_version"]))
elif what == "probe":
    print("init 0\ndriver %s\ncuda %d\ncount %d" % (d["driver_version"], d["nvml_cuda_version"],
                                                    len(vis)))
    for i, g in enumerate(vis):
        if g["lost"]:
            print("gpu %d 15" % i)
            continue
        print("gpu %d 0 %s %s %d %d %d %s %s %d %s" % (
            i, g["uuid"], g["busid"], g["minor"], g["brand_id"], g["arch_id"], g["cc"],
            ("1" if g["mig_enabled"] else "0") if g["mig_capable"] else "na",
            g["max_mig_devices"], g["model"]))
        migs = [m for m in g["mig_devices"] if m["visible"]]
        for j, m in enumerate(migs):
            print("mig %d %d %s %d %d %s" % (i, j, m["uuid"], m["gi"], m["ci"], m["name"]))
elif what == "ldcache":
    # Every libnvidia-ml.so.1 entry must end at the current library in the layout's directory.
    out = subprocess.run(["ldconfig", "-p", "-C", root + "/etc/ld.so.cache"], check=True,
                         capture_output=True, text=True).stdout
    want = {"x86-64": "%s/libnvidia-ml.so.%s" % (d["paths"]["libdir"], d["driver_version"])}
    if d["paths"]["libdir32"]:
        want["i386"] = "%s/libnvidia-ml.so.%s" % (d["paths"]["libdir32"], d["driver_version"])
    seen = set()
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("libnvidia-ml.so.1 "):
            continue
        arch = "x86-64" if "x86-64" in line else "i386"
        path = line.split(" => ")[1]
        got = resolve(root, path)
        if got != want[arch]:
            sys.exit("%s resolves to %s, want %s" % (path, got, want[arch]))
        seen.add(arch)
    if seen != set(want):
        sys.exit("libnvidia-ml.so.1 entries for %s, want %s" % (sorted(seen), sorted(want)))
elif what == "libraries":
    # Files, SONAMEs, ELF classes, links; the leftovers of the old driver are behind no link.
    for l in d["libraries"]:
        f = root + l["path"]
        if not os.path.isfile(f) or os.path.islink(f):
            sys.exit("missing " + l["path"])
        out = subprocess.run(["readelf", "-hd", f], check=True, capture_output=True,
                             text=True).stdout
        if "Library soname: [%s]" % l["soname"] not in out:
            sys.exit("%s: SONAME is not %s" % (l["path"], l["soname"]))
        if ("ELF64" if l["arch"] == "x86_64" else "ELF32") not in out:
            sys.exit("%s: wrong ELF class" % l["path"])
        for link in l["links"]:
            if resolve(root, link["path"]) != l["path"]:
                sys.exit("%s does not lead to %s" % (link["path"], l["path"]))
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            if os.path.islink(p) and d["old_version"] and \
                    resolve(root, p[len(root):]).endswith(d["old_version"]):
                sys.exit("%s leads to the old driver" % p)
elif what == "devices":
    import stat
    for dev in d["devices"]:
        st = os.lstat(root + dev["path"])
        if not stat.S_ISCHR(st.st_mode) or stat.S_IMODE(st.st_mode) != dev["mode"] or \
                (os.major(st.st_rdev), os.minor(st.st_rdev)) != (dev["major"], dev["minor"]):
            sys.exit("%s: wrong node" % dev["path"])
    minors = [g["minor"] for g in d["gpus"]]
    if len(minors) > 1 and minors == sorted(minors):
        sys.exit("minor numbers follow the index order")
elif what == "proc":
    mm = dict(l.rsplit(" ", 1) for l in open(root + d["paths"]["mig_minors"]).read().splitlines())
    if mm["config"] != "1" or mm["monitor"] != "2" or mm["gpu0/gi0/access"] != "3" or \
            mm["gpu0/gi0/ci0/access"] != "4" or mm["gpu31/gi14/ci7/access"] != "4322":
        sys.exit("mig-minors layout")
    devices = open(root + "/proc/devices").read()
    for name, major in d["majors"].items():
        if "%3d %s\n" % (major, name) not in devices:
            sys.exit("/proc/devices lacks %d %s" % (major, name))
    for g in d["gpus"]:
        info = open(root + g["proc_dir"] + "/information").read()
        if "GPU UUID: \t %s\n" % g["uuid"] not in info or \
                "Device Minor: \t %d\n" % g["minor"] not in info or \
                "Bus Location: \t %s\n" % g["proc_busid"] not in info:
            sys.exit("bad " + g["proc_dir"] + "/information")
        for m in g["mig_devices"]:
            rel = m["gi_caps_path"].split("capabilities/")[1].replace("/mig/", "/")
            if mm[rel] != str(m["gi_cap_minor"]):
                sys.exit("mig-minors disagrees for " + rel)
            if "DeviceFileMinor: %d\n" % m["ci_cap_minor"] not in open(root + m["ci_caps_path"]).read():
                sys.exit("bad " + m["ci_caps_path"])
    if "ModifyDeviceFiles: 1\n" not in open(root + "/proc/driver/nvidia/params").read():
        sys.exit("params")
    if ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  %s  Release Build"
            % d["driver_version"]) not in open(root + "/proc/driver/nvidia/version").read():
        sys.exit("version")
elif what == "field":
    # field ROOT EXPR: print a value of the description, e.g. gpus[3]["minor"]
    print(eval(sys.argv[3], {}, {"d": d}))
else:
    sys.exit("unknown oracle " + what)
EOF
}
export SIM

# create NAME ARGS...: build $TMP/NAME
create() {
        local name=$1
        shift
        rm -rf "${TMP:?}/$name"
        "$SIM" create "$TMP/$name" "$@"
}

smi_path() { oracle field "$1" 'd["paths"]["nvidia_smi"]'; }

if ! cc -std=gnu11 -Wall -Wextra -Werror -I "$SRC" "$HERE/nvml-probe.c" -o "$TMP/nvml-probe" \
        >"$TMP/cc.log" 2>&1; then
        not_ok "nvml-probe builds" "$(cat "$TMP/cc.log")"
        echo "1..$n"
        exit 1
fi
ok "nvml-probe builds"

# --- Speed: a 64-GPU root from scratch (nothing cached), then from the cache. ----------------
start=$(date +%s.%N)
create t64 --gpus 64 --no-cache
end=$(date +%s.%N)
secs=$(python3 -c "print(round($end - $start, 2))")
check "64-GPU root without cache in ${secs}s (< 10s)" python3 -c "import sys; sys.exit($end - $start >= 10)"
create warm --gpus 1 >/dev/null  # fills the cache
start=$(date +%s.%N)
create t64c --gpus 64
end=$(date +%s.%N)
secs=$(python3 -c "print(round($end - $start, 2))")
check "64-GPU root with cache in ${secs}s (< 3s)" python3 -c "import sys; sys.exit($end - $start >= 3)"

# --- The matrix: both layouts, 0/1/8/64 GPUs, with MIG and old-driver leftovers. -------------
# full_checks ROOT: everything that compares a root with its description.
full_checks() {
        local name=$1 root=$TMP/$1 smi
        smi=$(smi_path "$root")
        check "$name: ld.so.cache entries of libnvidia-ml.so.1 lead to the layout's library" \
                oracle ldcache "$root"
        check "$name: libraries have the driver's names, SONAMEs, classes and links" \
                oracle libraries "$root"
        check "$name: device nodes" oracle devices "$root"
        check "$name: /proc tree" oracle proc "$root"
        check "$name: persistenced socket is a socket" test -S "$root/var/run/nvidia-persistenced/socket"
        check "$name: MPS pipe directory" test -d "$root/tmp/nvidia-mps"
        check "$name: firmware" test -f "$root$(oracle field "$root" 'd["firmware"][0]')"

        oracle smi-L "$root" >"$TMP/want"
        chroot "$root" "$smi" -L >"$TMP/got" 2>&1
        rc=$?
        if [ "$(oracle field "$root" 'len(d["gpus"])')" = 0 ]; then
                echo "No devices were found" >"$TMP/want"
                check "$name: chroot nvidia-smi -L exits 6 without GPUs" test "$rc" = 6
        fi
        same "$TMP/got" "$TMP/want" "$name: chroot $smi -L lists the described GPUs"

        if [ "$(oracle field "$root" 'len(d["gpus"])')" != 0 ]; then
                oracle smi-csv "$root" >"$TMP/want"
                chroot "$root" "$smi" --query-gpu=index,uuid,pci.bus_id,name,driver_version \
                        --format=csv,noheader >"$TMP/got" 2>&1
                same "$TMP/got" "$TMP/want" "$name: nvidia-smi --query-gpu"
        fi

        oracle probe "$root" >"$TMP/want"
        "$TMP/nvml-probe" "$root$(oracle field "$root" 'd["paths"]["libdir"]')/libnvidia-ml.so.1" \
                >"$TMP/got" 2>"$TMP/err"
        rc=$?
        cat "$TMP/err" >>"$TMP/got"
        same "$TMP/got" "$TMP/want" "$name: fake NVML (loaded from outside the root) answers the description and keeps its contract"
}

create debian-0 --gpus 0 && full_checks debian-0
create debian-1 --gpus 1 && full_checks debian-1
create debian-8 --gpus 8 --mig 2 --mig 5 && full_checks debian-8
full_checks t64
create debian-64-mig --gpus 64 --mig 0 --mig 63 --seed 7 && full_checks debian-64-mig
create nvidia-0 --gpus 0 --layout nvidia && full_checks nvidia-0
create nvidia-1 --gpus 1 --layout nvidia && full_checks nvidia-1
create nvidia-8 --gpus 8 --layout nvidia --mig 0 && full_checks nvidia-8
create nvidia-64 --gpus 64 --layout nvidia --mig 40 && full_checks nvidia-64
create plain --gpus 2 --no-compat32 --no-old-version && full_checks plain

# --- Layout details. --------------------------------------------------------------------------
r=$TMP/nvidia-1
check "nvidia layout: /usr/bin/nvidia-smi is a shell wrapper, not the driver's binary" \
        bash -c "head -c 2 '$r/usr/bin/nvidia-smi' | grep -q '#!' && ! readelf -h '$r/usr/bin/nvidia-smi' >/dev/null 2>&1"
check "nvidia layout: the real nvidia-smi is an ELF executable in /usr/local/nvidia/bin" \
        readelf -h "$r/usr/local/nvidia/bin/nvidia-smi"
check "nvidia layout: /lib/libnvidia-ml.so.1 -> /usr/local/nvidia/lib64/libnvidia-ml.so.1" \
        test "$(readlink "$r/lib/libnvidia-ml.so.1")" = /usr/local/nvidia/lib64/libnvidia-ml.so.1
check "nvidia layout: ld cache has the /lib duplicates like the GPU machine" \
        bash -c "ldconfig -p -C '$r/etc/ld.so.cache' | grep -q 'libcuda.so.1 (libc6,x86-64) => /lib/libcuda.so.1'"
check "nvidia layout: firmware under /usr/local/nvidia/firmware" \
        test -f "$r/usr/local/nvidia/firmware/nvidia/580.159.04/gsp_ga10x.bin"
r=$TMP/debian-1
check "old driver: the leftover libnvidia-fatbinaryloader is in the ld cache" \
        bash -c "ldconfig -p -C '$r/etc/ld.so.cache' | grep -q 'libnvidia-fatbinaryloader.so.535.104.05 '"
check "old driver: libcuda.so.1 still leads to the current version after ldconfig" \
        test "$(readlink "$r/usr/lib/x86_64-linux-gnu/libcuda.so.1")" = libcuda.so.580.159.04
check "32-bit libraries are listed as libc6 (i386) in the ld cache" \
        bash -c "ldconfig -p -C '$r/etc/ld.so.cache' | grep -q 'libcuda.so.1 (libc6) => /lib/i386-linux-gnu/libcuda.so.1'"
check "libnvidia-tls carries the GNU ABI note 2.3.99" \
        bash -c "readelf -n '$r/usr/lib/x86_64-linux-gnu/libnvidia-tls.so.580.159.04' | grep -q 'ABI: 2.3.99'"
check "the Vulkan ICD points at libGLX_nvidia.so.0" \
        grep -q '"library_path": "libGLX_nvidia.so.0"' "$r/usr/share/vulkan/icd.d/nvidia_icd.json"

# --- Determinism: the same options give the same description. ------------------------------
create again-8 --gpus 8 --mig 2 --mig 5
norm() { "$SIM" describe "$1" | grep -v '"build_seconds"'; }
check "same options, same description" diff <(norm "$TMP/debian-8") <(norm "$TMP/again-8")
check "same options, same fake NVML" cmp "$TMP/debian-8/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.159.04" \
        "$TMP/again-8/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.159.04"

# --- Visibility follows the device nodes. --------------------------------------------------
r=$TMP/again-8
minor=$(oracle field "$r" 'd["gpus"][3]["minor"]')
uuid=$(oracle field "$r" 'd["gpus"][3]["uuid"]')
rm "$r/dev/nvidia$minor"
oracle smi-L "$r" >"$TMP/want"
chroot "$r" /usr/bin/nvidia-smi -L >"$TMP/got" 2>&1
same "$TMP/got" "$TMP/want" "removing /dev/nvidia$minor hides GPU 3 (minor $minor), indices renumbered"
check "... and exactly that GPU" bash -c "[ \$(grep -c '^GPU' '$TMP/got') = 7 ] && ! grep -q '$uuid' '$TMP/got'"
oracle probe "$r" >"$TMP/want"
"$TMP/nvml-probe" "$r/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1" >"$TMP/got" 2>&1
same "$TMP/got" "$TMP/want" "... for the NVML API too"
cap=$(oracle field "$r" 'd["gpus"][5]["mig_devices"][0]["ci_cap_node"]')
rm "$r$cap"
oracle smi-L "$r" >"$TMP/want"
chroot "$r" /usr/bin/nvidia-smi -L >"$TMP/got" 2>&1
same "$TMP/got" "$TMP/want" "removing $cap hides that MIG device"
check "... leaving the GPU's other MIG device" grep -q 'MIG 1g.18gb     Device  0' "$TMP/got"
mknod "$r/dev/nvidia$minor" c 195 $(((minor + 1) % 8))
chroot "$r" /usr/bin/nvidia-smi -L >"$TMP/got" 2>&1
check "a node with the wrong minor does not bring the GPU back" bash -c "! grep -q '$uuid' '$TMP/got'"
nodev="nodes that cannot be opened (nodev): 'Failed to initialize NVML: Unknown Error', exit 255"
if ! command -v unshare >/dev/null; then
        skip "$nodev" "no unshare command"
elif ! why=$(unshare -m true 2>&1); then
        skip "$nodev" "no mount namespaces: $(printf '%s' "${why:-unshare -m failed}" | head -n 1)"
else
        runs 255 "Failed to initialize NVML: Unknown Error" "$nodev" \
                unshare -m sh -c "mount --bind '$r/dev' '$r/dev' && mount -o remount,bind,nodev '$r/dev' &&
                        chroot '$r' /usr/bin/nvidia-smi -L"
fi
rm "$r/dev/nvidiactl"
runs 9 "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." \
        "without /dev/nvidiactl: nvidia-smi exits 9, 'couldn't communicate with the NVIDIA driver'" \
        chroot "$r" /usr/bin/nvidia-smi -L

# Outside a chroot the library checks the nodes of the root it was loaded from.
r=$TMP/debian-8
out=$(LD_LIBRARY_PATH=$r/usr/lib/x86_64-linux-gnu "$r/usr/bin/nvidia-smi" -L 2>&1 | grep -c '^GPU')
check "unchrooted, loaded through LD_LIBRARY_PATH, it sees the root's 8 GPUs" test "$out" = 8
cp "$r/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.159.04" "$TMP/elsewhere.so"
out=$("$TMP/nvml-probe" "$TMP/elsewhere.so" 2>&1 | head -1)
check "loaded from another path, it looks at the real /dev (no driver here: init 9)" \
        bash -c "[ '$out' = 'init 9' ] || [ -e /dev/nvidiactl ]"

# --- Failure modes. --------------------------------------------------------------------------
create lost --gpus 4 --lost 1
oracle smi-L "$TMP/lost" >"$TMP/want"
chroot "$TMP/lost" /usr/bin/nvidia-smi -L >"$TMP/got" 2>&1
rc=$?
same "$TMP/got" "$TMP/want" "--lost 1: GPU 1 is reported lost, the others listed"
check "--lost: nvidia-smi exits 15" test "$rc" = 15
oracle probe "$TMP/lost" >"$TMP/want"
"$TMP/nvml-probe" "$TMP/lost/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1" >"$TMP/got" 2>&1
same "$TMP/got" "$TMP/want" "--lost: nvmlDeviceGetHandleByIndex_v2(1) = 15"

create mismatch --rm-mismatch --layout nvidia
runs 18 "Failed to initialize NVML: Driver/library version mismatch
NVML library version: 580.159" "--rm-mismatch: nvidia-smi exits 18, 'Driver/library version mismatch'" \
        chroot "$TMP/mismatch" /usr/local/nvidia/bin/nvidia-smi -L
check "--rm-mismatch: nvmlInit = 18" \
        test "$("$TMP/nvml-probe" "$TMP/mismatch/usr/local/nvidia/lib64/libnvidia-ml.so.1" 2>&1)" = "init 18"

for layout in debian nvidia; do
        create nonvml-$layout --no-nvml --layout $layout
        check "--no-nvml ($layout): no libnvidia-ml in the root" \
                bash -c "! find '$TMP/nonvml-$layout' -name 'libnvidia-ml.so*' | grep -q ."
        check "--no-nvml ($layout): no libnvidia-ml in the ld cache" \
                bash -c "! ldconfig -p -C '$TMP/nonvml-$layout/etc/ld.so.cache' | grep -q libnvidia-ml"
        runs 12 "NVIDIA-SMI couldn't find libnvidia-ml.so library in your system." \
                "--no-nvml ($layout): nvidia-smi exits 12, 'couldn't find libnvidia-ml.so'" \
                chroot "$TMP/nonvml-$layout" "$(smi_path "$TMP/nonvml-$layout")" -L
done

create nodev --no-dev --gpus 2
check "--no-dev: no device nodes" bash -c "[ -z \"\$(find '$TMP/nodev/dev' -mindepth 1 -print -quit)\" ]"
runs 9 "couldn't communicate with the NVIDIA driver" "--no-dev: nvidia-smi exits 9" \
        chroot "$TMP/nodev" /usr/bin/nvidia-smi -L

create majors --uvm-major 238 --caps-major 241
check "--uvm-major/--caps-major: nodes and /proc/devices use them" \
        bash -c "[ \"\$(stat -c %t:%T '$TMP/majors/dev/nvidia-uvm-tools')\" = ee:1 ] &&
                 [ \"\$(stat -c %t '$TMP/majors/dev/nvidia-caps/nvidia-cap2')\" = f1 ] &&
                 grep -q '^242 nvidia-caps-imex-channels$' '$TMP/majors/proc/devices'"

if "$SIM" create "$TMP/badmig" --model "Tesla T4" --mig 0 >/dev/null 2>&1; then
        not_ok "--mig on a GPU without MIG is refused"
else
        check "--mig on a GPU without MIG is refused, leaving no root" test ! -e "$TMP/badmig"
fi

# --- Compute mode, memory, a pre-Volta model. ------------------------------------------------
create cmode --gpus 2
r=$TMP/cmode
u1=$(oracle field "$r" 'd["gpus"][1]["uuid"]')
runs 0 "Set compute mode to EXCLUSIVE_PROCESS for GPU" "nvidia-smi -i UUID -c EXCLUSIVE_PROCESS" \
        chroot "$r" /usr/bin/nvidia-smi -i "$u1" -c EXCLUSIVE_PROCESS
check "... persists: --query-gpu=compute_mode shows it on that GPU only" test \
        "$(chroot "$r" /usr/bin/nvidia-smi --query-gpu=index,compute_mode --format=csv,noheader)" \
        = "0, Default
1, Exclusive_Process"
check "... and -q shows it" bash -c "chroot '$r' /usr/bin/nvidia-smi -q -i 1 |
        grep -q '^    Compute Mode  *: Exclusive_Process$'"
runs 0 "All done." "nvidia-smi -i 1 -c 0 restores DEFAULT" chroot "$r" /usr/bin/nvidia-smi -i 1 -c 0
check "... which --query-gpu shows" test \
        "$(chroot "$r" /usr/bin/nvidia-smi -i 1 --query-gpu=compute_mode --format=csv,noheader)" = Default
runs 2 "Invalid compute mode" "nvidia-smi -c with a bad mode exits 2" chroot "$r" /usr/bin/nvidia-smi -c 9
runs 6 "No devices were found" "nvidia-smi -i of a GPU that does not exist exits 6" \
        chroot "$r" /usr/bin/nvidia-smi -i 5 -c 3
check "memory.total of an H200 is 143771 MiB" test \
        "$(chroot "$r" /usr/bin/nvidia-smi -i 0 --query-gpu=memory.total --format=csv,noheader,nounits)" = 143771
create pascal --model "Tesla P100-SXM2-16GB"
check "a Pascal model: compute capability 6.0, architecture Pascal" bash -c \
        "[ \"\$(chroot '$TMP/pascal' /usr/bin/nvidia-smi --query-gpu=compute_cap --format=csv,noheader)\" = 6.0 ] &&
         chroot '$TMP/pascal' /usr/bin/nvidia-smi -q | grep -q 'Product Architecture  *: Pascal'"

# --- The MPS control daemon. -----------------------------------------------------------------
mps=$TMP/mps
ctl=$r/usr/bin/nvidia-cuda-mps-control
mpsctl() { CUDA_MPS_PIPE_DIRECTORY=$mps/pipe CUDA_MPS_LOG_DIRECTORY=$mps/log timeout 10 "$ctl" "$@"; }
runs 1 "Cannot find MPS control daemon process" "mps-control without a daemon exits 1" \
        mpsctl <<<get_server_list
check "mps-control -d starts a daemon" mpsctl -d
check "... which made its control socket, pid file and control.log" test -S "$mps/pipe/control" \
        -a -s "$mps/pipe/nvidia-cuda-mps-control.pid" -a -s "$mps/log/control.log"
runs 1 "An instance of this daemon is already running" "a second daemon on the same directory is refused" \
        mpsctl -d
check "set/get_default_active_thread_percentage" test \
        "$(printf 'set_default_active_thread_percentage 25\nget_default_active_thread_percentage\n' | mpsctl)" \
        = "25.0
25.0"
check "set/get_default_device_pinned_mem_limit" test \
        "$(printf 'set_default_device_pinned_mem_limit 0 2G\nget_default_device_pinned_mem_limit 0\n' | mpsctl)" = 2G
check "no server before a client" test -z "$(mpsctl <<<get_server_list)"
server=$(mpsctl <<<"sim_connect $$")
check "sim_connect starts a server, get_server_list lists it" test "$(mpsctl <<<get_server_list)" = "$server"
check "get_client_list lists the client" test "$(mpsctl <<<"get_client_list $server")" = "$$"
check "the server is named like the real one" test "$(cat "/proc/$server/comm")" = nvidia-cuda-mps
daemon=$(cat "$mps/pipe/nvidia-cuda-mps-control.pid")
mpsctl <<<quit
check "quit ends the daemon and its server, removes the socket" bash -c \
        "for i in \$(seq 50); do kill -0 $daemon 2>/dev/null || break; sleep 0.1; done
         ! kill -0 $daemon 2>/dev/null && ! kill -0 $server 2>/dev/null && [ ! -e '$mps/pipe/control' ]"
NCTK_SIM_MPS_HANG=1 mpsctl -d
daemon=$(cat "$mps/pipe/nvidia-cuda-mps-control.pid")
runs 124 "" "NCTK_SIM_MPS_HANG=1: the daemon never answers" \
        env CUDA_MPS_PIPE_DIRECTORY="$mps/pipe" timeout 1 "$ctl" <<<get_server_list
kill -TERM "$daemon"
sleep 0.3
check "... and ignores SIGTERM" kill -0 "$daemon"
kill -KILL "$daemon"

echo "1..$n"
[ "$failed" = 0 ]
