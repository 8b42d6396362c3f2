# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are for the scripts that source this
# Sourced by engines.sh and cdi-spec.sh on the GPU machine: check(), a runc image with busybox,
# the CUDA program and what nvidia-smi needs, the toolkit's names linked to nctk, config.toml for
# the shim in legacy and cdi modes, and bundle() making a runc bundle of that image.
# Sets: BIN OUT here work pass fail rootfs gpu_env uuid script.
BIN=$(readlink -f "${BIN:-out/device-bin}")
OUT=${OUT:-/tmp}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "/tmp/nctk-${NCTK_DEVICE_WORK:-dev}-XXXXXX")
pass=0
fail=0
check() { # NAME GOT WANT
        if [ "$2" == "$3" ]; then echo "ok - $1: $2"; pass=$((pass + 1));
        else echo "FAIL - $1: got '$2', want '$3'"; fail=$((fail + 1)); fi
}

# The image, as in container.sh.
nvcc -O2 -o "$work/vecadd" "$here/vecadd.cu" || exit 1
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,etc/ld.so.conf.d,dev,proc,sys,tmp,usr/bin}
cp "$BIN/busybox" "$rootfs/bin/"
for c in sh ls cat echo grep wc; do ln -s busybox "$rootfs/bin/$c"; done
cp "$work/vecadd" "$rootfs/"
for f in $(ldd "$work/vecadd" /usr/local/nvidia/bin/nvidia-smi | grep -o '/[^ :]*' | grep -v "^$work" | sort -u) \
         /lib/x86_64-linux-gnu/lib{pthread.so.0,dl.so.2,rt.so.1,m.so.6}; do
        mkdir -p "$rootfs$(dirname "$f")"
        cp -L "$f" "$rootfs$f"
done
echo 12 > "$rootfs/etc/debian_version"
echo 'include /etc/ld.so.conf.d/*.conf' > "$rootfs/etc/ld.so.conf"

# The toolkit's names, as a package installs them.
mkdir -p "$work/bin"
for n in nvidia-container-runtime nvidia-container-runtime-hook nvidia-container-cli; do
        ln -s "$BIN/nctk" "$work/bin/$n"
done
cat > "$work/config.toml" <<TOML
[nvidia-container-runtime]
runtimes = ["$BIN/runc"]
mode = "legacy"

[nvidia-container-runtime-hook]
path = "$work/bin/nvidia-container-runtime-hook"
TOML
sed 's/mode = "legacy"/mode = "cdi"/' "$work/config.toml" > "$work/config-cdi.toml"

# bundle NAME SCRIPT HOOK(yes|no) ENV...: the container asks for a GPU through its environment.
bundle() {
        local b=$work/$1 script=$2 hook=$3
        shift 3
        mkdir -p "$b"
        cp -a "$rootfs" "$b/rootfs"
        (cd "$b" && "$BIN/runc" spec)
        python3 - "$b" "$script" "$hook" "$work/bin/nvidia-container-runtime-hook" "$@" <<'PY'
import json, sys
b, script, hook, hookpath, env = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
p = f"{b}/config.json"
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/sh", "-c", script]
c["process"]["env"] += env
c["root"] = {"path": f"{b}/rootfs", "readonly": False}
if hook == "yes":
    c["hooks"] = {"prestart": [{"path": hookpath, "args": ["nvidia-container-runtime-hook", "prestart"],
                                "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}]}
json.dump(c, open(p, "w"), indent=1)
PY
        echo "$b"
}
gpu_env="NVIDIA_VISIBLE_DEVICES=0 NVIDIA_DRIVER_CAPABILITIES=compute,utility"
uuid=$(nvidia-smi --query-gpu=uuid --format=csv,noheader | head -1)
script="nvidia-smi -L; /vecadd"
