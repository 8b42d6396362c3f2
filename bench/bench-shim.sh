#!/usr/bin/env bash
# The runtime shim's cost on the simulated driver, as ratios against plain runc measured in one
# run (interleaved, as bench/runc-ratio.py does, so machine noise hits all alike):
#  1. `nvidia-container-runtime run` of a container without GPU (pass-through: config read,
#     nothing written, exec runc) over `runc run` of the same bundle;
#  2. `nvidia-container-runtime run` of a container with NVIDIA_VISIBLE_DEVICES=0 in cdi mode
#     (discover from the cache, plan, config.json rewritten, runc makes the mounts, nodes and
#     cgroup, our createContainer hook the links and ld cache) over plain `runc run`;
#  and, for comparison, runc with the configure prestart hook for the same GPU (legacy path);
#  3. cdi mode with the mounts and nodes made by our createContainer hook (mount-in-hook "auto"
#     on a runc < 1.1.14, or "always") and by the runtime ("never"), and, when BEFORE_BUILD is
#     given, the cdi mode of that build (an nctk from before mount-in-hook existed);
#  4. cdi mode with the GPU from a spec file (`nvidia-ctk cdi generate --vendor bench.nvidia.com`
#     in a spec dir, its hooks nctk as nvidia-cdi-hook: folded into our one hook), the same spec
#     with its hooks run apart (their path a copy of nctk, so not folded: the cost before the
#     fold), and nvidia.com/gpu=0 (built in) plus a small spec file's device (the spec dir read
#     only because that name is not nctk's own).
# usage: bench/bench-shim.sh [BUILD_DIR] [N] [BEFORE_BUILD]
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(readlink -f "${1:-build}")
n=${2:-40}
before=${3:+$(readlink -f "$3")}
work=$(mktemp -d /tmp/nctk-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "# bench-shim: $(date -u +%FT%TZ) $(uname -r) $(nproc) cpus, n=$n"
python3 - "$work" "$build" "$n" "$before" <<'PY'
import json, os, random, statistics, subprocess, sys, time
sys.path.insert(0, "tests/e2e")
from containers import make_bundle, make_hook, make_rootfs, make_sim
work, build, n, before = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
make_sim(f"{work}/sim", "--gpus", "1")
rootfs = make_rootfs(f"{work}/rootfs", f"{build}/tests/e2e/probe")
shim = f"{work}/nvidia-container-runtime"
os.symlink(f"{build}/nctk", shim)
hook = f"{work}/nvidia-container-runtime-hook"
os.symlink(f"{build}/nctk", hook)
settings = {"cdi": "", "legacy": "", "cdi-hook": 'mount-in-hook = "always"\n',
            "cdi-runtime": 'mount-in-hook = "never"\n',
            "cdi-specs": f'[nvidia-container-runtime.modes.cdi]\nspec-dirs = ["{work}/cdi"]\n'}
os.makedirs(f"{work}/cdi")
cdihook = f"{work}/nvidia-cdi-hook"
os.symlink(f"{build}/nctk", cdihook)
os.makedirs(f"{work}/copy")
subprocess.run(["cp", f"{build}/nctk", f"{work}/copy/nvidia-cdi-hook"], check=True)
for vendor, path in (("bench.nvidia.com", cdihook), ("apart.nvidia.com", f"{work}/copy/nvidia-cdi-hook")):
    subprocess.run([f"{build}/nctk", "ctk", "cdi", "generate", "--driver-root", f"{work}/sim",
                    "--proc-root", f"{work}/sim/proc", "--vendor", vendor,
                    "--nvidia-cdi-hook-path", path, "--output", f"{work}/cdi/{vendor}.yaml"],
                   check=True)
with open(f"{work}/data", "w") as f:
    f.write("data\n")
with open(f"{work}/cdi/example.json", "w") as f:
    json.dump({"cdiVersion": "0.5.0", "kind": "example.com/dev", "devices": [
        {"name": "x", "containerEdits": {"env": ["EXAMPLE=x"], "mounts": [
            {"hostPath": f"{work}/data", "containerPath": "/opt/data", "options": ["ro"]}]}}]}, f)
for mode, extra in settings.items():
    with open(f"{work}/config-{mode}.toml", "w") as f:
        # load-kmods off: a GPU host has its modules loaded (nctk then spawns nothing); this
        # machine has none, and a modprobe attempt per start would be measured instead.
        f.write(f'[nvidia-container-cli]\nroot = "{work}/sim"\nproc-root = "{work}/sim/proc"\n'
                f'load-kmods = false\n'
                f'[nvidia-container-runtime]\n'
                f'mode = "{mode.split("-")[0]}"\n{extra}'
                f'[nvidia-container-runtime-hook]\npath = "{hook}"\n')
envs = {m: dict(os.environ, NVIDIA_CTK_CONFIG_FILE_PATH=f"{work}/config-{m}.toml")
        for m in settings}

def bundle(name, env_add=(), **kw):
    b = make_bundle(f"{work}/{name}", rootfs, None, "true", **kw)
    cfg = json.load(open(f"{b}/config.json"))
    cfg["process"]["env"] += list(env_add)
    json.dump(cfg, open(f"{b}/config.json", "w"), indent=1)
    return b

plain = bundle("plain")
gpu_env = ["NVIDIA_VISIBLE_DEVICES=0"]
gpu = bundle("gpu", gpu_env)
gpu_legacy = bundle("gpu-legacy", ["NVIDIA_VISIBLE_DEVICES=0"])  # the cdi runs rewrite "gpu"
hooked = bundle("hooked", hook=make_hook(f"{work}/hook.sh"),
                hook_args=["--device=0", "--compute", "--utility"],
                hook_env=["PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"NCTK={build}/nctk",
                          f"SIM_ROOT={work}/sim"])
cases = [("runc run, plain", "runc", plain, "cdi"), ("shim run, no GPU", shim, plain, "cdi"),
         ("shim run, 1 GPU, cdi mode", shim, gpu, "cdi"),
         ("shim run, 1 GPU, legacy mode (hook)", shim, gpu_legacy, "legacy"),
         ("runc run + configure hook, 1 GPU", "runc", hooked, "cdi"),
         ("shim run, 1 GPU, cdi, mounts by our hook", shim, bundle("gpu-h", gpu_env), "cdi-hook"),
         ("shim run, 1 GPU, cdi, mounts by runc", shim, bundle("gpu-r", gpu_env), "cdi-runtime"),
         ("shim run, 1 GPU, cdi, from a spec file", shim,
          bundle("gpu-s", ["NVIDIA_VISIBLE_DEVICES=bench.nvidia.com/gpu=0"]), "cdi-specs"),
         ("shim run, 1 GPU, cdi, spec, hooks apart", shim,
          bundle("gpu-a", ["NVIDIA_VISIBLE_DEVICES=apart.nvidia.com/gpu=0"]), "cdi-specs"),
         ("shim run, 1 GPU built in + example spec", shim,
          bundle("gpu-e", ["NVIDIA_VISIBLE_DEVICES=nvidia.com/gpu=0,example.com/dev=x"]),
          "cdi-specs")]
if before:
    old = f"{work}/before/nvidia-container-runtime"
    os.makedirs(os.path.dirname(old))
    os.symlink(f"{before}/nctk", old)
    cases.append(("shim run, 1 GPU, cdi, BEFORE build", old, bundle("gpu-b", gpu_env), "cdi"))
t = {c[0]: [] for c in cases}
rng = random.Random(1)
for i in range(n + 2):
    # A new order every round, so that no case always follows the slowest one.
    for k, (name, rt, b, mode) in sorted(enumerate(cases), key=lambda _: rng.random()):
        cid = f"bench-shim-{i}-{k}"
        t0 = time.perf_counter()
        subprocess.run([rt, "--root", f"{work}/state", "run", "--bundle", b, cid], check=True,
                       capture_output=True, env=envs[mode])
        if i >= 2:  # the first two fill the NVML cache and the page cache
            t[name].append((time.perf_counter() - t0) * 1e3)
base = statistics.median(t[cases[0][0]])
for name, *_ in cases:
    m = statistics.median(t[name])
    print(f"{name:42s} median {m:6.1f} ms  overhead {m - base:+5.1f} ms  ratio {m / base:.3f}")
PY
