#!/usr/bin/env python3
"""The Kubernetes path through a real containerd CRI: a private containerd 1.6 with its CRI plugin,
nctk registered as runtime handler `nvidia` (nvidia-container-runtime, the shim), host-network pod
sandboxes on a locally imported pause image, and a client (tests/e2e/cri.py) that drives it as
kubelet does: RunPodSandbox(runtime_handler "nvidia"), CreateContainer, StartContainer, wait for
the exit, read the container's log. On the simulated driver (4 GPUs), each request strategy of
NVIDIA's Kubernetes device plugin gives a container exactly the GPU it was allocated:
  - envvar: NVIDIA_VISIBLE_DEVICES=<uuid or index> (legacy mode: the shim adds the hook);
  - volume-mounts: /dev/null mounted at /var/run/nvidia-container-devices/<uuid>, with
    accept-nvidia-visible-devices-as-volume-mounts = true and
    accept-nvidia-visible-devices-envvar-when-unprivileged = false (the image's
    NVIDIA_VISIBLE_DEVICES=all selects nothing);
  - cdi-annotations: cdi.k8s.io/<key>: nvidia.com/gpu=<uuid> with the runtime in cdi mode;
    containerd 1.6 puts a CRI container annotation into config.json only when the runtime's
    container_annotations lists it, which is shown too.
Everything started is stopped and everything made is removed at the end, on failure too. Needs
root, containerd, runc and Debian's python3-grpcio (scripts/engines.sh install); run it under
`flock /tmp/nctk-engines.lock` (one engine suite at a time on a machine).

usage: test-cri.py NCTK PROBE"""
import hashlib
import importlib.util
import io
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from containers import make_rootfs, make_sim, parse_probe  # noqa: E402
import tap  # noqa: E402
from tap import eq, run, tmpdir  # noqa: E402

NCTK = os.path.abspath(sys.argv[1])
PROBE = os.path.abspath(sys.argv[2])
WORK = tmpdir("nctk-cri-")
SIM_ROOT = os.path.join(WORK, "sim")
CONFIG = os.path.join(WORK, "config.toml")  # nctk's, read by the shim at each create
SHIM = os.path.join(WORK, "bin", "nvidia-container-runtime")
HOOK = os.path.join(WORK, "bin", "nvidia-container-runtime-hook")
LOGS = os.path.join(WORK, "pods")  # kubelet's /var/log/pods
CONTAINERD_LOG = os.path.join(WORK, "containerd.log")
SHIM_LOG = os.path.join(WORK, "nvidia-container-runtime.log")
# containerd's own directories (overlayfs needs a real file system: not under /tmp) and socket.
ROOT = "/var/lib/nctk-cri"
RUN = "/run/nctk-cri"
SOCK = os.path.join(RUN, "containerd.sock")
CONTAINERD_CONFIG = os.path.join(ROOT, "config.toml")
NAMESPACE = "k8s.io"  # the CRI plugin's containerd namespace
CGROUP_PARENT = "/nctk-cri"  # kubelet's /kubepods/...: every pod's cgroup is below it
PAUSE_IMAGE = "docker.io/library/nctk-cri-pause:1"
PROBE_IMAGE = "docker.io/library/nctk-cri-probe:1"
RUNC = "/usr/sbin/runc"
# Paths containerd and its runc shim use outside the directories they are given: the shims'
# sockets (/run/containerd/s), runc's state when a runtime sets no Root. Removed at the end
# when they were not there at the start.
SYSTEM_PATHS = ["/run/containerd", f"/run/containerd/runc/{NAMESPACE}"]
SYSTEM_BEFORE = {p: os.path.lexists(p) for p in SYSTEM_PATHS}
STATE = {"containerd": None, "client": None, "pods": [], "sim": None}
DENIED = ("EPERM", "mknod:EPERM")  # the device cgroup refuses another GPU's node
GPU_SCRIPT = ("nvidia-smi -L 2>&1 | while read -r l; do echo \"smi: $l\"; done; "
              "for f in /dev/nvidia*; do echo \"dev: $f\"; done; "
              "/probe dlopen libcuda.so.1 libnvidia-ml.so.1; /probe mknod-open /tmp/other 195 {other}")


def missing():
    """Why this test cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (containerd)"
    for prog in ("containerd", "containerd-shim-runc-v2", "ctr"):
        if not shutil.which(prog):
            return f"{prog} not installed (bash scripts/engines.sh install)"
    if not os.access(RUNC, os.X_OK):
        return f"{RUNC} not installed (bash scripts/engines.sh install)"
    if importlib.util.find_spec("grpc") is None:
        return f"python3-grpcio not importable by {sys.executable} (bash scripts/engines.sh install)"
    return None


# ---------------------------------------------------------------- nctk's side
def write_nctk_config(mode="legacy", volume_mounts=False, envvar_unprivileged=True):
    """nctk's config.toml, as /etc/nvidia-container-runtime/config.toml: the simulated driver,
    the shim's MODE and the device plugin strategy's switches."""
    with open(CONFIG, "w") as f:
        f.write(f"""accept-nvidia-visible-devices-as-volume-mounts = {str(volume_mounts).lower()}
accept-nvidia-visible-devices-envvar-when-unprivileged = {str(envvar_unprivileged).lower()}
supported-driver-capabilities = "compat32,compute,display,graphics,ngx,utility,video"

[nvidia-container-cli]
root = "{SIM_ROOT}"
proc-root = "{SIM_ROOT}/proc"
path = "{os.path.join(WORK, 'bin', 'nvidia-container-cli')}"
ldconfig = "@/sbin/ldconfig"
load-kmods = false

[nvidia-container-runtime]
debug = "{SHIM_LOG}"
log-level = "debug"
mode = "{mode}"
runtimes = ["{RUNC}"]

[nvidia-container-runtime.modes.cdi]
annotation-prefixes = ["cdi.k8s.io/"]

[nvidia-container-runtime-hook]
path = "{HOOK}"
skip-mode-detection = true
""")


def setup_nctk():
    os.makedirs(os.path.dirname(SHIM))
    for name in ("nvidia-container-runtime", "nvidia-container-runtime-hook", "nvidia-container-cli"):
        os.symlink(NCTK, os.path.join(WORK, "bin", name))
    STATE["sim"] = make_sim(SIM_ROOT, "--gpus", "4")
    write_nctk_config()


# ---------------------------------------------------------------- images
def oci_archive(rootfs, ref, config):
    """An OCI image layout tar (one uncompressed layer: ROOTFS) named REF, with image config
    CONFIG ({"Entrypoint": [...], ...}), as `ctr images import` takes it: nothing is pulled."""
    def as_root(info):
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
        t.add(rootfs, arcname=".", filter=as_root)
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    blobs = {}

    def blob(data, media):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media, "digest": digest, "size": len(data)}

    layer_desc = blob(layer.getvalue(), "application/vnd.oci.image.layer.v1.tar")
    cfg = blob(json.dumps({"architecture": arch, "os": "linux", "config": config,
                           "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]}}).encode(),
               "application/vnd.oci.image.config.v1+json")
    manifest = blob(json.dumps({"schemaVersion": 2,
                                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "config": cfg, "layers": [layer_desc]}).encode(),
                    "application/vnd.oci.image.manifest.v1+json")
    manifest["platform"] = {"architecture": arch, "os": "linux"}
    manifest["annotations"] = {"io.containerd.image.name": ref,
                               "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1]}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [manifest]}
    path = os.path.join(WORK, ref.rsplit("/", 1)[1].replace(":", "-") + ".tar")
    with tarfile.open(path, "w") as t:
        for name, data in [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                           ("index.json", json.dumps(index).encode())] + \
                [(f"blobs/sha256/{d.split(':')[1]}", b) for d, b in blobs.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def build_images():
    """The pause image (static busybox sleeping, as registry.k8s.io/pause does) and the probe
    image (tests/e2e/containers.py's busybox + glibc + probe)."""
    pause = os.path.join(WORK, "pause-rootfs")
    os.makedirs(os.path.join(pause, "bin"))
    shutil.copy("/bin/busybox", os.path.join(pause, "bin", "busybox"))  # busybox-static
    for d in ("dev", "proc", "sys", "etc"):
        os.makedirs(os.path.join(pause, d))
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    tars = [oci_archive(pause, PAUSE_IMAGE,
                        {"Env": env, "Entrypoint": ["/bin/busybox", "sleep", "2147483647"]}),
            oci_archive(make_rootfs(os.path.join(WORK, "probe-rootfs"), PROBE), PROBE_IMAGE,
                        {"Env": env, "Cmd": ["/bin/sh"]})]
    for t in tars:
        run(["ctr", "--address", SOCK, "--namespace", NAMESPACE, "images", "import", t],
            timeout=120)


# ---------------------------------------------------------------- containerd
def containerd_config():
    """containerd's config.toml (version 2, containerd 1.6): its own root, state and sockets, the
    CRI plugin enabled with the pause image, CNI directories of its own (no network is set up:
    the pods use the host's), and runc as the default runtime."""
    return f"""version = 2
root = "{ROOT}/root"
state = "{RUN}/state"

[grpc]
  address = "{SOCK}"

[ttrpc]
  address = "{SOCK}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{ROOT}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  # kubelet's -998 for sandboxes needs CAP_SYS_RESOURCE, which a test machine (itself a
  # container) may lack: clamp to containerd's own score instead.
  restrict_oom_score_adj = true

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{ROOT}/cni/bin"
    conf_dir = "{ROOT}/cni/net.d"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{RUNC}"
        Root = "{RUN}/runc"
"""


def register_runtime(config_path):
    """Registers the shim as runtime handler `nvidia` the way a user does: `nvidia-ctk runtime
    configure --runtime=containerd`, with its default layout (a drop-in imported by the main
    config). The drop-in must carry container_annotations: containerd 1.6 copies a CRI container
    annotation into config.json only when it matches one of these patterns, and the device
    plugin's cdi-annotations strategy depends on it. runc's options are copied, Root among
    them, which keeps runc's state in ours."""
    dropin = os.path.join(ROOT, "conf.d", "99-nvidia.toml")
    os.makedirs(os.path.dirname(dropin), exist_ok=True)
    out = subprocess.run([NCTK, "ctk", "runtime", "configure", "--runtime=containerd",
                          f"--config={config_path}", f"--drop-in-config={dropin}",
                          f"--nvidia-runtime-path={SHIM}"],
                         capture_output=True, text=True, check=True)
    assert "restart containerd" in out.stdout + out.stderr, out
    with open(config_path) as f:
        assert f"{ROOT}/conf.d/*.toml" in f.read(), "the main config imports the drop-in"
    with open(dropin) as f:
        text = f.read()
    assert 'container_annotations = ["cdi.k8s.io/*"]' in text, text
    assert f'BinaryName = "{SHIM}"' in text, text
    assert text.count(f'Root = "{RUN}/runc"') == 2, "runc's options copied to the runtime"


def start_containerd():
    for d in (ROOT, RUN, LOGS, f"{ROOT}/cni/bin", f"{ROOT}/cni/net.d"):
        os.makedirs(d, exist_ok=True)
    with open(CONTAINERD_CONFIG, "w") as f:
        f.write(containerd_config())
    register_runtime(CONTAINERD_CONFIG)
    env = dict(os.environ, NVIDIA_CTK_CONFIG_FILE_PATH=CONFIG)  # the shim inherits it
    with open(CONTAINERD_LOG, "ab") as log:
        # A session of its own: signals meant for the test's process group do not reach it.
        STATE["containerd"] = subprocess.Popen(
            ["containerd", "--config", CONTAINERD_CONFIG, "--log-level", "info"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True)
    import cri
    deadline = time.monotonic() + 60
    while True:
        if STATE["containerd"].poll() is not None:
            raise AssertionError(f"containerd exited {STATE['containerd'].returncode}: "
                                 f"{log_tail(CONTAINERD_LOG)}")
        if os.path.exists(SOCK):
            client = cri.Client(SOCK)
            try:
                client.Version({"version": "v1"}, timeout=5)
                STATE["client"] = client
                return client
            except Exception:
                client.close()
                if time.monotonic() > deadline:
                    raise
        elif time.monotonic() > deadline:
            raise AssertionError(f"containerd did not answer in 60 s: {log_tail(CONTAINERD_LOG)}")
        time.sleep(0.2)


def log_tail(path, n=25):
    try:
        lines = open(path, errors="replace").read().splitlines()[-n:]
    except OSError:
        return f"(no {path})"
    return "\n".join(lines)


# ---------------------------------------------------------------- kubelet's side
def pod_config(name):
    uid = str(uuid.uuid4())
    logdir = os.path.join(LOGS, f"nctk-cri_{name}_{uid}")
    os.makedirs(logdir)
    ns = {"network": 2, "pid": 1, "ipc": 0}  # NODE (hostNetwork), CONTAINER, POD: as kubelet sets
    return {"metadata": {"name": name, "uid": uid, "namespace": "nctk-cri", "attempt": 0},
            "log_directory": logdir, "labels": {"nctk-cri": "1"},
            "linux": {"cgroup_parent": CGROUP_PARENT,
                      "security_context": {"namespace_options": ns}}}


class Pod:
    """A pod sandbox on runtime handler HANDLER ("" is containerd's default, runc)."""

    def __init__(self, name, handler="nvidia"):
        self.client = STATE["client"]
        self.config = pod_config(name)
        self.id = self.client.RunPodSandbox({"config": self.config,
                                             "runtime_handler": handler})["pod_sandbox_id"]
        STATE["pods"].append(self.id)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        try:
            self.client.StopPodSandbox({"pod_sandbox_id": self.id})
            self.client.RemovePodSandbox({"pod_sandbox_id": self.id})
            STATE["pods"].remove(self.id)
        except Exception:
            if exc_type is None:
                raise  # else the body's failure is the one to report; stop_all retries

    def create(self, name, script, env=(), mounts=(), annotations=None):
        """CreateContainer of the probe image running SCRIPT, with the environment, volume
        mounts (container paths of /dev/null) and annotations a device plugin's Allocate gives."""
        config = {"metadata": {"name": name, "attempt": 0}, "image": {"image": PROBE_IMAGE},
                  "command": ["/bin/sh", "-c", script],
                  "envs": [{"key": k, "value": v} for k, v in env],
                  "mounts": [{"container_path": m, "host_path": "/dev/null", "readonly": True}
                             for m in mounts],
                  "annotations": annotations or {}, "log_path": f"{name}.log",
                  "linux": {"security_context": {
                      "namespace_options": self.config["linux"]["security_context"]["namespace_options"]}}}
        return self.client.CreateContainer({"pod_sandbox_id": self.id, "config": config,
                                            "sandbox_config": self.config})["container_id"]

    def run(self, name, script, **kw):
        """Creates, starts and waits for a container; returns (exit code, its output, the spec
        containerd gave the runtime)."""
        cid = self.create(name, script, **kw)
        self.client.StartContainer({"container_id": cid})
        deadline = time.monotonic() + 90
        while True:
            st = self.client.ContainerStatus({"container_id": cid, "verbose": True})
            if st["status"]["state"] == 2:  # CONTAINER_EXITED
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"container {name} still {st['status']['state']} after 90 s")
            time.sleep(0.1)
        info = json.loads(st["info"].get("info", "{}"))
        return st["status"]["exit_code"], read_log(st["status"]["log_path"]), info.get("runtimeSpec", {})


def read_log(path):
    """The container's stdout and stderr from a CRI log file: "TIME STREAM F|P TEXT" lines, P
    for a line split in parts."""
    out = []
    for line in open(path, errors="replace").read().splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 3:
            continue
        text = parts[3] if len(parts) == 4 else ""
        out.append(text + ("\n" if parts[2] == "F" else ""))
    return "".join(out)


# ---------------------------------------------------------------- checks
def gpus():
    return STATE["sim"]["gpus"]


def script_for(want):
    """GPU_SCRIPT for a container that should see the GPUs of indices WANT: the node it makes is
    of a GPU it was not given."""
    other = next(g["minor"] for g in gpus() if g["index"] not in want)
    return GPU_SCRIPT.format(other=other)


def check_gpus(out, want):
    """nvidia-smi -L lists exactly the GPUs of indices WANT, their nodes and no other are in /dev,
    another GPU's node cannot be opened, the driver libraries load (none at all when WANT is
    empty)."""
    r = parse_probe(out)
    smi = sorted(m.group(1) for line in r["smi"] if (m := re.search(r"UUID: (GPU-[^)]*)", line)))
    eq(smi, sorted(g["uuid"] for g in gpus() if g["index"] in want), f"nvidia-smi -L (output: {out[-3000:]})")
    nodes = sorted(int(m) for d in r["dev"] for m in re.findall(r"^/dev/nvidia(\d+)$", d))
    eq(nodes, sorted(g["minor"] for g in gpus() if g["index"] in want), "GPU device nodes")
    assert r["mknod-open"].get("/tmp/other") in DENIED, f"another GPU's node: {r['mknod-open']}"
    for lib in ("libcuda.so.1", "libnvidia-ml.so.1"):
        loaded = r["dlopen"].get(lib, "error") != "error"
        eq(loaded, bool(want), f"dlopen {lib} ({r['dlopen']})")


def run_checked(pod, name, want, **kw):
    code, out, spec = pod.run(name, script_for(want), **kw)
    eq(code, 0, f"{name}: exit status (output: {out[-2000:]})")
    check_gpus(out, want)
    return spec


def uuid_of(index):
    return next(g["uuid"] for g in gpus() if g["index"] == index)


# ---------------------------------------------------------------- the cases
def case(fn):
    """A TAP test that prints the daemons' logs when it fails."""
    def wrapped():
        try:
            fn()
        except Exception:
            for path in (CONTAINERD_LOG, SHIM_LOG):
                print(f"# --- {path} (end)", flush=True)
                for line in log_tail(path).splitlines():
                    print(f"#   {line}", flush=True)
            raise
    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return tap.test(wrapped)


@case
def containerd_cri_starts():
    """nctk's links and config, the simulated driver, containerd with the CRI plugin and the
    `nvidia` handler, both images imported and seen by the CRI image service."""
    setup_nctk()
    client = start_containerd()
    v = client.Version({"version": "v1"})
    eq((v["runtime_name"], v["runtime_api_version"]), ("containerd", "v1"), f"Version {v}")
    print(f"# containerd {v['runtime_version']}, CRI {v['runtime_api_version']}", flush=True)
    build_images()
    for ref in (PAUSE_IMAGE, PROBE_IMAGE):
        deadline = time.monotonic() + 30
        while not client.ImageStatus({"image": {"image": ref}})["image"]:
            assert time.monotonic() < deadline, f"the CRI does not see {ref}"
            time.sleep(0.2)


@case
def runc_pod_and_annotations_without_passthrough():
    """A pod on containerd's default runtime (runc): the harness itself. A CRI container
    annotation cdi.k8s.io/* does not reach config.json there (no container_annotations)."""
    with Pod("plain", handler="") as pod:
        code, out, spec = pod.run("plain", "/probe open /dev/null; echo done",
                                  annotations={"cdi.k8s.io/x": "nvidia.com/gpu=0"})
        eq((code, out), (0, "open /dev/null ok\ndone\n"), "container exit status and output")
        assert spec.get("process"), f"no runtimeSpec in ContainerStatus: {spec}"
        eq("cdi.k8s.io/x" in spec.get("annotations", {}), False, "annotation passed by runc handler")


@case
def nvidia_handler_without_gpu_request():
    """The nvidia handler runs the pause container and a container that asks for nothing: the
    shim passes both through, no GPU."""
    with Pod("nogpu") as pod:
        run_checked(pod, "nogpu", [])


@case
def envvar_strategy():
    """NVIDIA_VISIBLE_DEVICES as the device plugin's envvar strategy sets it, by UUID and by
    index (legacy mode: the shim adds the prestart hook)."""
    write_nctk_config(mode="legacy")
    with Pod("envvar") as pod:
        run_checked(pod, "by-uuid", [2], env=[("NVIDIA_VISIBLE_DEVICES", uuid_of(2))])
        run_checked(pod, "by-index", [1], env=[("NVIDIA_VISIBLE_DEVICES", "1")])


@case
def volume_mounts_strategy():
    """/dev/null mounted at /var/run/nvidia-container-devices/<uuid>, as the volume-mounts
    strategy asks, selects exactly that GPU; the image's NVIDIA_VISIBLE_DEVICES=all does not,
    since an unprivileged container's env requests are dropped."""
    write_nctk_config(mode="legacy", volume_mounts=True, envvar_unprivileged=False)
    root = "/var/run/nvidia-container-devices"
    with Pod("mounts") as pod:
        run_checked(pod, "mount", [3], env=[("NVIDIA_VISIBLE_DEVICES", "all")],
                    mounts=[f"{root}/{uuid_of(3)}"])
        run_checked(pod, "two-mounts", [0, 1], env=[("NVIDIA_VISIBLE_DEVICES", root)],
                    mounts=[f"{root}/{uuid_of(0)}", f"{root}/1"])
        run_checked(pod, "env-only", [], env=[("NVIDIA_VISIBLE_DEVICES", "all")])


@case
def cdi_annotations_strategy():
    """cdi.k8s.io/* container annotations, as the cdi-annotations strategy sets them, reach
    config.json through containerd's container_annotations and select exactly that GPU in cdi
    mode, over NVIDIA_VISIBLE_DEVICES; in legacy mode they are not read."""
    write_nctk_config(mode="cdi")
    key = f"cdi.k8s.io/nvidia-device-plugin_{uuid_of(1)}"
    with Pod("cdi") as pod:
        spec = run_checked(pod, "annotation", [1], env=[("NVIDIA_VISIBLE_DEVICES", "all")],
                           annotations={key: f"nvidia.com/gpu={uuid_of(1)}"})
        eq(spec.get("annotations", {}).get(key), f"nvidia.com/gpu={uuid_of(1)}",
           "the annotation in the spec containerd gave the runtime")
        run_checked(pod, "two-annotations", [0, 3],
                    annotations={"cdi.k8s.io/b": "nvidia.com/gpu=0",
                                 "cdi.k8s.io/a": f"nvidia.com/gpu={uuid_of(3)}"})
    write_nctk_config(mode="legacy")
    with Pod("cdi-legacy") as pod:
        run_checked(pod, "legacy-mode", [], annotations={key: "nvidia.com/gpu=1"})


@case
def bad_request_fails_the_container():
    """A malformed request stops the container with the shim's one line in CreateContainer's or
    StartContainer's error, as kubelet would report it."""
    write_nctk_config(mode="cdi")
    import grpc
    with Pod("bad") as pod:
        try:
            code, out, _ = pod.run("bad", "echo ran", annotations={"cdi.k8s.io/x": "nvidia.com/gpu=0,1"})
        except grpc.RpcError as e:
            assert "invalid CDI annotation cdi.k8s.io/x" in e.details(), e.details()
        else:
            raise AssertionError(f"the container ran: {code} {out!r}")


# ---------------------------------------------------------------- and nothing is left
def kill_tree(pids):
    """SIGKILL to PIDS and their descendants (what a killed shim leaves running)."""
    parents = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                parents[int(p)] = int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    todo, seen = list(pids), set()
    while todo:
        p = todo.pop()
        if p in seen or p == os.getpid():
            continue
        seen.add(p)
        todo += [c for c, pp in parents.items() if pp == p]
    for p in seen:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return seen


def strays():
    """Processes whose command line names our directories (containerd, its shims)."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            cmd = open(f"/proc/{p}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(m + "/" in cmd for m in (ROOT, RUN, WORK)):
            found.append(int(p))
    return found


def our_mounts():
    marks = (ROOT, RUN, WORK)
    out = []
    for line in open("/proc/self/mountinfo"):
        p = line.split()[4].replace("\\040", " ")
        if any(p == m or p.startswith(m + "/") for m in marks):
            out.append(p)
    return out


def stop_all():
    """Stops every pod, containerd and its shims; unmounts and deletes all we made. Idempotent,
    and it goes on past every error."""
    client = STATE["client"]
    for pid in list(STATE["pods"]):
        for call in ("StopPodSandbox", "RemovePodSandbox"):
            try:
                client.call(call, {"pod_sandbox_id": pid}, timeout=30)
            except Exception as e:  # containerd may be gone: the kills below do the rest
                print(f"# cleanup: {call} {pid}: {e}", flush=True)
        STATE["pods"].remove(pid)
    if client:
        client.close()
        STATE["client"] = None
    proc = STATE["containerd"]
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    STATE["containerd"] = None
    left = strays()
    if left:
        print(f"# cleanup: killing leftover processes {sorted(kill_tree(left))}", flush=True)
        time.sleep(0.3)
    for m in sorted(our_mounts(), key=len, reverse=True):
        if subprocess.run(["umount", m], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", m], capture_output=True)
    for p in reversed(SYSTEM_PATHS):
        if not SYSTEM_BEFORE[p]:
            shutil.rmtree(p, ignore_errors=True)
    for c in cgroups():
        for d in sorted((os.path.join(r, x) for r, ds, _ in os.walk(c) for x in ds), key=len,
                        reverse=True) + [c]:
            try:
                os.rmdir(d)
            except OSError:
                pass
    for d in (ROOT, RUN, WORK):
        shutil.rmtree(d, ignore_errors=True)


def cgroups():
    return [p for p in (os.path.join("/sys/fs/cgroup", h, CGROUP_PARENT.lstrip("/"))
                        for h in os.listdir("/sys/fs/cgroup")) if os.path.isdir(p)]


@tap.test
def stop_leaves_nothing():
    """Every pod, containerd, its shims, mounts, cgroups and directories are gone."""
    stop_all()
    eq(strays(), [], "processes left")
    eq(our_mounts(), [], "mounts left")
    eq(cgroups(), [], "cgroups left")
    for p in (ROOT, RUN, WORK) + tuple(p for p in SYSTEM_PATHS if not SYSTEM_BEFORE[p]):
        assert not os.path.lexists(p), f"{p} is still there"


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    reason = missing()
    if reason:
        shutil.rmtree(WORK, ignore_errors=True)
        print(f"1..0 # SKIP {reason}")
        sys.exit(0)
    if os.path.exists(ROOT) or os.path.exists(RUN):
        print(f"# removing what an earlier run left in {ROOT}, {RUN}", flush=True)
        stop_all()
        os.makedirs(WORK, mode=0o755)  # stop_all removed ours too
    try:
        tap.run_all()  # exits
    finally:
        stop_all()
