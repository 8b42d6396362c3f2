"""How a generated CDI spec differs from NVIDIA's spec for the H200 (reference/h200/), item by
item, and the differences docs/cdi.md documents (D1...D9). Used by tests/integration/test-cdi.py
on a simulated H200 and by tests/device/cdi.sh on the machine itself."""
import copy
import os

VERSION = "580.159.04"


def hooks(spec):
    return spec["containerEdits"].get("hooks", [])


def hook_names(spec):
    return [h["args"][1] for h in hooks(spec)]


def links(spec):
    out = set()
    for h in hooks(spec):
        a = h["args"]
        out |= {a[i + 1] for i, x in enumerate(a) if x == "--link"}
    return out


def mounts(spec):
    return spec["containerEdits"]["mounts"]


def kind_of(path):
    base = os.path.basename(path)
    if ".so" in base:
        return "library"
    if "/firmware/" in path:
        return "firmware"
    if base.endswith(".json"):
        return "config"
    return "binary"


def basenames(spec, kind):
    return {os.path.basename(m["hostPath"]) for m in mounts(spec) if kind_of(m["hostPath"]) == kind}


def strip_root(path, root):
    return path[len(root):] if path.startswith(root + "/") else path


# The 32-bit library directories of the layouts nctk knows (container paths).
LIB32_DIRS = {"/usr/local/nvidia/lib", "/usr/lib/i386-linux-gnu", "/usr/lib32", "/lib32"}
LIB32 = ("lib32-only-ours", "32-bit libraries: their mounts, soname links and ld cache folder")


def without_lib32(spec):
    """SPEC without its 32-bit libraries (docs/cdi.md D10), and whether it had any."""
    spec = copy.deepcopy(spec)
    n = len(mounts(spec))
    spec["containerEdits"]["mounts"] = [m for m in mounts(spec)
                                        if os.path.dirname(m["containerPath"]) not in LIB32_DIRS]
    had = len(mounts(spec)) != n
    for h in hooks(spec):
        a, out, i = h["args"], [], 0
        while i < len(a):
            v = a[i + 1] if i + 1 < len(a) else ""
            if a[i] == "--link" and os.path.dirname(v.split("::")[-1]) in LIB32_DIRS or \
                    a[i] == "--folder" and v in LIB32_DIRS:
                had, i = True, i + 2
                continue
            out.append(a[i])
            i += 1
        h["args"] = out
    return spec, had


def differences(ours, ref, root, uuid):
    """Every way OURS (made for the driver under ROOT, whose GPUs have the UUIDs UUID) differs
    from REF, as (id, detail) pairs; ordering aside."""
    d = set()
    ours, had32 = without_lib32(ours)
    if had32:
        d.add(LIB32)
    names = [("GPU-UUID" if n in uuid else n) for n in (x["name"] for x in ours["devices"])]
    ref_names = [("GPU-UUID" if n.startswith("GPU-") else n) for n in (x["name"] for x in ref["devices"])]
    if names != ref_names:
        d.add(("device-names", f"{names} != {ref_names}"))
    if ours["cdiVersion"] != ref["cdiVersion"]:
        d.add(("cdi-version", ours["cdiVersion"]))
    if ours["kind"] != ref["kind"]:
        d.add(("kind", ours["kind"]))
    # Device nodes: the same paths; ours also say type, major and minor (and the host path when
    # the dev root is not /).
    for o, r in zip(ours["devices"], ref["devices"]):
        op = sorted(n["path"] for n in o["containerEdits"]["deviceNodes"])
        rp = sorted(n["path"] for n in r["containerEdits"]["deviceNodes"])
        if op != rp:
            d.add(("device-nodes", f"{o['name']}: {op} != {rp}"))
    on = sorted(n["path"] for n in ours["containerEdits"]["deviceNodes"])
    rn = sorted(n["path"] for n in ref["containerEdits"]["deviceNodes"])
    if on != rn:
        d.add(("control-nodes", f"{on} != {rn}"))
    all_nodes = [n for x in ours["devices"] for n in x["containerEdits"]["deviceNodes"]]
    all_nodes += ours["containerEdits"]["deviceNodes"]
    if any(set(n) - {"path"} for n in all_nodes):
        d.add(("node-numbers", ",".join(sorted({k for n in all_nodes for k in n} - {"path"}))))
    for kind in ("library", "binary", "firmware", "config"):
        o, r = basenames(ours, kind), basenames(ref, kind)
        for x in sorted(o - r):
            d.add((f"{kind}-only-ours", x))
        for x in sorted(r - o):
            d.add((f"{kind}-only-nvidia", x))
    # Container paths: the same host path inside the container, except where noted.
    for m in mounts(ours):
        if strip_root(m["hostPath"], root) != m["containerPath"]:
            d.add(("container-path-ours", m["containerPath"]))
    for m in mounts(ref):
        if m["hostPath"] != m["containerPath"]:
            d.add(("container-path-nvidia", m["containerPath"]))
    o_opts = {tuple(m["options"]) for m in mounts(ours)}
    r_opts = {tuple(m["options"]) for m in mounts(ref)}
    if o_opts != r_opts:
        d.add(("mount-options", f"{sorted(o_opts)} vs {sorted(r_opts)}"))
    if hook_names(ours) != hook_names(ref):
        d.add(("hooks", f"{hook_names(ours)} vs {hook_names(ref)}"))
    for x in sorted(links(ours) - links(ref)):
        d.add(("link-only-ours", x))
    for x in sorted(links(ref) - links(ours)):
        d.add(("link-only-nvidia", x))
    o_args = [h["args"] for h in hooks(ours) if h["args"][1] != "create-symlinks"]
    r_args = [h["args"] for h in hooks(ref) if h["args"][1] != "create-symlinks"]
    if o_args != r_args:
        d.add(("hook-args", f"{o_args} vs {r_args}"))
    o_env = {str(h.get("env")) for h in hooks(ours)}
    r_env = {str(h.get("env")) for h in hooks(ref)}
    if o_env != r_env:
        d.add(("hook-env", f"{sorted(o_env)} vs {sorted(r_env)}"))
    if ours["containerEdits"].get("env") != ref["containerEdits"].get("env"):
        d.add(("env", f"{ours['containerEdits'].get('env')} vs {ref['containerEdits'].get('env')}"))
    return d


SONAME_LINKS = {f"{lib}.so.{VERSION}::/usr/local/nvidia/lib64/{lib}.so.{n}" for lib, n in [
    ("libEGL_nvidia", 0), ("libGLESv1_CM_nvidia", 1), ("libGLESv2_nvidia", 2),
    ("libGLX_nvidia", 0), ("libcuda", 1), ("libcudadebugger", 1), ("libnvcuvid", 1),
    ("libnvidia-allocator", 1), ("libnvidia-cfg", 1), ("libnvidia-encode", 1),
    ("libnvidia-fbc", 1), ("libnvidia-ml", 1), ("libnvidia-nvvm", 4), ("libnvidia-opencl", 1),
    ("libnvidia-opticalflow", 1), ("libnvidia-ptxjitcompiler", 1), ("libnvoptix", 1),
    ("libvdpau_nvidia", 1)]}
DEV_LINKS = {  # 1.18's unversioned development links that nctk does not make (docs/cdi.md D6)
    f"{a}::/usr/local/nvidia/lib64/{b}" for a, b in [
        ("libEGL_nvidia.so.0", "libEGL_nvidia.so"), ("libGLESv1_CM_nvidia.so.1", "libGLESv1_CM_nvidia.so"),
        ("libGLESv2_nvidia.so.2", "libGLESv2_nvidia.so"), ("libGLX_nvidia.so.0", "libGLX_nvidia.so"),
        ("libcudadebugger.so.1", "libcudadebugger.so"), ("libnvcuvid.so.1", "libnvcuvid.so"),
        ("libnvidia-allocator.so.1", "libnvidia-allocator.so"), ("libnvidia-cfg.so.1", "libnvidia-cfg.so"),
        ("libnvidia-encode.so.1", "libnvidia-encode.so"), ("libnvidia-fbc.so.1", "libnvidia-fbc.so"),
        ("libnvidia-ml.so.1", "libnvidia-ml.so"), ("libnvidia-nvvm.so.4", "libnvidia-nvvm.so"),
        ("libnvidia-opencl.so.1", "libnvidia-opencl.so"), ("libnvidia-ptxjitcompiler.so.1", "libnvidia-ptxjitcompiler.so"),
        ("libnvoptix.so.1", "libnvoptix.so"), ("libvdpau_nvidia.so.1", "libvdpau_nvidia.so")] + [
        (f"lib{n}.so.{VERSION}", f"lib{n}.so") for n in (
            "nvidia-eglcore", "nvidia-glcore", "nvidia-glsi", "nvidia-glvkspirv", "nvidia-gpucomp",
            "nvidia-pkcs11-openssl3", "nvidia-rtcore", "nvidia-tls")]}
HOOKS = ["create-symlinks", "enable-cuda-compat", "update-ldcache", "disable-device-node-modification"]
COMMON = {  # the same against both of NVIDIA's versions
    ("node-numbers", "hostPath,major,minor,type"),                               # D1
    ("config-only-ours", "nvidia_layers.json"),                                   # D4
    ("container-path-nvidia", "/etc/vulkan/icd.d/nvidia_icd.json"),               # D5
    LIB32,                                                                        # D10
}
EXPECTED = {
    "1.17": COMMON | {
        ("hooks", f"{HOOKS} vs ['create-symlinks', 'create-symlinks', 'update-ldcache']"),  # D8
        *{("link-only-ours", x) for x in SONAME_LINKS},                          # D9
        ("hook-args", "[['nvidia-cdi-hook', 'enable-cuda-compat', '--host-driver-version=580.159.04'], "
                      "['nvidia-cdi-hook', 'update-ldcache', '--folder', '/usr/local/nvidia/lib64'], "
                      "['nvidia-cdi-hook', 'disable-device-node-modification']] vs "
                      "[['nvidia-cdi-hook', 'update-ldcache', '--folder', '/usr/local/nvidia/lib64']]"),
        ("hook-env", "[\"['NVIDIA_CTK_DEBUG=false']\"] vs ['None']"),
        ("env", "['NVIDIA_CTK_LIBCUDA_DIR=/usr/local/nvidia/lib64', 'NVIDIA_VISIBLE_DEVICES=void'] "
                "vs ['NVIDIA_VISIBLE_DEVICES=void']"),
        ("mount-options", "[('ro', 'nosuid', 'nodev', 'rbind', 'rprivate')] vs "
                          "[('ro', 'nosuid', 'nodev', 'bind')]"),
    },
    "1.18": COMMON | {
        ("hooks", f"{HOOKS} vs ['create-symlinks'] + {HOOKS}"),                  # D7
        *{("link-only-nvidia", x) for x in DEV_LINKS},                          # D6
    },
}
EXPECTED["1.18"] = {x if x[0] != "hooks" else ("hooks", f"{HOOKS} vs {['create-symlinks'] + HOOKS}")
                    for x in EXPECTED["1.18"]}


