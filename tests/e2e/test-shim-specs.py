#!/usr/bin/env python3
"""The runtime shim's cdi mode with CDI spec files of two vendors (nctk's own generated spec for
the simulated driver, and a hand-written one for a made-up vendor) in spec directories named by
config.toml: requests by NVIDIA_VISIBLE_DEVICES and by cdi.k8s.io annotations, through real runc
and crun; the container sees exactly the requested devices, files and variables; a name in no
spec, conflicting edits and one device in two files of one directory are one line each with
config.json untouched; a later directory overrides an earlier one.

usage: test-shim-specs.py NCTK PROBE"""
import hashlib
import json
import os
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from containers import parse_probe, host_mounts_mentioning, make_bundle, make_rootfs, make_sim, prepare_crun  # noqa: E402
from tap import eq, run_all, test, tmpdir  # noqa: E402

NCTK = os.path.realpath(sys.argv[1])
PROBE = os.path.abspath(sys.argv[2])
WORK = tmpdir("nctk-shim-specs-")
SIM_ROOT = os.path.join(WORK, "sim")
DESC = make_sim(SIM_ROOT, "--gpus", "4")
ROOTFS = make_rootfs(os.path.join(WORK, "rootfs"), PROBE)
BIN = os.path.join(WORK, "bin")
os.makedirs(BIN)
SHIM = os.path.join(BIN, "nvidia-container-runtime")
os.symlink(NCTK, SHIM)
STATE = os.path.join(WORK, "state")
ETC = os.path.join(WORK, "etc-cdi")      # like /etc/cdi
RUN = os.path.join(WORK, "run-cdi")      # like /var/run/cdi: wins
DUP = os.path.join(WORK, "dup-cdi")      # one device in two files
for d in (ETC, RUN, DUP):
    os.makedirs(d)
VENDOR = "sim.nvidia.com"
DATA_X = os.path.join(WORK, "data-x")
DATA_Z = os.path.join(WORK, "data-z")
for path, text in ((DATA_X, "from x\n"), (DATA_Z, "from z\n")):
    with open(path, "w") as f:
        f.write(text)
_n = [0]

subprocess.run([NCTK, "ctk", "cdi", "generate", "--driver-root", SIM_ROOT, "--proc-root",
                os.path.join(SIM_ROOT, "proc"), "--vendor", VENDOR, "--disable-hook", "all",
                "--output", os.path.join(ETC, "nvidia.yaml")], check=True)


def write_spec(path, devices, edits=None):
    s = {"cdiVersion": "0.5.0", "kind": "example.com/dev", "devices": devices}
    if edits:
        s["containerEdits"] = edits
    with open(path, "w") as f:
        json.dump(s, f)


write_spec(os.path.join(ETC, "example.json"), [
    {"name": "x", "containerEdits": {
        "env": ["EXAMPLE=x"],
        "mounts": [{"hostPath": DATA_X, "containerPath": "/opt/example/data", "options": ["ro", "bind"]}],
        "deviceNodes": [{"path": "/dev/example0", "hostPath": "/dev/null"}]}},
    {"name": "y", "containerEdits": {"env": ["EXAMPLE=y"]}},
    {"name": "z", "containerEdits": {
        "mounts": [{"hostPath": DATA_Z, "containerPath": "/opt/example/data", "options": ["ro"]}]}},
    {"name": "n", "containerEdits": {
        "deviceNodes": [{"path": "/dev/example0", "hostPath": "/dev/zero"}]}},
    {"name": "p", "containerEdits": {"env": ["EXAMPLE_P=etc"]}},
    {"name": "rw", "containerEdits": {
        "mounts": [{"hostPath": DATA_X, "containerPath": "/opt/example/data", "options": ["rw"]}]}},
    {"name": "x2", "containerEdits": {
        "mounts": [{"hostPath": DATA_X, "containerPath": "/opt/example/data", "options": ["ro", "bind"]}]}},
    {"name": "smi", "containerEdits": {
        "mounts": [{"hostPath": DATA_X, "containerPath": "/usr/bin/nvidia-smi", "options": ["ro"]}]}},
], {"env": ["EXAMPLE_SPEC=1"]})
with open(os.path.join(ETC, "gids.json"), "w") as f:
    json.dump({"cdiVersion": "0.7.0", "kind": "example.com/gid", "containerEdits": {"additionalGids": [44]},
               "devices": [{"name": "a", "containerEdits": {"additionalGids": [44, 109]}},
                           {"name": "b", "containerEdits": {"additionalGids": [109, 110]}}]}, f)
write_spec(os.path.join(RUN, "example-override.json"),
           [{"name": "p", "containerEdits": {"env": ["EXAMPLE_P=run"]}}])
write_spec(os.path.join(DUP, "a.json"), [{"name": "d", "containerEdits": {"env": ["D=a"]}}])
write_spec(os.path.join(DUP, "b.json"), [{"name": "d", "containerEdits": {"env": ["D=b"]}}])

SCRIPT = """
for f in /dev/nvidia* /dev/example*; do test -e "$f" && echo "dev: $f"; done
echo "env: EXAMPLE=$EXAMPLE EXAMPLE_SPEC=$EXAMPLE_SPEC EXAMPLE_P=$EXAMPLE_P"
test -e /opt/example/data && echo "file: $(cat /opt/example/data)"
test -e /dev/example0 && echo "node: $(stat -c %t:%T /dev/example0)"
test -e /usr/bin/nvidia-smi && echo "smi: yes"
echo "ok: 1"
"""


def config(runtimes=None, dirs=(ETC, RUN)):
    _n[0] += 1
    path = os.path.join(WORK, f"config{_n[0]}.toml")
    rt = f"runtimes = {json.dumps(runtimes)}\n" if runtimes else ""
    with open(path, "w") as f:
        f.write(f'[nvidia-container-cli]\nroot = "{SIM_ROOT}"\nproc-root = "{SIM_ROOT}/proc"\n\n'
                f'[nvidia-container-runtime]\nmode = "cdi"\n{rt}\n'
                f'[nvidia-container-runtime.modes.cdi]\nspec-dirs = {json.dumps(list(dirs))}\n')
    return path


def bundle(env=(), annotations=None):
    _n[0] += 1
    b = make_bundle(os.path.join(WORK, f"b{_n[0]}"), ROOTFS, PROBE, SCRIPT)
    path = os.path.join(b, "config.json")
    cfg = json.load(open(path))
    cfg["process"]["env"] += list(env)
    if annotations:
        cfg["annotations"] = annotations
    json.dump(cfg, open(path, "w"), indent=1)
    return b


def sha(b):
    return hashlib.sha256(open(os.path.join(b, "config.json"), "rb").read()).hexdigest()


def run_in(cfg, b, runtime="runc", action="run"):
    state = os.path.join(WORK, f"state-{runtime}")
    cid = "specs-" + uuid.uuid4().hex[:12]
    env = dict(os.environ, NVIDIA_CTK_CONFIG_FILE_PATH=cfg)
    env.pop("XDG_CONFIG_HOME", None)
    p = subprocess.run([SHIM, "--root", state, action, "--bundle", b, cid], capture_output=True,
                       text=True, env=env, timeout=120)
    subprocess.run([runtime, "--root", state, "delete", "--force", cid], capture_output=True)
    return p


def parse(out):
    r = {}
    for line in out.splitlines():
        k, _, v = line.partition(": ")
        r.setdefault(k, []).append(v)
    return r


def two_vendors(runtime, b):
    cfg = config([runtime] if runtime != "runc" else None)
    p = run_in(cfg, b, runtime)
    eq(p.returncode, 0, f"{runtime}: {p.stderr}")
    r = parse(p.stdout)
    g = DESC["gpus"][1]
    eq(sorted(d for d in r["dev"] if d.startswith("/dev/nvidia") and d[11:].isdigit()),
       [f"/dev/nvidia{g['minor']}"], "exactly the requested GPU, from the generated spec")
    assert "/dev/nvidiactl" in r["dev"], r["dev"]
    assert "/dev/example0" in r["dev"], r["dev"]
    eq(r["node"], ["1:3"], "the example node has /dev/null's numbers (stat'ed: the spec gives none)")
    eq(r["file"], ["from x"], "the example file")
    eq(r["env"], ["EXAMPLE=x EXAMPLE_SPEC=1 EXAMPLE_P="], "the device's and the spec's variables")
    eq(r.get("smi"), ["yes"], "the driver's binaries from the generated spec")
    eq(host_mounts_mentioning(b), [], "mounts visible on the host")
    rules = json.load(open(os.path.join(b, "config.json")))["linux"]["resources"]["devices"]
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"} in rules, rules
    return json.load(open(os.path.join(b, "config.json")))


@test
def runc_env_request_two_vendors():
    g = DESC["gpus"][1]
    s = two_vendors("runc", bundle([f"NVIDIA_VISIBLE_DEVICES={VENDOR}/gpu={g['index']},example.com/dev=x"]))
    # runc 1.1.5 is not safe: the mounts and nodes are made by our hook, not by runc.
    if subprocess.run(["runc", "--version"], capture_output=True, text=True).stdout.startswith("runc version 1.1.5"):
        eq([m for m in s["mounts"] if m["destination"] == "/opt/example/data"], [],
           "no spec mount in config.json on an unsafe runc")
        hook = s["hooks"]["createContainer"][-1]
        assert any(a.endswith(f"{DATA_X}::/opt/example/data") for a in hook["args"]), hook["args"]
        assert not any(d["path"] == "/dev/example0" for d in s["linux"].get("devices", [])), s["linux"]


@test
def crun_annotation_request_two_vendors():
    prepare_crun()
    g = DESC["gpus"][1]
    s = two_vendors("crun", bundle(annotations={"cdi.k8s.io/test": f"{VENDOR}/gpu={g['index']},example.com/dev=x"}))
    assert any(m["destination"] == "/opt/example/data" for m in s["mounts"]), "crun makes the mounts"


HOOKS = os.path.join(WORK, "hooks-cdi")
HOOK_VENDOR = "hooks.nvidia.com"


@test
def spec_hooks_run_after_our_mounts():
    """A generated spec with its hooks (nctk as nvidia-cdi-hook: create-symlinks, update-ldcache,
    ...), through runc 1.1.5 (our hook makes the mounts) and crun: the libraries are found by
    SONAME, so the spec's hooks ran after the mounts were made, and nvidia-smi sees one GPU."""
    os.makedirs(HOOKS)
    cdihook = os.path.join(BIN, "nvidia-cdi-hook")
    os.symlink(NCTK, cdihook)
    spec_path = os.path.join(HOOKS, "nvidia.json")
    subprocess.run([NCTK, "ctk", "cdi", "generate", "--driver-root", SIM_ROOT, "--proc-root",
                    os.path.join(SIM_ROOT, "proc"), "--vendor", HOOK_VENDOR,
                    "--nvidia-cdi-hook-path", cdihook, "--output", spec_path], check=True)
    # An ASan build of nctk as a hook runs where the container's /proc is not there yet, and its
    # leak checker aborts reading /proc/PID/task: off for the hooks, as test-cdi-hook.py does.
    spec = json.load(open(spec_path))
    for h in spec["containerEdits"]["hooks"]:
        h.setdefault("env", []).append("ASAN_OPTIONS=detect_leaks=0")
    json.dump(spec, open(spec_path, "w"))
    g = DESC["gpus"][2]
    script = "nvidia-smi -L 2>&1 | while read l; do echo \"smi: $l\"; done\n" \
             "/probe dlopen libcuda.so.1 libnvidia-ml.so.1\n"
    for runtime in ("runc", "crun"):
        _n[0] += 1
        b = make_bundle(os.path.join(WORK, f"b{_n[0]}"), ROOTFS, PROBE, script)
        path = os.path.join(b, "config.json")
        cfg = json.load(open(path))
        cfg["process"]["env"].append(f"NVIDIA_VISIBLE_DEVICES={HOOK_VENDOR}/gpu={g['index']}")
        json.dump(cfg, open(path, "w"))
        p = run_in(config([runtime] if runtime != "runc" else None, dirs=(HOOKS,)), b, runtime)
        eq(p.returncode, 0, f"{runtime}: {p.stderr}")
        r = parse_probe(p.stdout)
        eq(r["smi"], [f"GPU 0: {g['model']} (UUID: {g['uuid']})"], f"{runtime}: nvidia-smi -L")
        for lib in ("libcuda.so.1", "libnvidia-ml.so.1"):
            assert r["dlopen"][lib].endswith(".so." + DESC["driver_version"]), (runtime, r["dlopen"])


@test
def runc_annotation_only_example():
    b = bundle(annotations={"cdi.k8s.io/ex": "example.com/dev=x"})
    p = run_in(config(), b)
    eq(p.returncode, 0, p.stderr)
    r = parse(p.stdout)
    eq(r["dev"], ["/dev/example0"], "no NVIDIA device asked, none given")
    eq(r["file"], ["from x"], "the file")


@test
def later_dir_overrides_earlier():
    p = run_in(config(), bundle(["NVIDIA_VISIBLE_DEVICES=example.com/dev=p"]))
    eq(p.returncode, 0, p.stderr)
    # The winning spec's own top-level edits come with it; the losing spec's do not.
    eq(parse(p.stdout)["env"], ["EXAMPLE= EXAMPLE_SPEC= EXAMPLE_P=run"], "/var/run-like dir wins")
    p = run_in(config(dirs=(RUN, ETC)), bundle(["NVIDIA_VISIBLE_DEVICES=example.com/dev=p"]))
    eq(parse(p.stdout)["env"], ["EXAMPLE= EXAMPLE_SPEC=1 EXAMPLE_P=etc"], "order reversed: etc wins")


def fails_in_one_line(cfg, env, *want):
    b = bundle(env)
    before = sha(b)
    p = run_in(cfg, b, action="create")
    assert p.returncode != 0, "the container must not be created"
    lines = p.stderr.splitlines()
    eq(len(lines), 1, f"one error line: {p.stderr!r}")
    print("# " + lines[0])
    for w in want:
        assert w in lines[0], (w, lines[0])
    eq(sha(b), before, "config.json untouched")
    eq(sorted(os.listdir(b)), ["config.json", "rootfs"], "no temporary file left")


@test
def name_in_no_spec():
    fails_in_one_line(config(), ["NVIDIA_VISIBLE_DEVICES=example.com/dev=nope"],
                      "'example.com/dev=nope'", ETC, RUN)


@test
def conflicting_env():
    fails_in_one_line(config(), ["NVIDIA_VISIBLE_DEVICES=example.com/dev=x,example.com/dev=y"],
                      "'example.com/dev=x'", "'example.com/dev=y'", "EXAMPLE")


@test
def conflicting_mount():
    fails_in_one_line(config(), ["NVIDIA_VISIBLE_DEVICES=example.com/dev=x,example.com/dev=z"],
                      "'example.com/dev=x'", "'example.com/dev=z'", "/opt/example/data")


@test
def conflicting_node():
    fails_in_one_line(config(), ["NVIDIA_VISIBLE_DEVICES=example.com/dev=x,example.com/dev=n"],
                      "'example.com/dev=x'", "'example.com/dev=n'", "/dev/example0")


@test
def conflicting_options():
    """The same host file on the same path, once read-only and once writable: a conflict."""
    fails_in_one_line(config(), ["NVIDIA_VISIBLE_DEVICES=example.com/dev=x,example.com/dev=rw"],
                      "'example.com/dev=x'", "'example.com/dev=rw'", "/opt/example/data", "(ro", "(rw")


@test
def conflicting_with_builtin_mount():
    """A spec's mount on a path that nctk's own GPU mounts (nvidia-smi) from another file."""
    fails_in_one_line(config(), ["NVIDIA_VISIBLE_DEVICES=nvidia.com/gpu=0,example.com/dev=smi"],
                      "nctk's own devices", "'example.com/dev=smi'", "/usr/bin/nvidia-smi")


@test
def identical_mounts_merge():
    """The same mount twice (two devices; nctk's own GPU and the generated spec's GPU, which
    mount the same driver files the same way): merged, once in config.json."""
    g = DESC["gpus"]
    b = bundle([f"NVIDIA_VISIBLE_DEVICES=example.com/dev=x,example.com/dev=x2,nvidia.com/gpu={g[0]['index']},"
                f"{VENDOR}/gpu={g[1]['index']}"])
    p = run_in(config(), b)
    eq(p.returncode, 0, p.stderr)
    r = parse(p.stdout)
    eq(r["file"], ["from x"], "the file")
    eq(sorted(d for d in r["dev"] if d.startswith("/dev/nvidia") and d[11:].isdigit()),
       sorted(f"/dev/nvidia{x['minor']}" for x in g[:2]), "both GPUs")
    cfg = json.load(open(os.path.join(b, "config.json")))
    dests = [m["destination"] for m in cfg["mounts"]]
    args = [a for h in cfg.get("hooks", {}).get("createContainer", []) for a in h["args"]]
    dests += [a.rsplit("::", 1)[-1] for a in args if "::" in a]
    eq(sorted(d for d in set(dests) if dests.count(d) > 1), [], "no container path twice")


@test
def additional_gids_once():
    b = bundle(["NVIDIA_VISIBLE_DEVICES=example.com/gid=a,example.com/gid=b"])
    p = run_in(config(), b)
    eq(p.returncode, 0, p.stderr)
    cfg = json.load(open(os.path.join(b, "config.json")))
    eq(cfg["process"]["user"].get("additionalGids"), [44, 109, 110], "each gid once, in order")


@test
def invalid_spec_skipped_or_named():
    """A spec that breaks the CDI schema is skipped: a device of another spec still resolves; a
    request for one of its devices is one line naming the file and the problem."""
    d = os.path.join(WORK, "invalid-cdi")
    os.makedirs(d)
    with open(os.path.join(d, "old.json"), "w") as f:  # additionalGids needs cdiVersion 0.7.0
        json.dump({"cdiVersion": "0.5.0", "kind": "example.com/old",
                   "devices": [{"name": "g", "containerEdits": {"additionalGids": [44]}}]}, f)
    with open(os.path.join(d, "fine.json"), "w") as f:
        json.dump({"cdiVersion": "0.5.0", "kind": "example.com/fine",
                   "devices": [{"name": "f", "containerEdits": {"env": ["EXAMPLE=fine"]}}]}, f)
    p = run_in(config(dirs=(d,)), bundle(["NVIDIA_VISIBLE_DEVICES=example.com/fine=f"]))
    eq(p.returncode, 0, p.stderr)
    eq(parse(p.stdout)["env"], ["EXAMPLE=fine EXAMPLE_SPEC= EXAMPLE_P="], "the valid spec's device")
    fails_in_one_line(config(dirs=(d,)), ["NVIDIA_VISIBLE_DEVICES=example.com/old=g"],
                      "'example.com/old=g'", os.path.join(d, "old.json") + ": ", "0.7.0")


@test
def one_device_in_two_files_of_one_dir():
    fails_in_one_line(config(dirs=(DUP,)), ["NVIDIA_VISIBLE_DEVICES=example.com/dev=d"],
                      "a.json", "b.json", "example.com/dev=d")


@test
def own_names_read_no_spec():
    """nvidia.com/gpu=N alone never reads the spec dirs: a broken spec there does not matter."""
    bad = os.path.join(WORK, "bad-cdi")
    os.makedirs(bad)
    with open(os.path.join(bad, "broken.yaml"), "w") as f:
        f.write("kind: [unclosed\n")
    p = run_in(config(dirs=(bad,)), bundle(["NVIDIA_VISIBLE_DEVICES=nvidia.com/gpu=0"]))
    eq(p.returncode, 0, p.stderr)
    g = DESC["gpus"][0]
    eq(sorted(d for d in parse(p.stdout)["dev"] if d[11:].isdigit()), [f"/dev/nvidia{g['minor']}"], "gpu 0")
    fails_in_one_line(config(dirs=(bad,)), ["NVIDIA_VISIBLE_DEVICES=example.com/dev=x"], "broken.yaml")


FOLD = os.path.join(WORK, "fold-cdi")  # hooks: nctk itself as nvidia-cdi-hook (folded)
APART = os.path.join(WORK, "apart-cdi")  # hooks: a copy of nctk (another file: run apart)
FOLD_VENDOR = "fold.nvidia.com"


def generate_with_hook(d, hook):
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "nvidia.json")
    subprocess.run([NCTK, "ctk", "cdi", "generate", "--driver-root", SIM_ROOT, "--proc-root",
                    os.path.join(SIM_ROOT, "proc"), "--vendor", FOLD_VENDOR,
                    "--nvidia-cdi-hook-path", hook, "--output", path], check=True)
    return path


def tree_state(rootfs):
    """The links the hooks made and the ld cache they wrote, as a comparable value."""
    links = {}
    for top, dirs, files in os.walk(rootfs):
        for name in dirs + files:
            p = os.path.join(top, name)
            if os.path.islink(p):
                links[os.path.relpath(p, rootfs)] = os.readlink(p)
    conf = os.path.join(rootfs, "etc/ld.so.conf.d")
    confs = {n: open(os.path.join(conf, n)).read() for n in sorted(os.listdir(conf))}
    cache = hashlib.sha256(open(os.path.join(rootfs, "etc/ld.so.cache"), "rb").read()).hexdigest()
    return links, confs, cache


def nctk_hooks(cfg):
    return [h for h in cfg.get("hooks", {}).get("createContainer", [])
            if os.path.realpath(h["path"]) == NCTK]


@test
def spec_hooks_fold_into_ours():
    """A generated spec whose hooks are nctk itself: config.json gets one nctk createContainer
    hook (ours, with each spec hook as --cdi-hook in the spec's order) instead of five; the
    container gets the same links and the same ld cache as when the same hooks run one process
    each (a copy of nctk: another file, not folded), and finds libcuda by SONAME."""
    hook = os.path.join(BIN, "nvidia-cdi-hook")
    if not os.path.lexists(hook):
        os.symlink(NCTK, hook)
    copy = os.path.join(WORK, "copy", "nvidia-cdi-hook")
    os.makedirs(os.path.dirname(copy))
    subprocess.run(["cp", NCTK, copy], check=True)
    spec = json.load(open(generate_with_hook(FOLD, hook)))
    apart = generate_with_hook(APART, copy)
    # The hooks run apart are processes of their own: without the leak checker in an ASan build,
    # as in spec_hooks_run_after_our_mounts. The folded ones run in our hook, which needs none.
    s = json.load(open(apart))
    for h in s["containerEdits"]["hooks"]:
        h.setdefault("env", []).append("ASAN_OPTIONS=detect_leaks=0")
    json.dump(s, open(apart, "w"))
    names = [h["args"][1] for h in spec["containerEdits"]["hooks"]]
    assert len(names) >= 3, names
    g = DESC["gpus"][3]
    script = "/probe dlopen libcuda.so.1 libnvidia-ml.so.1\n"
    states, counts = {}, {}
    for d in (FOLD, APART):
        _n[0] += 1
        b = make_bundle(os.path.join(WORK, f"b{_n[0]}"), ROOTFS, PROBE, script)
        path = os.path.join(b, "config.json")
        cfg = json.load(open(path))
        cfg["process"]["env"].append(f"NVIDIA_VISIBLE_DEVICES={FOLD_VENDOR}/gpu={g['index']}")
        json.dump(cfg, open(path, "w"))
        p = run_in(config(dirs=(d,)), b)
        eq(p.returncode, 0, f"{d}: {p.stderr}")
        r = parse_probe(p.stdout)
        assert r["dlopen"]["libcuda.so.1"].endswith(".so." + DESC["driver_version"]), r["dlopen"]
        cfg = json.load(open(path))
        counts[d] = cfg["hooks"]["createContainer"]
        states[d] = tree_state(os.path.join(b, "rootfs"))
    ours = nctk_hooks({"hooks": {"createContainer": counts[FOLD]}})
    eq(len(counts[FOLD]), 1, "one createContainer hook when folded")
    eq(len(ours), 1, "and it is nctk's")
    steps = [json.loads(a) for i, a in enumerate(ours[0]["args"]) if ours[0]["args"][i - 1] == "--cdi-hook"]
    eq([s[0] for s in steps], names, "every spec hook, in the spec's order")
    eq(steps, [h["args"][1:] for h in spec["containerEdits"]["hooks"]], "with its arguments")
    eq(len(counts[APART]), 1 + len(names), "apart: ours (the mounts) and one per spec hook")
    eq(states[FOLD][0], states[APART][0], "the same links")
    assert any(v.startswith("libcuda.so.") for v in states[FOLD][0].values()), states[FOLD][0]
    gbm = [k for k in states[FOLD][0] if k.endswith("/gbm/nvidia-drm_gbm.so")]
    eq([states[FOLD][0][k] for k in gbm], ["../libnvidia-allocator.so.1"], "the GBM backend link")
    eq(states[FOLD][1], states[APART][1], "the same ld.so.conf.d files")
    eq(states[FOLD][2], states[APART][2], "the same ld.so.cache")


@test
def foreign_hook_keeps_its_place():
    """[ours, foreign, ours...]: only the leading run of ours is folded, so the foreign hook
    still runs after the first and before the others; a hook with a timeout is not folded."""
    spec_path = os.path.join(FOLD, "nvidia.json")
    spec = json.load(open(spec_path))
    hooks = spec["containerEdits"]["hooks"]
    hooks.insert(1, {"hookName": "createContainer", "path": "/bin/true", "args": ["true"]})
    hooks[-1]["timeout"] = 30
    for h in hooks[2:]:  # run apart: see spec_hooks_fold_into_ours
        h.setdefault("env", []).append("ASAN_OPTIONS=detect_leaks=0")
    d = os.path.join(WORK, "foreign-cdi")
    os.makedirs(d)
    json.dump(spec, open(os.path.join(d, "nvidia.json"), "w"))
    b = bundle([f"NVIDIA_VISIBLE_DEVICES={FOLD_VENDOR}/gpu=0"])
    p = run_in(config(dirs=(d,)), b)
    eq(p.returncode, 0, p.stderr)
    eq(parse(p.stdout)["ok"], ["1"], "the container ran")
    cc = json.load(open(os.path.join(b, "config.json")))["hooks"]["createContainer"]
    args = cc[0]["args"]
    eq(args[1], "hook-finalize", "ours first")
    eq([json.loads(args[i + 1])[0] for i, a in enumerate(args) if a == "--cdi-hook"],
       [hooks[0]["args"][1]], "only the first spec hook folded")
    eq([h["path"] for h in cc[1:]], [h["path"] for h in hooks[1:]], "the rest in the spec's order")


if __name__ == "__main__":
    run_all()
