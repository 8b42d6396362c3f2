#!/usr/bin/env python3
"""`nvidia-ctk cdi generate|list|validate|transform root` against simulated drivers (tests/sim):
one mirroring the H200 machine (compared with NVIDIA's own specs from that machine, item by item,
the differences asserted to be exactly the ones docs/cdi.md lists), 8 GPUs, MIG; our YAML read by
Python's yaml equals our JSON read by json; our YAML reader on NVIDIA's files; validate catching a
wrong major, a missing library, an older driver's libraries and malformed YAML.

usage: test-cdi.py NCTK_BINARY (python3 with the yaml module)"""
import atexit
import copy
import json
import os
import shutil
import sys
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import eq, run, run_all, test, tmpdir  # noqa: E402

NCTK = os.path.abspath(sys.argv[1])
HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.join(HERE, "..", "sim", "nctk-sim")
REF = os.path.join(HERE, "..", "..", "..", "shared", "reference", "h200")
REF_SPECS = {"1.17": "nvidia-cdi.yaml", "1.18": "nvidia-cdi-1.18.yaml"}
WORK = tmpdir("nctk-cdi-")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)


def make_sim(name, *args):
    path = os.path.join(WORK, name)
    run([sys.executable, SIM, "create", path, *args])
    return path, json.loads(run([sys.executable, SIM, "describe", path]).stdout)


# The H200 machine: one GPU, NVIDIA's /usr/local/nvidia layout, no older driver's files, and no
# persistenced socket or MPS pipe directory (its spec mounts none).
H200, H200_DESC = make_sim("h200", "--layout", "nvidia", "--gpus", "1", "--no-old-version")
shutil.rmtree(os.path.join(H200, "var/run/nvidia-persistenced"), ignore_errors=True)
shutil.rmtree(os.path.join(H200, "run/nvidia-persistenced"), ignore_errors=True)
shutil.rmtree(os.path.join(H200, "tmp/nvidia-mps"), ignore_errors=True)
EIGHT, EIGHT_DESC = make_sim("eight", "--gpus", "8", "--seed", "3")
MIG, MIG_DESC = make_sim("mig", "--gpus", "2", "--mig", "1")


def roots(root):
    return ["--driver-root", root, "--proc-root", os.path.join(root, "proc")]


def generate(root, *args, check=True, env=None):
    return run([NCTK, "ctk", "cdi", "generate", *roots(root), *args], check=check, env=env)


def generate_here(root, *args):
    """A spec whose hooks point at a program that exists here (validate checks it)."""
    return generate(root, "--nvidia-cdi-hook-path", NCTK, *args)


def gen_yaml(root, *args):
    return yaml.safe_load(generate(root, *args).stdout)


def one_line_error(p, *needles):
    assert p.returncode != 0, f"exit 0: {p.stdout}"
    lines = p.stderr.strip().splitlines()
    eq(len(lines), 1, f"one error line, got {p.stderr!r}")
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"


from cdi_compare import EXPECTED, VERSION, basenames, differences, hook_names, hooks, links, mounts  # noqa: E402,E501


def check_reference(version):
    ours = gen_yaml(H200, "--dev-root", H200)
    with open(os.path.join(REF, REF_SPECS[version])) as f:
        ref = yaml.safe_load(f)
    got = differences(ours, ref, H200, {g["uuid"] for g in H200_DESC["gpus"]})
    for x in sorted(got):
        print(f"# {version}: {x[0]}: {x[1]}")
    missing, extra = EXPECTED[version] - got, got - EXPECTED[version]
    assert not missing and not extra, f"undocumented: {sorted(extra)}\nno longer: {sorted(missing)}"


@test
def h200_against_nvidia_1_17():
    check_reference("1.17")


@test
def h200_against_nvidia_1_18():
    check_reference("1.18")


@test
def h200_nodes_are_the_machines():
    spec = gen_yaml(H200)
    want = {d["path"]: (d["major"], d["minor"]) for d in H200_DESC["devices"]}
    nodes = spec["containerEdits"]["deviceNodes"] + [n for d in spec["devices"]
                                                     for n in d["containerEdits"]["deviceNodes"]]
    for n in nodes:
        eq((n["major"], n["minor"]), want[n["path"]], n["path"])
        eq(n["hostPath"], H200 + n["path"], "host path under the dev root")
        eq(n["type"], "c", n["path"])


@test
def docs_list_every_difference():
    with open(os.path.join(HERE, "..", "..", "docs", "cdi.md")) as f:
        doc = f.read()
    for ident in ("D1", "D2", "D3", "D4", "D5", "D6", "D7", "D8", "D9", "D10"):
        assert f"**{ident}**" in doc, f"docs/cdi.md has no {ident}"


# ---- formats -----------------------------------------------------------------------------------

@test
def yaml_equals_json():
    for root, args in ((H200, []), (EIGHT, ["--device-name-strategy", "type-index"]), (MIG, [])):
        y = yaml.safe_load(generate(root, *args).stdout)
        j = json.loads(generate(root, "--format", "json", *args).stdout)
        eq(y, j, f"{root}: YAML and JSON")


@test
def our_reader_on_nvidia_files():
    """Our YAML reader (through an identity transform to JSON) reads both of NVIDIA's styles as
    Python's yaml does."""
    for name in REF_SPECS.values():
        path = os.path.join(REF, name)
        p = run([NCTK, "ctk", "cdi", "transform", "root", "--from", "/nonexistent", "--to", "/x",
                 "--input", path, "--format", "json"])
        with open(path) as f:
            eq(json.loads(p.stdout), yaml.safe_load(f), name)


@test
def yaml_round_trip_of_awkward_strings():
    spec = gen_yaml(H200, "--format", "yaml")
    odd = ["0", "0:1", "yes", "no", "null", "~", "1e5", "-1", ".5", "a: b", "#x", "x #y", "'q'",
           '"dq"', "tab\there", "new\nline", "", " lead", "trail ", "ünï", "[a]", "{b}", "*a", "&b",
           "!t", "|", ">", "%d", "@x", "`x`", "a,b", "::", "-", "--", "- x", "?", "0x1F", "0o17",
           "1_000", "12:30:00", ".inf", "NaN", "True", "OFF", "y", "N"]
    spec["containerEdits"]["env"] = [f"K{i}={s}" for i, s in enumerate(odd)] + odd
    path = os.path.join(WORK, "odd.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    y = run([NCTK, "ctk", "cdi", "transform", "root", "--from", "/nonexistent", "--to", "/x",
             "--input", path, "--format", "yaml"]).stdout
    eq(yaml.safe_load(y), spec, "Python reads our YAML of odd strings")
    path2 = os.path.join(WORK, "odd.yaml")
    with open(path2, "w") as f:
        f.write(y)
    j = run([NCTK, "ctk", "cdi", "transform", "root", "--from", "/nonexistent", "--to", "/x",
             "--input", path2, "--format", "json"]).stdout
    eq(json.loads(j), spec, "our reader reads our YAML back")


@test
def output_file_format_and_atomic():
    out = os.path.join(WORK, "out")
    os.makedirs(out, exist_ok=True)
    j = os.path.join(out, "nvidia.json")
    generate(H200, "--output", j)
    with open(j) as f:
        json.load(f)
    y = os.path.join(out, "nvidia.yaml")
    generate(H200, "-o", y)
    with open(y) as f:
        assert f.read().startswith("---\ncdiVersion: 0.5.0\n")
    eq(oct(os.stat(y).st_mode & 0o777), "0o644", "mode")
    eq(sorted(os.listdir(out)), ["nvidia.json", "nvidia.yaml"], "no temporary left")
    p = generate(H200, "--output", os.path.join(WORK, "missing-dir", "x.yaml"), check=False)
    assert p.returncode != 0 and "missing-dir" in p.stderr, p.stderr
    with open(j) as f:
        before = f.read()
    p = generate(H200, "--output", j, "--format", "toml", check=False)
    one_line_error(p, "toml")
    with open(j) as f:
        eq(f.read(), before, "a refused run leaves the file")


@test
def every_spec_passes_validate():
    """The schema and this host (the simulated one): every kind of spec generate writes."""
    d = spec_dir("every")
    variants = [(H200, []), (EIGHT, ["--device-name-strategy", "type-index"]),
                (EIGHT, ["--device-name-strategy", "uuid", "--no-all-device"]), (MIG, []),
                (MIG, ["--mode", "management"]), (H200, ["--driver-capabilities", "utility"])]
    for i, (root, args) in enumerate(variants):
        generate_here(root, *args, "--output", os.path.join(d, f"{i}.yaml"))
        generate_here(root, *args, "--output", os.path.join(d, f"{i}.json"))
        p = validate("--proc-root", os.path.join(root, "proc"), os.path.join(d, f"{i}.yaml"),
                     os.path.join(d, f"{i}.json"))
        eq((p.returncode, p.stdout), (0, ""), f"{args}")


# ---- devices -----------------------------------------------------------------------------------

@test
def eight_gpus_names_and_nodes():
    spec = gen_yaml(EIGHT)
    gpus = EIGHT_DESC["gpus"]
    names = [d["name"] for d in spec["devices"]]
    want = []
    for g in sorted(gpus, key=lambda g: g["nvml_index"]):
        want += [str(g["nvml_index"]), g["uuid"]]
    eq(names, want + ["all"], "names")
    by = {d["name"]: d["containerEdits"]["deviceNodes"] for d in spec["devices"]}
    for g in gpus:
        eq([n["path"] for n in by[str(g["nvml_index"])]], [g["device_node"]], f"gpu {g['nvml_index']}")
        eq(by[g["uuid"]][0]["minor"], g["minor"], "minor")
    eq(sorted(n["path"] for n in by["all"]), sorted(g["device_node"] for g in gpus), "all")


@test
def strategies_device_ids_no_all():
    spec = gen_yaml(EIGHT, "--device-name-strategy", "type-index", "--device-name-strategy",
                    "index", "--no-all-device", "--device-id", "3", "--device-id", "5")
    eq([d["name"] for d in spec["devices"]], ["3", "gpu3", "5", "gpu5"], "names")
    p = generate(EIGHT, "--device-name-strategy", "serial", check=False)
    one_line_error(p, "serial")
    p = generate(EIGHT, "--device-id", "42", check=False)
    one_line_error(p, "--device-id")


@test
def env_variables():
    p = generate(EIGHT, env={"NVIDIA_CTK_CDI_GENERATE_DEVICE_NAME_STRATEGIES": "uuid",
                             "NVIDIA_CTK_CDI_GENERATE_VENDOR": "example.com",
                             "NVIDIA_CTK_CDI_HOOK_PATH": "/opt/hook",
                             "NVIDIA_CTK_CDI_GENERATE_DISABLED_HOOKS": "enable-cuda-compat"})
    spec = yaml.safe_load(p.stdout)
    eq(spec["kind"], "example.com/gpu", "kind")
    eq(spec["cdiVersion"], "0.5.0", "hostPath of the nodes needs 0.5.0")
    assert all(d["name"].startswith("GPU-") or d["name"] == "all" for d in spec["devices"])
    eq({h["path"] for h in hooks(spec)}, {"/opt/hook"}, "hook path")
    assert "enable-cuda-compat" not in hook_names(spec)
    # A flag replaces the variable's list.
    p = generate(EIGHT, "--device-name-strategy", "index", "--device-id", "2",
                 "--disable-hook", "update-ldcache",
                 env={"NVIDIA_CTK_CDI_GENERATE_DEVICE_NAME_STRATEGIES": "uuid",
                      "NVIDIA_CTK_CDI_GENERATE_DEVICE_IDS": "1",
                      "NVIDIA_CTK_CDI_GENERATE_DISABLED_HOOKS": "enable-cuda-compat"})
    spec = yaml.safe_load(p.stdout)
    eq([d["name"] for d in spec["devices"]], ["2", "all"], "flags win")
    eq(hook_names(spec), ["create-symlinks", "enable-cuda-compat",
                          "disable-device-node-modification"], "hooks")
    out = os.path.join(WORK, "env-out.json")
    generate(EIGHT, "--enable-hook", "update-ldcache",
             env={"NVIDIA_CTK_CDI_OUTPUT_FILE_PATH": out,
                  "NVIDIA_CTK_CDI_GENERATE_DISABLED_HOOKS": "all",
                  "NVIDIA_CTK_CDI_GENERATE_NO_ALL_DEVICE": "true"})
    with open(out) as f:
        spec = json.load(f)
    eq(hook_names(spec), ["update-ldcache"], "an enabled hook wins over 'all' disabled")
    assert "all" not in [d["name"] for d in spec["devices"]]
    one_line_error(generate(EIGHT, "--enable-hook", "all", check=False), "enabling all hooks")


@test
def version_is_the_lowest():
    spec = gen_yaml(EIGHT, "--device-name-strategy", "uuid")
    eq(spec["cdiVersion"], "0.5.0", "nodes with a hostPath (the dev root is not /)")
    # Without host paths and with names that start with a letter, 0.3.0 expresses it.
    for n in spec["containerEdits"]["deviceNodes"] + [n for d in spec["devices"]
                                                      for n in d["containerEdits"]["deviceNodes"]]:
        del n["hostPath"]
    spec["cdiVersion"] = "0.3.0"
    p = validate("--no-host-checks", write_json("v030.json", spec))
    eq((p.returncode, p.stdout), (0, ""), "0.3.0 is enough")
    spec["devices"][0]["name"] = "0"
    p = validate("--no-host-checks", write_json("v030.json", spec))
    assert p.returncode == 1 and "they need 0.5.0" in p.stdout, p.stdout


@test
def mig_devices():
    spec = gen_yaml(MIG)
    g = [g for g in MIG_DESC["gpus"] if g.get("mig_devices")][0]
    names = [d["name"] for d in spec["devices"]]
    assert str(g["nvml_index"]) not in names, "a GPU in MIG mode has no full-GPU device"
    by = {d["name"]: d["containerEdits"]["deviceNodes"] for d in spec["devices"]}
    for m in g["mig_devices"]:
        name = f"{g['nvml_index']}:{m['index']}"
        paths = [n["path"] for n in by[name]]
        eq(paths[0], g["device_node"], f"{name}: the parent's node")
        eq(sorted(paths[1:]), sorted(f"/dev/nvidia-caps/nvidia-cap{x}" for x in
                                     (m["gi_cap_minor"], m["ci_cap_minor"])), f"{name}: caps")
        eq(by[m["uuid"]], by[name], "MIG UUID")
    all_paths = {n["path"] for n in by["all"]}
    for d in spec["devices"]:
        assert {n["path"] for n in d["containerEdits"]["deviceNodes"]} <= all_paths


@test
def driver_capabilities():
    full = gen_yaml(H200)
    cu = gen_yaml(H200, "--driver-capabilities", "compute,utility")
    libs_full, libs_cu = basenames(full, "library"), basenames(cu, "library")
    assert libs_cu < libs_full, "fewer libraries"
    for lib in ("libcuda", "libnvidia-ml", "libnvidia-ptxjitcompiler", "libnvidia-nvvm"):
        assert f"{lib}.so.{VERSION}" in libs_cu, lib
    for lib in ("libnvidia-glcore", "libGLX_nvidia", "libnvcuvid", "libnvidia-encode"):
        assert f"{lib}.so.{VERSION}" not in libs_cu, lib
    assert not any(lib in x for x in links(cu) for lib in ("GLX", "vdpau"))
    util = gen_yaml(H200, "--driver-capabilities", "utility")
    assert "enable-cuda-compat" not in hook_names(util), "no CUDA, no compat hook"
    assert "/dev/nvidia-uvm" not in [n["path"] for n in util["containerEdits"]["deviceNodes"]]
    one_line_error(generate(H200, "--driver-capabilities", "compute,warp", check=False), "warp")


@test
def management_mode():
    spec = gen_yaml(MIG, "--mode", "management")
    eq(spec["kind"], "management.nvidia.com/gpu", "kind")
    eq([d["name"] for d in spec["devices"]], ["all"], "one device")
    paths = {n["path"] for n in spec["devices"][0]["containerEdits"]["deviceNodes"]}
    want = {d["path"] for d in MIG_DESC["devices"]} - {"/dev/nvidiactl", "/dev/nvidia-uvm",
                                                        "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"}
    eq(paths, want, "every GPU and capability node")
    one_line_error(generate(MIG, "--mode", "wsl", check=False), "wsl")


@test
def imex_channels():
    d = os.path.join(MIG, "dev/nvidia-caps-imex-channels")
    os.makedirs(d, exist_ok=True)
    major = MIG_DESC["majors"]["nvidia-caps-imex-channels"]
    for ch in (0, 7):
        path = os.path.join(d, f"channel{ch}")
        if not os.path.exists(path):
            os.mknod(path, 0o666 | 0o020000, os.makedev(major, ch))
    try:
        spec = gen_yaml(MIG, "--mode", "imex")
        eq(spec["kind"], "nvidia.com/imex-channel", "kind")
        eq([x["name"] for x in spec["devices"]], ["0", "7", "all"], "channels")
        n = spec["devices"][1]["containerEdits"]["deviceNodes"][0]
        eq((n["path"], n["major"], n["minor"]), ("/dev/nvidia-caps-imex-channels/channel7", major, 7), "node")
    finally:
        shutil.rmtree(d)


# ---- list, validate, transform ---------------------------------------------------------------

def spec_dir(name):
    d = os.path.join(WORK, name)
    os.makedirs(d, exist_ok=True)
    return d


@test
def list_names():
    d = spec_dir("list")
    generate(EIGHT, "--output", os.path.join(d, "nvidia.yaml"), "--device-id", "0,1")
    generate(MIG, "--mode", "management", "--output", os.path.join(d, "mgmt.json"))
    with open(os.path.join(d, "README"), "w") as f:
        f.write("not a spec\n")
    p = run([NCTK, "ctk", "cdi", "list", "--spec-dir", d, "--spec-dir", os.path.join(WORK, "none")])
    g = sorted(EIGHT_DESC["gpus"], key=lambda g: g["nvml_index"])
    eq(p.stdout.splitlines(), ["management.nvidia.com/gpu=all", "nvidia.com/gpu=0",
                               f"nvidia.com/gpu={g[0]['uuid']}", "nvidia.com/gpu=1",
                               f"nvidia.com/gpu={g[1]['uuid']}", "nvidia.com/gpu=all"], "names")


def validate(*args):
    return run([NCTK, "ctk", "cdi", "validate", *args], check=False)


def write_json(name, spec):
    path = os.path.join(spec_dir("validate"), name)
    with open(path, "w") as f:
        json.dump(spec, f)
    return path


@test
def validate_good_spec():
    d = spec_dir("valid-ok")
    generate_here(MIG, "--output", os.path.join(d, "nvidia.yaml"))
    p = validate("--spec-dir", d, "--proc-root", os.path.join(MIG, "proc"))
    eq((p.returncode, p.stdout, p.stderr), (0, "", ""), "a fresh spec is valid")


@test
def validate_wrong_major():
    spec = json.loads(generate_here(MIG, "--format", "json").stdout)
    spec["devices"][0]["containerEdits"]["deviceNodes"][0]["major"] = 194
    p = validate("--proc-root", os.path.join(MIG, "proc"), write_json("major.json", spec))
    eq(p.returncode, 1, "exit status")
    lines = p.stdout.splitlines()
    eq(len(lines), 1, p.stdout)
    assert "is 195:" in lines[0] and "194:" in lines[0] and "regenerate" in lines[0], lines[0]


@test
def validate_missing_library():
    spec = json.loads(generate_here(MIG, "--format", "json").stdout)
    gone = spec["containerEdits"]["mounts"][-1]["hostPath"]
    for m in spec["containerEdits"]["mounts"]:
        if "libnvidia-glcore" in m["hostPath"]:
            gone = m["hostPath"] = m["hostPath"].replace("glcore", "glcore-gone")
            break  # one library (the driver has a 32-bit one too)
    p = validate("--proc-root", os.path.join(MIG, "proc"), write_json("missing.json", spec))
    eq(p.returncode, 1, "exit status")
    eq(len(p.stdout.splitlines()), 1, p.stdout)
    assert f"mount '{gone}': No such file" in p.stdout, p.stdout


@test
def validate_older_driver():
    """A spec written for 535.104.05 while 580.159.04 runs: the old files are still there (the
    simulated leftovers), so only the versions tell."""
    spec = json.loads(generate_here(MIG, "--format", "json").stdout)
    text = json.dumps(spec).replace(VERSION, "535.104.05")
    spec = json.loads(text)
    libs = [m["hostPath"] for m in spec["containerEdits"]["mounts"] if ".so.535" in m["hostPath"]]
    libs = [x for x in libs if os.path.exists(x)]
    spec["containerEdits"]["mounts"] = [m for m in spec["containerEdits"]["mounts"]
                                        if os.path.exists(m["hostPath"])]
    assert libs, "leftover libraries exist"
    p = validate("--proc-root", os.path.join(MIG, "proc"), write_json("old.json", spec))
    eq(p.returncode, 1, "exit status")
    lines = p.stdout.splitlines()
    eq(len([x for x in lines if "of driver 535.104.05, the running driver is 580.159.04" in x]),
       len(libs), p.stdout)
    assert any("--host-driver-version=535.104.05" in x for x in lines), p.stdout


@test
def validate_malformed_and_schema():
    bad = os.path.join(spec_dir("validate"), "bad.yaml")
    with open(bad, "w") as f:
        f.write("---\ncdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: x\n   containerEdits: {}\n")
    p = validate("--no-host-checks", bad)
    eq(p.returncode, 1, "exit status")
    eq(p.stdout.splitlines(), [f"{bad}: line 6: indentation that does not match any level above"],
       "one line naming the line")
    spec = {"cdiVersion": "0.3.0", "kind": "nvidia/", "devices": [
        {"name": "0", "containerEdits": {"deviceNodes": [{"path": "dev/x"}]}},
        {"name": "-a", "containerEdits": {}}]}
    p = validate("--no-host-checks", write_json("schema.json", spec))
    eq(p.returncode, 1, "exit status")
    out = p.stdout
    for needle in ("too old for the fields used; they need 0.5.0", "kind 'nvidia/'",
                   "'path' must be an absolute path", "name '-a' is not a CDI device name",
                   "device '-a': 'containerEdits' is missing or empty"):
        assert needle in out, f"{needle!r} not in {out}"
    eq(len(out.splitlines()), 5, out)


@test
def transform_root():
    src = json.loads(generate(H200, "--format", "json").stdout)
    path = write_json("t.json", src)
    p = run([NCTK, "ctk", "cdi", "transform", "root", "--from", H200, "--to", "/host",
             "--input", path])
    out = yaml.safe_load(p.stdout)
    for m in mounts(out):
        assert m["hostPath"].startswith("/host/"), m
        assert not m["containerPath"].startswith("/host"), m
    for n in out["containerEdits"]["deviceNodes"]:
        eq(n["hostPath"], "/host" + n["path"], "node host path")
    p = run([NCTK, "ctk", "cdi", "transform", "root", "--relative-to", "container", "--from",
             "/usr/local/nvidia", "--to", "/opt/nv", "--format", "json"], input=json.dumps(src))
    out = json.loads(p.stdout)
    ld = [h for h in hooks(out) if h["args"][1] == "update-ldcache"][0]
    eq(ld["args"][2:], ["--folder", "/opt/nv/lib64", "--folder", "/opt/nv/lib"],
       "ld cache folders (64- and 32-bit) moved")
    assert any(x.endswith("::/opt/nv/lib64/libcuda.so.1") for x in links(out))
    for a, b in zip(mounts(src), mounts(out)):
        eq(b["hostPath"], a["hostPath"], "host side unchanged")
    one_line_error(run([NCTK, "ctk", "cdi", "transform", "root", "--from", "/a", "--input", path],
                       check=False), "--to")


# ---- speed ---------------------------------------------------------------------------------------

@test
def speed_eight_gpus():
    args = [NCTK, "ctk", "cdi", "generate", *roots(EIGHT), "--output", os.path.join(WORK, "s.yaml")]
    run(args)  # warm: the NVML answer is cached
    times = []
    for _ in range(20):
        t = time.monotonic()
        run(args)
        times.append((time.monotonic() - t) * 1000)
    times.sort()
    print(f"# cdi generate, 8 GPUs, warm: median {times[10]:.1f} ms, best {times[0]:.1f} ms")
    assert times[10] < 100, f"median {times[10]:.1f} ms"


run_all()
