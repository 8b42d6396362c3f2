#!/usr/bin/env python3
"""`nctk doctor` against simulated hosts: a simulated driver (tests/sim) for the driver root,
/dev and /proc, and a private host root (--host-root) for /etc, /run, /sys and the programs.
Each test breaks a healthy host in exactly one way and asserts the check's status, finding and
fix; where the fix is an nctk command that works here, it runs the fix and asserts that the
check is then OK. Also: the healthy host has no FAIL, --json's shape, and this machine's real
/proc (no NVIDIA driver) gives a clear FAIL and no crash.

usage: test-doctor.py NCTK_BINARY"""
import atexit
import json
import os
import shutil
import stat
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import eq, run, run_all, test, tmpdir  # noqa: E402

NCTK = os.path.abspath(sys.argv[1])
SIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim", "nctk-sim")
WORK = tmpdir("nctk-doctor-")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
BIN = os.path.join(WORK, "bin")  # nvidia-ctk, for running the fix lines as printed
os.mkdir(BIN)
os.symlink(NCTK, os.path.join(BIN, "nvidia-ctk"))
HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"  # looked up under the host root
UVM, CAPS = 510, 511


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def program(path, version_line=None):
    """An executable of the host root; with VERSION_LINE, one that prints it for --version."""
    body = "#!/bin/sh\n" + (f"echo '{version_line}'\n" if version_line else "exit 0\n")
    write(path, body, 0o755)


class Host:
    """A healthy host: the simulated driver (2 GPUs) with its /dev/char links; docker with the
    nvidia runtime registered and the systemd cgroup driver (cgroup v2's default); runc 1.1.14;
    an ELF-looking ldconfig; no CDI spec, SELinux or rootless set-up."""

    def __init__(self, *sim_args):
        self.dir = tempfile.mkdtemp(dir=WORK)
        self.sim = os.path.join(self.dir, "sim")
        run([sys.executable, SIM, "create", self.sim, "--gpus", "2", *sim_args])
        self.proc = os.path.join(self.sim, "proc")
        write(os.path.join(self.proc, "mounts"),
              "sysfs /sys sysfs rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n")
        self.host = os.path.join(self.dir, "host")
        os.mkdir(self.host)
        self.config = os.path.join(self.host, "etc/nvidia-container-runtime/config.toml")
        self.set_config("")
        self.daemon_json({"runtimes": {"nvidia": {"path": "/usr/bin/nvidia-container-runtime",
                                                  "args": []}}})
        program(self.h("/usr/bin/dockerd"))
        program(self.h("/usr/bin/nvidia-container-runtime"))
        program(self.h("/usr/bin/runc"), "runc version 1.1.14")
        write(self.h("/sbin/ldconfig"), "\x7fELF", 0o755)
        run([NCTK, "ctk", "system", "create-dev-char-symlinks", "--create-all",
             "--driver-root", self.sim, "--proc-root", self.proc,
             "--dev-char-path", os.path.join(self.sim, "dev/char")])

    def h(self, path):
        return os.path.join(self.host, path.lstrip("/"))

    def set_config(self, text):
        write(self.config, text)

    def daemon_json(self, doc):
        write(self.h("/etc/docker/daemon.json"), json.dumps(doc, indent=2))

    def args(self):
        return ["--driver-root", self.sim, "--proc-root", self.proc, "--host-root", self.host,
                "--config", self.config]

    def doctor(self, *extra):
        """(exit status, {id: [check, ...]}) of a --json run."""
        p = run([NCTK, "doctor", "--json", *self.args(), *extra], check=False,
                env={"PATH": HOST_PATH})
        assert p.returncode in (0, 1), f"exit {p.returncode}: {p.stderr}"
        doc = json.loads(p.stdout)
        checks = {}
        for c in doc["checks"]:
            checks.setdefault(c["id"], []).append(c)
        eq(p.returncode, 1 if doc["status"] == "FAIL" else 0, "exit status vs status")
        return p.returncode, checks

    def check(self, cid, status, finding=(), fix=()):
        """The one check CID: its status, and the words its finding and fix must hold."""
        _, checks = self.doctor()
        assert cid in checks, f"no check {cid}: {sorted(checks)}"
        c = [x for x in checks[cid] if x["status"] == status]
        assert c, f"{cid}: want {status}, got {checks[cid]}"
        c = c[0]
        for w in finding:
            assert w in c["finding"], f"{cid}: {w!r} not in finding {c['finding']!r}"
        for w in fix:
            assert c["fix"] and w in c["fix"], f"{cid}: {w!r} not in fix {c['fix']!r}"
        if status == "OK":
            return c
        assert c["fix"], f"{cid}: a {status} without a fix"
        return c

    def run_fix(self, c):
        """Runs a fix line as printed (nvidia-ctk from this build), as a user would."""
        run(["sh", "-c", c["fix"]], env={"PATH": BIN + ":" + os.environ["PATH"]})

    def sim_path(self, path):
        return os.path.join(self.sim, path.lstrip("/"))

    def desc(self):
        return json.loads(run([sys.executable, SIM, "describe", self.sim]).stdout)


def roots_flags(h):
    return f"--driver-root={h.sim} --dev-root={h.sim} --proc-root={h.proc}"


# ---- the healthy host ---------------------------------------------------------------------------


@test
def healthy_host_has_no_fail():
    h = Host()
    rc, checks = h.doctor()
    bad = [c for cs in checks.values() for c in cs if c["status"] != "OK"]
    eq(bad, [], "checks not OK on the healthy host")
    eq(rc, 0, "exit status")
    for cid in ("driver.loaded", "driver.versions", "driver.persistence", "devices.nvidiactl", "devices.uvm",
                "devices.gpus", "cache", "cdi.specs", "engine.docker", "engine.containerd",
                "engine.crio", "engine.podman", "cgroup.version", "cgroup.dev-char",
                "runtime.version", "ldconfig.cache", "ldconfig.path", "security.selinux",
                "security.apparmor", "rootless.subids"):
        assert cid in checks, f"no check {cid}"
    assert "580.159.04" in checks["driver.versions"][0]["finding"]
    assert "2 GPU(s)" in checks["driver.versions"][0]["finding"]


@test
def json_shape_is_stable():
    h = Host()
    p = run([NCTK, "doctor", "--json", *h.args()], env={"PATH": HOST_PATH})
    doc = json.loads(p.stdout)
    eq(sorted(doc), ["checks", "status", "summary", "version"], "top-level keys")
    eq(doc["version"], 1, "version")
    for c in doc["checks"]:
        eq(sorted(c), ["finding", "fix", "id", "status"], "check keys")
        assert c["status"] in ("OK", "WARN", "FAIL")
    eq(doc["summary"]["ok"], len(doc["checks"]), "summary")


@test
def text_output_one_line_per_check():
    h = Host()
    shutil.rmtree(h.sim_path("/dev/char"))
    p = run([NCTK, "doctor", *h.args()], check=False, env={"PATH": HOST_PATH})
    eq(p.returncode, 1, "exit status with a FAIL")
    lines = p.stdout.splitlines()
    fail = [i for i, ln in enumerate(lines) if ln.startswith("FAIL  cgroup.dev-char ")]
    eq(len(fail), 1, "one FAIL line")
    assert lines[fail[0] + 1].startswith("      fix: nvidia-ctk system create-dev-char-symlinks")
    assert lines[-1].endswith("1 FAIL"), lines[-1]
    # nvidia-ctk doctor is the same command.
    p2 = run([os.path.join(BIN, "nvidia-ctk"), "doctor", *h.args()], check=False,
             env={"PATH": HOST_PATH})
    eq(p2.stdout, p.stdout, "nvidia-ctk doctor")


@test
def bad_usage_is_one_line():
    p = run([NCTK, "doctor", "--bogus"], check=False)
    eq(p.returncode, 2, "exit status")
    eq(len(p.stderr.strip().splitlines()), 1, "one line")
    assert "--bogus" in p.stderr and "doctor --help" in p.stderr
    p = run([NCTK, "doctor", "--config", os.path.join(WORK, "nope.toml")], check=False)
    eq(p.returncode, 2, "missing config")
    assert "nope.toml" in p.stderr


# ---- driver ---------------------------------------------------------------------------------------


@test
def no_driver_loaded():
    h = Host()
    shutil.rmtree(os.path.join(h.proc, "driver/nvidia"))
    h.check("driver.loaded", "FAIL", ["the driver's libraries are installed but no NVIDIA "
                                      "kernel module is loaded"],
            ["modprobe nvidia", "reinstall the driver or its DKMS package"])
    _, checks = h.doctor()
    assert "devices.uvm" not in checks, "device checks run without a driver"


@test
def this_machine_without_a_driver():
    """The real /proc of this CI machine, which has no NVIDIA driver: a clear FAIL, no crash."""
    if os.path.exists("/proc/driver/nvidia/version"):
        raise AssertionError("this test expects a machine without the NVIDIA driver")
    for args in (["--json"], []):
        p = run([NCTK, "doctor", *args], check=False)
        eq(p.returncode, 1, f"exit status of doctor {args}")
        assert "no NVIDIA driver is installed or loaded" in p.stdout, p.stdout
        assert "modprobe nvidia" in p.stdout
        eq(p.stderr, "", "stderr")
    doc = json.loads(run([NCTK, "doctor", "--json"], check=False).stdout)
    eq(doc["checks"][0]["id"], "driver.loaded", "first check")


@test
def kernel_module_and_libraries_differ():
    h = Host()
    path = os.path.join(h.proc, "driver/nvidia/version")
    with open(path) as f:
        text = f.read()
    write(path, text.replace("580.159.04", "570.86.15"))
    h.check("driver.versions", "FAIL",
            ["kernel module is 570.86.15 but", "is 580.159.04",
             "Driver/library version mismatch"],
            ["reboot", "rmmod nvidia_uvm", "modprobe nvidia"])


@test
def nvml_reports_version_mismatch():
    h = Host("--rm-mismatch")
    h.check("driver.versions", "FAIL", ["driver/library version mismatch"], ["reboot"])


@test
def persistence_mode_off():
    h = Host("--persistence-off", "1")
    busid = h.desc()["gpus"][1]["busid"]
    h.check("driver.persistence", "WARN", ["persistence mode is off on 1 of 2 GPU(s)", busid],
            ["systemctl enable --now nvidia-persistenced", "nvidia-smi -pm 1"])


# ---- device nodes ---------------------------------------------------------------------------------


@test
def uvm_node_with_a_stale_major():
    h = Host()
    for name, minor in (("nvidia-uvm", 0), ("nvidia-uvm-tools", 1)):
        p = h.sim_path("/dev/" + name)
        os.unlink(p)
        os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(UVM - 1, minor))
    c = h.check("devices.uvm", "FAIL",
                [f"{h.sim}/dev/nvidia-uvm is char {UVM - 1}:0, but the running driver's is "
                 f"char {UVM}:0", "CUDA finds no device"],
                [f"rm {h.sim}/dev/nvidia-uvm {h.sim}/dev/nvidia-uvm-tools && nvidia-ctk system "
                 f"create-device-nodes --control-devices {roots_flags(h)}"])
    h.run_fix(c)
    h.check("devices.uvm", "OK", ["2 node(s) present"])


@test
def uvm_module_not_loaded():
    h = Host()
    path = os.path.join(h.proc, "devices")
    with open(path) as f:
        lines = [ln for ln in f.read().splitlines() if "nvidia-uvm" not in ln]
    write(path, "\n".join(lines) + "\n")
    h.check("devices.uvm", "FAIL", ["nvidia-uvm module is not loaded"],
            ["modprobe nvidia-uvm && nvidia-ctk system create-device-nodes --control-devices"])


@test
def gpu_node_missing():
    h = Host()
    minor = h.desc()["gpus"][1]["minor"]
    os.unlink(h.sim_path(f"/dev/nvidia{minor}"))
    c = h.check("devices.gpus", "FAIL", [f"{h.sim}/dev/nvidia{minor} is missing (char 195:{minor})"],
                [f"nvidia-ctk system create-device-nodes --gpu-devices {roots_flags(h)}"])
    h.run_fix(c)
    h.check("devices.gpus", "OK", ["2 node(s) present"])


@test
def control_node_is_a_file():
    h = Host()
    p = h.sim_path("/dev/nvidiactl")
    os.unlink(p)
    write(p, "")
    h.check("devices.nvidiactl", "FAIL", ["is a regular file, but the running driver's is "
                                          "char 195:255"], [f"rm {p} && nvidia-ctk system"])


# ---- nctk's cache -----------------------------------------------------------------------------------


@test
def cache_dir_writable_by_others():
    h = Host()
    d = h.h("/run/nctk")
    os.makedirs(d)
    os.chmod(d, 0o777)
    c = h.check("cache", "FAIL", ["mode 0777", "nctk ignores a cache"],
                [f"chown root:root {d} && chmod 0700 {d}"])
    h.run_fix(c)
    h.check("cache", "OK", ["root-only"])
    write(os.path.join(d, ".nvml-1.123"), "half")
    h.check("cache", "WARN", ["'.nvml-1.123'"], [f"rm -r {d}"])


# ---- CDI specs --------------------------------------------------------------------------------------


def generate_spec(h, out):
    run([NCTK, "ctk", "cdi", "generate", "--driver-root", h.sim, "--proc-root", h.proc,
         "--nvidia-cdi-hook-path", NCTK, "--output", out])


@test
def stale_cdi_spec():
    h = Host()
    spec = h.h("/etc/cdi/nvidia.yaml")
    os.makedirs(os.path.dirname(spec))
    generate_spec(h, spec)
    h.check("cdi.specs", "OK", [f"{spec} matches this host"])
    lib = [f for f in h.desc()["libraries"] if "libnvidia-opencl.so." in f["path"]
           and f["current"] and f["arch"] == "x86_64"][0]["path"]
    os.unlink(h.sim_path(lib))
    h.check("cdi.specs", "FAIL", [f"{spec} is stale or broken", "libnvidia-opencl"],
            [f"nvidia-ctk cdi generate --output={spec} {roots_flags(h)}"])


# ---- engines ----------------------------------------------------------------------------------------


@test
def docker_runtime_path_missing():
    h = Host()
    os.unlink(h.h("/usr/bin/nvidia-container-runtime"))
    h.check("engine.docker", "FAIL",
            ["registers the nvidia runtime as '/usr/bin/nvidia-container-runtime', which does "
             "not exist"], ["nvidia-ctk runtime configure --runtime=docker"])


@test
def docker_without_nvidia_runtime():
    h = Host()
    h.daemon_json({"log-driver": "json-file"})
    h.check("engine.docker", "WARN", ["registers no nvidia runtime"],
            ["nvidia-ctk runtime configure --runtime=docker && systemctl restart docker"])
    write(h.h("/etc/docker/daemon.json"), "{\"runtimes\": {\n")
    h.check("engine.docker", "FAIL", ["is not a JSON object: line"])


@test
def containerd_registration():
    h = Host()
    program(h.h("/usr/bin/containerd"))
    cfg = h.h("/etc/containerd/config.toml")
    write(cfg, "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
               "runtime_type = \"io.containerd.runc.v2\"\n")
    h.check("engine.containerd", "WARN", ["register no nvidia runtime"],
            ["nvidia-ctk runtime configure --runtime=containerd"])
    # A drop-in made by `nvidia-ctk runtime configure --drop-in-config` is found via imports.
    os.makedirs(h.h("/etc/containerd/conf.d"))
    run([NCTK, "ctk", "runtime", "configure", "--runtime=containerd", f"--config={cfg}",
         f"--drop-in-config={h.h('/etc/containerd/conf.d/99-nvidia.toml')}",
         "--nvidia-runtime-path=/usr/bin/nvidia-container-runtime"])
    with open(cfg) as f:
        text = f.read()
    write(cfg, text.replace(h.h("/etc/containerd/conf.d/"), "/etc/containerd/conf.d/"))
    h.check("engine.containerd", "OK", ["99-nvidia.toml registers the nvidia runtime"])


@test
def crio_and_podman_registration():
    h = Host()
    program(h.h("/usr/bin/crio"))
    program(h.h("/usr/bin/podman"))
    h.check("engine.crio", "WARN", ["neither an nvidia runtime drop-in"],
            ["nvidia-ctk runtime configure --runtime=crio"])
    h.check("engine.podman", "WARN", ["no NVIDIA CDI spec"],
            [f"nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml {roots_flags(h)}"])
    spec = h.h("/var/run/cdi/nvidia.json")
    os.makedirs(os.path.dirname(spec))
    generate_spec(h, spec)
    h.check("engine.podman", "OK", ["podman run --device nvidia.com/gpu=all"])
    os.unlink(spec)
    write(h.h("/usr/share/containers/oci/hooks.d/oci-nvidia-hook.json"), "{}")
    h.check("engine.crio", "OK", ["hooks.d"])
    h.check("engine.podman", "OK", ["hooks.d"])


# ---- cgroups ----------------------------------------------------------------------------------------


@test
def systemd_driver_without_dev_char_links():
    h = Host()
    shutil.rmtree(h.sim_path("/dev/char"))
    c = h.check("cgroup.dev-char", "FAIL",
                ["docker uses the systemd cgroup driver", "no /dev/char link",
                 "systemctl daemon-reload", "Failed to initialize NVML: Unknown Error"],
                [f"nvidia-ctk system create-dev-char-symlinks --create-all {roots_flags(h)} "
                 f"--dev-char-path={h.sim}/dev/char"])
    h.run_fix(c)
    h.check("cgroup.dev-char", "OK", ["every NVIDIA device node has its /dev/char link"])
    h.check("cgroup.version", "OK", ["cgroup v2"])


@test
def cgroupfs_driver_needs_no_links():
    h = Host()
    shutil.rmtree(h.sim_path("/dev/char"))
    h.daemon_json({"exec-opts": ["native.cgroupdriver=cgroupfs"],
                   "runtimes": {"nvidia": {"path": "/usr/bin/nvidia-container-runtime"}}})
    h.check("cgroup.dev-char", "OK", ["no engine uses the systemd cgroup driver"])
    write(os.path.join(h.proc, "mounts"),
          "tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/devices cgroup rw 0 0\n")
    h.check("cgroup.version", "OK", ["cgroup v1"])


# ---- the low-level runtime ----------------------------------------------------------------------------


@test
def old_runc():
    h = Host()
    program(h.h("/usr/bin/runc"), "runc version 1.1.5")
    fix = ["upgrade runc to 1.1.14 or later"]
    h.check("runtime.version", "WARN", ["'runc version 1.1.5'", "CVE-2024-45310",
                                         "in its own hook"], fix)
    h.set_config('[nvidia-container-runtime]\nmount-in-hook = "never"\n')
    h.check("runtime.version", "FAIL", ["mount-in-hook = \"never\""], fix)
    h.set_config("")
    h.daemon_json({"features": {"cdi": True},
                   "runtimes": {"nvidia": {"path": "/usr/bin/nvidia-container-runtime"}}})
    h.check("runtime.version", "FAIL", ["an engine injects CDI devices itself"], fix)
    # containerd's enable_cdi is an engine injecting CDI devices through runc too.
    h.daemon_json({"runtimes": {"nvidia": {"path": "/usr/bin/nvidia-container-runtime"}}})
    h.check("runtime.version", "WARN", ["in its own hook"], fix)
    program(h.h("/usr/bin/containerd"))
    write(h.h("/etc/containerd/config.toml"),
          "version = 3\n[plugins.\"io.containerd.cri.v1.runtime\"]\nenable_cdi = true\n")
    h.check("runtime.version", "FAIL", ["an engine injects CDI devices itself"], fix)
    program(h.h("/usr/bin/runc"), "crun version 1.8.1")
    h.check("runtime.version", "OK", ["makes mount targets and device nodes safely"])


# ---- ldconfig -----------------------------------------------------------------------------------------


@test
def ld_cache_missing():
    h = Host()
    os.unlink(h.sim_path("/etc/ld.so.cache"))
    h.check("ldconfig.cache", "FAIL", [f"{h.sim}/etc/ld.so.cache", "nothing can find"],
            [f"ldconfig -r {h.sim}"])


@test
def ldconfig_is_a_wrapper_script():
    h = Host()
    write(h.h("/sbin/ldconfig"), "#!/bin/sh\nexec /sbin/ldconfig.real \"$@\"\n", 0o755)
    write(h.h("/sbin/ldconfig.real"), "\x7fELF", 0o755)
    h.set_config('[nvidia-container-cli]\nldconfig = "@/sbin/ldconfig"\n')
    h.check("ldconfig.path", "WARN", ["a wrapper script around /sbin/ldconfig.real"],
            [f"nvidia-ctk config --config-file={h.config} --in-place --set "
             "nvidia-container-cli.ldconfig=@/sbin/ldconfig.real"])
    c = h.check("ldconfig.path", "WARN")
    h.run_fix(c)
    h.check("ldconfig.path", "OK", ["/sbin/ldconfig.real"])
    h.set_config('[nvidia-container-cli]\nldconfig = "@/sbin/ldconfig.gone"\n')
    h.check("ldconfig.path", "WARN", ["/sbin/ldconfig.gone, which is missing"])


# ---- SELinux and rootless -------------------------------------------------------------------------------


@test
def selinux_enforcing_without_device_boolean():
    h = Host()
    write(h.h("/sys/fs/selinux/enforce"), "1")
    write(h.h("/sys/fs/selinux/booleans/container_use_devices"), "0 0")
    h.check("security.selinux", "WARN", ["container_use_devices is off"],
            ["setsebool -P container_use_devices on"])
    write(h.h("/sys/fs/selinux/booleans/container_use_devices"), "1 1")
    h.check("security.selinux", "OK", ["enforcing and container_use_devices is on"])


@test
def rootless_setup():
    h = Host()
    write(h.h("/etc/subuid"), "alice:100000:65536\n")
    h.check("rootless.subids", "WARN", ["/etc/subgid has none"], ["usermod --add-subuids"])
    write(h.h("/etc/subgid"), "alice:100000:65536\n")
    h.check("rootless.subids", "OK", ["1 user(s)"])
    h.check("rootless.cgroups", "WARN", ["no-cgroups = false"],
            ["nvidia-container-cli.no-cgroups"])
    h.set_config("[nvidia-container-cli]\nno-cgroups = true\n")
    h.check("rootless.cgroups", "OK", ["no-cgroups = true"])
    write(os.path.join(h.proc, "sys/kernel/apparmor_restrict_unprivileged_userns"), "1\n")
    h.check("rootless.userns", "WARN", ["AppArmor restricts unprivileged user namespaces"],
            ["sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"])
    write(os.path.join(h.proc, "sys/user/max_user_namespaces"), "0\n")
    h.check("rootless.userns", "FAIL", ["max_user_namespaces is 0"],
            ["sysctl -w user.max_user_namespaces="])


run_all()
