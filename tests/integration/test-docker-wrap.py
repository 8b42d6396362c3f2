#!/usr/bin/env python3
"""The docker front-ends without an engine: `nvidia-docker` against a fake docker (a script named
by NV_DOCKER that records its argv and exits with a chosen status), and `docker-args` against a
simulated driver (tests/sim), in its three formats, checked against the simulator's description.

usage: test-docker-wrap.py NCTK_BINARY"""
import json
import os
import re
import shlex
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import eq, run, run_all, test, tmpdir  # noqa: E402

try:
    import yaml
except ImportError:  # checked by hand below
    yaml = None

NCTK = os.path.abspath(sys.argv[1])
SIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim", "nctk-sim")
WORK = tmpdir("nctk-docker-wrap-")
FAKE = os.path.join(WORK, "fake-docker")
RECORD = os.path.join(WORK, "argv.json")

# The fake docker: its argv (bytes, as hex, so that nothing is lost) into FAKE_RECORD, a line on
# stdout, then FAKE_RC as its exit status, or FAKE_SIGNAL sent to itself.
with open(FAKE, "w") as f:
    f.write(f"""#!{sys.executable}
import json, os, signal, sys
with open(os.environ["FAKE_RECORD"], "w") as f:
    json.dump([a.hex() for a in map(os.fsencode, sys.argv[1:])], f)
print("fake docker ran")
sys.stdout.flush()
if os.environ.get("FAKE_SIGNAL"):
    os.kill(os.getpid(), int(os.environ["FAKE_SIGNAL"]))
sys.exit(int(os.environ.get("FAKE_RC", "0")))
""")
os.chmod(FAKE, 0o755)


def nvd(*args, nv_gpu=None, rc=0, env=None, docker=FAKE):
    """nvidia-docker ARGS with the fake docker; returns (process, the argv docker got or None)."""
    if os.path.exists(RECORD):
        os.unlink(RECORD)
    e = {k: v for k, v in os.environ.items() if k not in ("NV_GPU", "NV_DOCKER", "NV_DEBUG")}
    e.update({"FAKE_RECORD": RECORD, "FAKE_RC": str(rc)})
    if docker is not None:
        e["NV_DOCKER"] = docker
    if nv_gpu is not None:
        e["NV_GPU"] = nv_gpu
    e.update(env or {})
    p = subprocess.run([NCTK, "nvidia-docker", *args], capture_output=True, text=True, env=e)
    got = None
    if os.path.exists(RECORD):
        got = [bytes.fromhex(h) for h in json.load(open(RECORD))]
    return p, got


def b(*words):
    return [os.fsencode(w) for w in words]


def one_line_error(p, needle, prog):
    assert p.returncode != 0, f"expected failure, got success: {p.stdout}"
    lines = p.stderr.strip().splitlines()
    eq(len(lines), 1, f"stderr lines ({p.stderr!r})")
    assert lines[0].startswith(prog + ": "), lines[0]
    assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


# ---------------------------------------------------------------- nvidia-docker
RT = "--runtime=nvidia"


@test
def run_and_create_get_the_runtime():
    for cmd in ("run", "create"):
        p, got = nvd(cmd, "--rm", "-it", "img", "sh", "-c", "echo run")
        eq(p.returncode, 0, f"{cmd}: exit status ({p.stderr})")
        eq(got, b(cmd, RT, "--rm", "-it", "img", "sh", "-c", "echo run"), cmd)
        eq(p.stdout, "fake docker ran\n", "docker's stdout")
    _, got = nvd("container", "run", "img")
    eq(got, b("container", "run", RT, "img"), "container run")
    _, got = nvd("container", "create", "img")
    eq(got, b("container", "create", RT, "img"), "container create")
    _, got = nvd("run")
    eq(got, b("run", RT), "run alone")


@test
def global_options_before_the_command():
    cases = [
        (["-H", "unix:///x.sock", "run", "img"], 2),
        (["--host", "tcp://h:2376", "--tlsverify", "--tlscacert", "ca", "--tlscert", "c",
          "--tlskey", "k", "create", "img"], 9),
        (["--config", "/cfg", "--context", "ctx", "-l", "debug", "-D", "--tls", "run", "img"], 8),
        (["--host=unix:///x", "--log-level=info", "--config=/c", "run", "img"], 3),
        (["-Hunix:///x", "run", "img"], 1),
        (["-c", "ctx", "run", "img"], 2),
        (["-DH", "unix:///x", "run", "img"], 2),      # a cluster ending in a value option
        (["-DlDEBUG", "run", "img"], 1),              # the value inside the cluster
        (["--tls=false", "--debug", "run", "img"], 2),
    ]
    for args, cmd in cases:
        _, got = nvd(*args)
        eq(got, b(*args[:cmd + 1], RT, *args[cmd + 1:]), f"nvidia-docker {' '.join(args)}")


@test
def option_values_are_not_commands():
    """A global option's value that reads like a command word is a value: nothing added."""
    for args in (["-H", "run", "ps"], ["--context", "create", "images"], ["-l", "run"],
                 ["--config", "run", "--", "run"], ["-Dc", "run", "ps", "run"]):
        _, got = nvd(*args, nv_gpu="1")
        eq(got, b(*args), f"nvidia-docker {' '.join(args)}")


@test
def nv_gpu_becomes_nvidia_visible_devices():
    uuid = "GPU-4d4b3a59-0f8c-4a4e-9a8f-1c0f1e7b2a11"
    mig = "MIG-7c2bc9a1-38ff-5e7f-9b9e-3c0a1b2c3d4e"
    cases = [("1", "1"), ("0 2", "0,2"), ("0,2", "0,2"), (" 0 ,\t2 \n", "0,2"),
             ("0,,2", "0,2"), (uuid, uuid), (f"{uuid} 3", f"{uuid},3"), (mig, mig),
             ("0:1", "0:1"), (f"MIG-{uuid}/7/0", f"MIG-{uuid}/7/0"), ("all", "all"),
             ("none", "none"), (f"1:0 {mig}", f"1:0,{mig}")]
    for value, want in cases:
        _, got = nvd("run", "--rm", "img", nv_gpu=value)
        eq(got, b("run", RT, "-e", f"NVIDIA_VISIBLE_DEVICES={want}", "--rm", "img"),
           f"NV_GPU={value!r}")
    for value in ("", " ", ", ,"):
        _, got = nvd("run", "img", nv_gpu=value)
        eq(got, b("run", RT, "img"), f"NV_GPU={value!r}: nothing")
    _, got = nvd("run", "img")
    eq(got, b("run", RT, "img"), "NV_GPU unset")
    _, got = nvd("-H", "unix:///x", "container", "create", "img", nv_gpu="0 2")
    eq(got, b("-H", "unix:///x", "container", "create", RT, "-e", "NVIDIA_VISIBLE_DEVICES=0,2",
              "img"), "container create with NV_GPU")


@test
def bad_nv_gpu_is_one_line():
    for value in ("0;rm -rf /", "$(id)", "GPU-xyz", "1.5", "-1", "MIG-", "gpu0", "0:", ":1",
                  "all 1", "none,0", "0\x01"):
        p, got = nvd("run", "img", nv_gpu=value)
        one_line_error(p, "NV_GPU", "nvidia-docker")
        eq(p.returncode, 1, f"NV_GPU={value!r}: exit status")
        eq(got, None, f"NV_GPU={value!r}: docker must not run")
        eq(p.stdout, "", "nothing on stdout")
    p, _ = nvd("run", "img", nv_gpu="0 x")
    assert "'x'" in p.stderr and "indices" in p.stderr and "UUIDs" in p.stderr, p.stderr
    # Only run and create read NV_GPU.
    p, got = nvd("ps", "-a", nv_gpu="$(id)")
    eq((p.returncode, got), (0, b("ps", "-a")), "other commands ignore NV_GPU")


@test
def other_commands_pass_unchanged():
    odd = ["", " ", "a b", "line\nbreak", "'quoted'", "$HOME", "--runtime=runc", "run", "-e",
           "\u00e9t\u00e9", "*"]
    cases = [["ps", "-a"], ["images"], ["exec", "-it", "c", "run"], ["start", "-a", "create"],
             ["build", "-t", "x", "."], ["logs", *odd], ["--", "run", "img"],
             ["-H", "unix:///x", "inspect", *odd], ["--help"], ["--version"], ["-v"],
             ["compose", "run", "svc"], ["image", "ls"], []]
    for args in cases:
        _, got = nvd(*args)
        eq(got, b(*args), f"nvidia-docker {args!r}")
    # Bytes that are not UTF-8 pass too.
    raw = b"\xff\xfe-not-utf8"
    p = subprocess.run([os.fsencode(NCTK), b"nvidia-docker", b"ps", raw],
                                     env={**os.environ, "NV_DOCKER": FAKE, "FAKE_RECORD": RECORD},
                                     capture_output=True)
    eq(p.returncode, 0, f"exit status ({p.stderr!r})")
    eq([bytes.fromhex(h) for h in json.load(open(RECORD))], [b"ps", raw], "non-UTF-8 argument")


@test
def exit_status_is_dockers():
    for rc in (0, 1, 3, 125, 127):
        p, got = nvd("run", "img", rc=rc)
        eq(p.returncode, rc, f"FAKE_RC={rc}")
        assert got is not None
    p, _ = nvd("ps", env={"FAKE_SIGNAL": str(int(signal.SIGTERM))})
    eq(p.returncode, -signal.SIGTERM, "docker killed by a signal: exec, no parent in between")


@test
def nv_docker_names_docker():
    p, got = nvd("run", "img", docker=f"{FAKE} --host unix:///y.sock")
    eq(got, b("--host", "unix:///y.sock", "run", RT, "img"), "NV_DOCKER with arguments")
    bindir = os.path.join(WORK, "bin")
    os.makedirs(bindir, exist_ok=True)
    if not os.path.lexists(os.path.join(bindir, "docker")):
        os.symlink(FAKE, os.path.join(bindir, "docker"))
    for docker in (None, "", "  "):
        p, got = nvd("ps", docker=docker, env={"PATH": bindir + ":" + os.environ["PATH"]})
        eq((p.returncode, got), (0, b("ps")), f"NV_DOCKER={docker!r}: docker from PATH")
    p, got = nvd("run", "img", docker=os.path.join(WORK, "no-such-docker"))
    one_line_error(p, "cannot run", "nvidia-docker")
    assert "no-such-docker" in p.stderr, p.stderr
    eq(p.returncode, 127, "a docker that is not there")


@test
def version_and_debug():
    p, got = nvd("version")
    eq(got, b("version"), "version passes")
    eq(p.stdout.splitlines()[0].startswith("NVIDIA Docker: "), True, f"version line: {p.stdout!r}")
    eq(p.stdout.splitlines()[1], "fake docker ran", "then docker's version")
    p, got = nvd("run", "it's", nv_gpu="1", env={"NV_DEBUG": "1"})
    eq(p.stderr, f"+ {FAKE} run {RT} -e NVIDIA_VISIBLE_DEVICES=1 'it'\\''s'\n", "NV_DEBUG trace")
    eq(shlex.split(p.stderr[2:]), [FAKE, "run", RT, "-e", "NVIDIA_VISIBLE_DEVICES=1", "it's"],
       "the trace is shell words")


# ---------------------------------------------------------------- docker-args
_roots = {}


def sim(name, *args):
    key = (name,) + args
    if key not in _roots:
        root = os.path.join(WORK, name)
        run([sys.executable, SIM, "create", root, *args])
        desc = json.loads(run([sys.executable, SIM, "describe", root]).stdout)
        _roots[key] = (root, desc)
    return _roots[key]


def dargs(root, *args, check=True, prog="nvidia-container-cli"):
    g = ["--root", root, "--proc-root", root + "/proc"] if root else []
    if prog == "nctk":
        return run([NCTK, *g, "docker-args", *args], check=check)
    return run([NCTK, prog, *g, "docker-args", *args], check=check)


def words(root, *args):
    """The shell format, split as a shell would: {flag: [values]} and the words."""
    out = dargs(root, *args).stdout
    eq(out.count("\n"), 1, "one line")
    w = shlex.split(out)
    r = {"--device": [], "--volume": [], "--env": []}
    for x in w:
        flag, _, value = x.partition("=")
        assert flag in r, f"unexpected word {x!r}"
        r[flag].append(value)
    return r, w


def gpu_nodes(devices):
    """The /dev/nvidiaN targets among the --device values."""
    return sorted(int(m.group(1)) for d in devices
                  for m in [re.search(r":/dev/nvidia(\d+):rw$", d)] if m)


def check_args(root, desc, r, want_idx):
    gpus = desc["gpus"]
    eq(gpu_nodes(r["--device"]), sorted(g["minor"] for g in gpus if g["index"] in want_idx),
       "GPU device nodes")
    for d in r["--device"]:
        src, dst, perm = d.split(":")
        eq(src, root + dst, f"host node of {dst}")
        eq(perm, "rw", "device access")
        assert os.path.exists(src), src
    targets = [v.split(":")[1] for v in r["--volume"]]
    eq(len(targets), len(set(targets)), "one volume per container path")
    for v in r["--volume"]:
        src, dst, *opt = v.split(":")
        assert os.path.exists(src) and os.path.realpath(src).startswith(root), v
        assert not dst.startswith("/proc"), v
    libs = {v.split(":")[1].rsplit("/", 1)[1]: v.split(":")[0] for v in r["--volume"]
            if v.split(":")[1].startswith("/usr/local/nvidia/lib64/")}
    for name in ("libcuda.so.1", "libcuda.so", "libnvidia-ml.so.1", "libnvidia-ptxjitcompiler.so.1"):
        assert name in libs, f"{name} not bound: {sorted(libs)}"
    # Each bound name is a name of the file bound there: its SONAME, or libcuda.so.
    sonames = {os.path.join(root, l["path"].lstrip("/")): l["soname"] for l in desc["libraries"]}
    for name, src in libs.items():
        assert src in sonames, f"{src} is not one of the driver's libraries"
        assert name in (sonames[src], "libcuda.so"), f"{name} bound to {src} ({sonames[src]})"
    for v in r["--volume"]:
        if "/usr/local/nvidia/lib" in v or v.startswith(root + "/usr/bin/"):
            assert v.endswith(":ro"), f"read-only: {v}"
    assert "LD_LIBRARY_PATH=/usr/local/nvidia/lib64" in r["--env"], r["--env"]
    assert "NVIDIA_VISIBLE_DEVICES=void" in r["--env"], r["--env"]


@test
def docker_args_selected_gpu_only():
    root, desc = sim("four", "--gpus", "4")
    r, _ = words(root, "--device=1")
    check_args(root, desc, r, [1])
    ctl = sorted(d.split(":")[1] for d in r["--device"] if not re.search(r"nvidia\d+:", d))
    eq(ctl, ["/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidiactl"], "control nodes")
    uuid = desc["gpus"][2]["uuid"]
    for sel, want in (([f"--device={uuid}"], [2]), (["-d", "0,2"], [0, 2]),
                      (["-d", "0", "-d", "3"], [0, 3]), ([], [0, 1, 2, 3])):
        r, _ = words(root, *sel)
        check_args(root, desc, r, want)


@test
def docker_args_capabilities():
    root, desc = sim("four", "--gpus", "4")
    r, _ = words(root, "-d", "1", "--utility")
    libs = [v for v in r["--volume"] if "/usr/local/nvidia/lib64/" in v]
    assert any(v.endswith("/libnvidia-ml.so.1:ro") for v in libs), libs
    assert not any("libcuda" in v for v in libs), f"no compute library with --utility: {libs}"
    assert not any("uvm" in d for d in r["--device"]), r["--device"]
    r, _ = words(root, "-d", "1", "--compat32")
    assert any("/usr/local/nvidia/lib/libcuda.so.1:ro" in v for v in r["--volume"]), r["--volume"]
    assert "LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib" in r["--env"], r["--env"]
    r, _ = words(root, "-d", "1", "--no-persistenced")
    assert not any("persistenced/socket" in v for v in r["--volume"]), r["--volume"]
    r, _ = words(root, "-d", "1")
    assert any(v.endswith(":/run/nvidia-persistenced/socket") or
               v.endswith(":/var/run/nvidia-persistenced/socket") for v in r["--volume"]), r["--volume"]


@test
def docker_args_mig():
    root, desc = sim("mig", "--gpus", "2", "--mig", "1")
    g = desc["gpus"][1]
    m = g["mig_devices"][0]
    for sel in ("1:0", m["uuid"]):
        r, _ = words(root, "-d", sel)
        caps = sorted(d.split(":")[1] for d in r["--device"] if "nvidia-caps" in d)
        eq(caps, sorted([m["gi_cap_node"], m["ci_cap_node"]]), "the MIG device's capability nodes")
        eq(gpu_nodes(r["--device"]), [g["minor"]], "the MIG device's GPU node only")
    assert not any(":/proc" in v for v in r["--volume"]), "nothing bound into /proc"


def unescape_compose(s):
    assert "$" not in s.replace("$$", ""), f"a lone '$' in a compose value: {s!r}"
    return s.replace("$$", "$")


def parse_compose(text):
    if yaml:
        return yaml.safe_load(text)
    # No PyYAML: the fragment's fixed shape, "key:" or "key: []" then "  - <JSON string>".
    doc, key = {}, None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if line.startswith("  - "):
            doc[key].append(json.loads(line[4:]))
        else:
            k, _, rest = line.partition(":")
            key = k
            doc[key] = [] if rest.strip() in ("", "[]") else None
    return doc


@test
def docker_args_formats_agree():
    """Shell, JSON and compose say the same, even for a driver root with a space, a quote and a
    dollar sign in its path."""
    root, desc = sim("odd dir's $HOME", "--gpus", "2")
    r, w = words(root, "-d", "1")
    check_args(root, desc, r, [1])
    assert "'" in dargs(root, "-d", "1").stdout, "the odd path is quoted"
    j = json.loads(dargs(root, "-d", "1", "--format=json").stdout)
    eq(j, w, "json = shell words")
    text = dargs(root, "-d", "1", "--format", "compose").stdout
    doc = parse_compose(text)
    eq(sorted(doc), ["devices", "environment", "volumes"], "compose keys")
    eq([unescape_compose(x) for x in doc["devices"]], r["--device"], "compose devices")
    eq([unescape_compose(x) for x in doc["volumes"]], r["--volume"], "compose volumes")
    eq([unescape_compose(x) for x in doc["environment"]], r["--env"], "compose environment")
    assert "$$HOME" in text, "compose's '$' doubled"


@test
def docker_args_reachable_by_every_name():
    root, _ = sim("four", "--gpus", "4")
    a = dargs(root, "-d", "1", prog="nvidia-container-cli").stdout
    eq(dargs(root, "-d", "1", prog="nctk").stdout, a, "nctk docker-args")
    assert "docker-args" in run([NCTK, "--help"]).stdout
    assert "docker-args" in run([NCTK, "nvidia-container-cli", "--help"]).stdout


@test
def docker_args_help_says_what_it_cannot_do():
    h = dargs(None, "--help").stdout
    for needle in ("/proc masking", "per-GPU /proc/driver/nvidia", "forward compatibility",
                   "ldconfig", "requirement checks", "/usr/local/nvidia/lib64", "LD_LIBRARY_PATH",
                   "--format=FORMAT", "compose", "--device=ID"):
        assert needle in h, f"{needle!r} not in the help"
    eq(dargs(None, "--usage").stdout.startswith("Usage: "), True, "usage")


@test
def docker_args_bad_input():
    root, _ = sim("four", "--gpus", "4")
    cases = [(["--format=xml"], "invalid --format 'xml'"), (["-d", "9"], "unknown device '9'"),
             (["--require", "cuda>=99.0"], "cuda>=99.0"), (["--bogus"], "'--bogus'"),
             (["extra"], "unexpected argument 'extra'"), (["--mig-config=0"], "only 'all'")]
    for args, needle in cases:
        p = dargs(root, *args, check=False)
        one_line_error(p, needle, "nvidia-container-cli")
        eq(p.stdout, "", f"{args}: nothing on stdout")
    colon = os.path.join(WORK, "with:colon")
    if not os.path.lexists(colon):
        os.symlink(root, colon)
    p = dargs(colon, "-d", "0", check=False)
    one_line_error(p, "':'", "nvidia-container-cli")
    eq(p.stdout, "", "nothing on stdout")


if __name__ == "__main__":
    run_all()
