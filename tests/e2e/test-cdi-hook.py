#!/usr/bin/env python3
"""nvidia-cdi-hook as the createContainer hooks of real runc and crun containers, the way a CDI
spec asks for them (NVIDIA's 1.18 spec: create-symlinks, enable-cuda-compat, update-ldcache,
disable-device-node-modification, plus update-application-profile and chmod), on the simulated
driver's libraries bind-mounted by the runtime; what the container sees is checked from inside.
Then the hook's command line run directly: warnings, errors, names, the musl path file and the
/proc params mask (a runtime cannot put a driver's /proc into a CI container).

usage: test-cdi-hook.py NCTK PROBE"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from containers import (parse_probe as parse, host_mounts_mentioning, make_bundle, make_rootfs,  # noqa: E402
                        make_sim, prepare_crun, run_container)
from tap import eq, run, run_all, test, tmpdir  # noqa: E402

if os.geteuid() != 0:
    print("1..0 # SKIP runc bundles need root")
    sys.exit(0)

NCTK = os.path.abspath(sys.argv[1])
PROBE = os.path.abspath(sys.argv[2])
WORK = tmpdir("nctk-cdi-hook-")
SIM_ROOT = os.path.join(WORK, "sim")
DESC = make_sim(SIM_ROOT, "--gpus", "2")
VER = DESC["driver_version"]
ROOTFS = make_rootfs(os.path.join(WORK, "rootfs"), PROBE)
os.makedirs(os.path.join(WORK, "bin"))
HOOK = os.path.join(WORK, "bin", "nvidia-cdi-hook")
os.symlink(NCTK, HOOK)
CTK = os.path.join(WORK, "bin", "nvidia-ctk")
os.symlink(NCTK, CTK)
LIBDIR = "/usr/local/nvidia/lib64"
LIBS = [l for l in DESC["libraries"] if l["current"] and l["arch"] == "x86_64"
        and l["name"] in ("libcuda", "libnvidia-ml")]
# What NVIDIA's spec gives its hooks, and for sanitizer builds no leak check: LeakSanitizer reads
# /proc/<its pid>/task, and a createContainer hook runs in the container's pid namespace with the
# host's /proc still mounted.
HOOK_ENV = ["NVIDIA_CTK_DEBUG=false", "ASAN_OPTIONS=detect_leaks=0"]
STATE = {"ociVersion": "1.0.2", "id": "x", "status": "creating", "pid": 1}
_n = [0]


def spec_hooks(host_version=VER, extra=()):
    """The hooks of NVIDIA's 1.18 spec for these libraries, in its order."""
    links = []
    for l in LIBS:
        base = os.path.basename(l["path"])
        links += ["--link", f"{base}::{LIBDIR}/{l['soname']}"]
    argvs = [["create-symlinks", *links],
             ["enable-cuda-compat", f"--host-driver-version={host_version}"],
             ["update-ldcache", "--folder", LIBDIR],
             ["disable-device-node-modification"],
             ["update-application-profile"], *extra]
    return [{"path": HOOK, "args": ["nvidia-cdi-hook", *a], "env": HOOK_ENV} for a in argvs]


def container(script, hooks, runtime="runc", rootfs=ROOTFS, gpus=(0,)):
    _n[0] += 1
    b = make_bundle(os.path.join(WORK, f"b{_n[0]}"), rootfs, PROBE, script)
    path = os.path.join(b, "config.json")
    spec = json.load(open(path))
    for l in LIBS:
        spec["mounts"].append({"destination": f"{LIBDIR}/{os.path.basename(l['path'])}",
                               "type": "bind", "source": SIM_ROOT + l["path"],
                               "options": ["ro", "nosuid", "nodev", "rbind", "rprivate"]})
    for i in gpus:
        g = DESC["gpus"][i]
        spec["linux"].setdefault("devices", []).append(
            {"path": g["device_node"], "type": "c", "major": 195, "minor": g["minor"],
             "fileMode": 0o666, "uid": 0, "gid": 0})
    spec["hooks"] = {"createContainer": [{"env": HOOK_ENV, **h} for h in hooks]}
    json.dump(spec, open(path, "w"), indent=1)
    return run_container(runtime, b), b


def started(p):
    eq(p.returncode, 0, f"the container must start: {p.stderr}")
    return p.stdout


def lines_with(out, prefix):
    return [l[len(prefix):] for l in out.splitlines() if l.startswith(prefix)]


CHECK = f"""
/probe dlopen libcuda.so.1 libnvidia-ml.so.1
echo "link: $(readlink {LIBDIR}/libcuda.so.1)"
echo "conf: $(cat /etc/ld.so.conf.d/00-nvcr-nctk.conf)"
echo "profile: $(cat /etc/nvidia/nvidia-application-profiles-rc.d/10-container.conf)"
"""


def check_spec_hooks(runtime):
    out = started(container(CHECK, spec_hooks(), runtime=runtime, gpus=(0, 1))[0])
    r = parse(out)
    eq(r["dlopen"], {"libcuda.so.1": f"{LIBDIR}/libcuda.so.{VER}",
                     "libnvidia-ml.so.1": f"{LIBDIR}/libnvidia-ml.so.{VER}"}, "dlopen by SONAME")
    eq(lines_with(out, "link: "), [f"libcuda.so.{VER}"], "the link")
    eq(lines_with(out, "conf: "), [LIBDIR], "ld.so.conf.d entry for a later ldconfig")
    mask = sum(1 << g["minor"] for g in DESC["gpus"])
    eq(lines_with(out, "profile: "),
       ['{"profiles":[{"name":"_container_","settings":["EGLVisibleDGPUDevices",'
        f'{hex(mask)}]}}],"rules":[{{"pattern":[],"profile":"_container_"}}]}}'],
       "application profile of the container's GPUs")


@test
def runc_reference_spec_hooks():
    check_spec_hooks("runc")


@test
def crun_reference_spec_hooks():
    prepare_crun()
    check_spec_hooks("crun")


def compat_image(name):
    img = os.path.join(WORK, name)
    run(["cp", "-a", ROOTFS, img])
    compat = os.path.join(img, "usr/local/cuda/compat")
    os.makedirs(compat)
    run(["cc", "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o",
         os.path.join(compat, "libcuda.so.999.10.01"), "-x", "c", "/dev/null"])
    os.symlink("libcuda.so.999.10.01", os.path.join(compat, "libcuda.so.1"))
    return img


@test
def cuda_compat_first_when_newer_than_the_driver():
    img = compat_image("rootfs-compat")
    for runtime in ("runc", "crun"):
        out = started(container("/probe dlopen libcuda.so.1; cat /proc/self/mountinfo",
                                spec_hooks(), runtime=runtime, rootfs=img)[0])
        eq(parse(out)["dlopen"]["libcuda.so.1"], "/usr/local/cuda/compat/libcuda.so.999.10.01",
           f"compat libcuda [{runtime}]")
        assert "/usr/local/cuda/compat" not in out.split("\n", 1)[1], "nothing mounted"


@test
def cuda_compat_left_off_on_a_newer_driver():
    """A driver of a higher major than the image's compat libcuda: the host's libcuda, and the
    entry a start on an older driver left is removed."""
    img = compat_image("rootfs-compat-old")
    os.makedirs(os.path.join(img, "etc/ld.so.conf.d"), exist_ok=True)
    with open(os.path.join(img, "etc/ld.so.conf.d/00-compat-nctk.conf"), "w") as f:
        f.write("/usr/local/cuda/compat\n")
    out = started(container("/probe dlopen libcuda.so.1; ls /etc/ld.so.conf.d",
                            spec_hooks(host_version="1000.1.2"), rootfs=img)[0])
    eq(parse(out)["dlopen"]["libcuda.so.1"], f"{LIBDIR}/libcuda.so.{VER}", "host libcuda")
    assert "00-compat-nctk.conf" not in out, out


@test
def chmod_inside_the_container():
    hooks = spec_hooks(extra=[["chmod", "--mode", "700", "--path", "/etc/ld.so.conf.d",
                               "--path", "/no/such/path", "--path=/probe"]])
    for runtime in ("runc", "crun"):
        out = started(container("stat -c 'mode: %a %n' /etc/ld.so.conf.d /probe", hooks,
                                runtime=runtime)[0])
        eq(lines_with(out, "mode: "), ["700 /etc/ld.so.conf.d", "700 /probe"], runtime)
    eq(oct(os.stat(os.path.join(ROOTFS, "probe")).st_mode & 0o7777), "0o755", "the template")


@test
def unknown_hooks_and_flags_do_not_stop_the_container():
    hooks = [{"path": HOOK, "args": ["nvidia-cdi-hook", "some-future-hook", "--x", "y"]},
             {"path": CTK, "args": ["nvidia-ctk", "hook", "create-symlinks", "--future-flag",
                                    "--link", f"libcuda.so.{VER}::{LIBDIR}/libcuda.so.1"]},
             {"path": HOOK, "args": ["nvidia-cdi-hook", "update-ldcache", "--folder", LIBDIR,
                                     "--future=1"]}]
    out = started(container("/probe dlopen libcuda.so.1", hooks)[0])
    eq(parse(out)["dlopen"]["libcuda.so.1"], f"{LIBDIR}/libcuda.so.{VER}", "dlopen")


@test
def a_failing_hook_stops_the_container_with_its_line():
    hooks = [{"path": HOOK, "args": ["nvidia-cdi-hook", "create-symlinks", "--link", "nolink"]}]
    p, b = container("echo started", hooks)
    assert p.returncode != 0 and "started" not in p.stdout, p.stdout
    assert "nvidia-cdi-hook: create-symlinks: invalid --link 'nolink'" in p.stderr, p.stderr
    eq(host_mounts_mentioning(b), [], "mounts left on the host")


def musl_image():
    """A musl image: busybox, musl's loader, the probe built with musl-gcc (musl-tools)."""
    img = os.path.join(WORK, "rootfs-musl")
    os.makedirs(os.path.join(img, "bin"))
    shutil.copy("/bin/busybox", os.path.join(img, "bin/busybox"))
    for cmd in ("sh", "cat", "echo"):
        os.symlink("busybox", os.path.join(img, "bin", cmd))
    os.makedirs(os.path.join(img, "lib"))
    shutil.copy(os.path.realpath("/lib/ld-musl-x86_64.so.1"),
                os.path.join(img, "lib/ld-musl-x86_64.so.1"))
    for d in ("etc", "dev", "proc", "sys", "tmp"):
        os.makedirs(os.path.join(img, d))
    probe_src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe.c")
    run(["musl-gcc", "-D_GNU_SOURCE", "-o", os.path.join(img, "probe"), probe_src])
    lib = os.path.join(WORK, "musl-lib")
    os.makedirs(lib)
    run(["musl-gcc", "-shared", "-fPIC", "-Wl,-soname,libmuslt.so.1", "-o",
         os.path.join(lib, "libmuslt.so.1.0"), "-x", "c", "/dev/null"])
    return img, os.path.join(lib, "libmuslt.so.1.0")


@test
def musl_image_finds_libraries_through_its_path_file():
    """musl reads no ld.so.cache: update-ldcache writes /etc/ld-musl-x86_64.path, and musl's
    dlopen by SONAME finds the library the runtime mounted."""
    img, lib = musl_image()
    hooks = [{"path": HOOK, "args": ["nvidia-cdi-hook", "create-symlinks", "--link",
                                     f"libmuslt.so.1.0::{LIBDIR}/libmuslt.so.1"]},
             {"path": HOOK, "args": ["nvidia-cdi-hook", "update-ldcache", "--folder", LIBDIR]}]
    for runtime, hs, want in (("runc", hooks, f"{LIBDIR}/libmuslt.so.1.0"),
                              ("crun", hooks, f"{LIBDIR}/libmuslt.so.1.0"),
                              ("runc", hooks[:1], "error")):
        _n[0] += 1
        b = make_bundle(os.path.join(WORK, f"b{_n[0]}"), img, PROBE,
                        "/probe dlopen libmuslt.so.1")
        path = os.path.join(b, "config.json")
        spec = json.load(open(path))
        spec["mounts"].append({"destination": f"{LIBDIR}/libmuslt.so.1.0", "type": "bind",
                               "source": lib, "options": ["ro", "rbind"]})
        spec["hooks"] = {"createContainer": [{**h, "env": HOOK_ENV} for h in hs]}
        json.dump(spec, open(path, "w"), indent=1)
        out = started(run_container(runtime, b))
        eq(parse(out)["dlopen"], {"libmuslt.so.1": want}, f"musl dlopen [{runtime}, {len(hs)}]")


@test
def soname_links_without_create_symlinks():
    """1.18's create-soname-symlinks instead of the spec's soname links: the container finds the
    driver's libraries by SONAME."""
    hooks = [{"path": HOOK, "args": ["nvidia-cdi-hook", *a]} for a in
             (["create-soname-symlinks", "--folder", LIBDIR], ["update-ldcache", "--folder", LIBDIR])]
    out = started(container(CHECK, hooks)[0])
    eq(parse(out)["dlopen"], {"libcuda.so.1": f"{LIBDIR}/libcuda.so.{VER}",
                              "libnvidia-ml.so.1": f"{LIBDIR}/libnvidia-ml.so.{VER}"}, "dlopen by SONAME")
    eq(lines_with(out, "link: "), [f"libcuda.so.{VER}"], "the link")


def shared_lib(path, soname=None):
    src = os.path.join(WORK, "empty.c")
    with open(src, "w") as f:
        f.write("int nctk_test_symbol(void) { return 1; }\n")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    run(["cc", "-shared", "-fPIC", "-o", path, src] + ([f"-Wl,-soname,{soname}"] if soname else []))


@test
def soname_links_as_ldconfig_makes_them():
    """The links of `ldconfig -n DIR` (run on a private copy): the newest file of a SONAME wins,
    a file that is its own SONAME or has none gets no link, an existing wrong link is replaced;
    a SONAME with a '/' makes no link (ldconfig would write it outside the folder), a missing
    folder is a warning."""
    b = bundle_dir("soname")
    lib = os.path.join(b, "rootfs/usr/lib/x")
    shared_lib(f"{lib}/libfoo.so.1.2.3", "libfoo.so.1")
    shared_lib(f"{lib}/libfoo.so.1.10.0", "libfoo.so.1")
    shared_lib(f"{lib}/libbar.so.2", "libbar.so.2")
    shared_lib(f"{lib}/libnone.so.3")
    os.symlink("libfoo.so.1.2.3", f"{lib}/libfoo.so.1")  # an older one's: replaced
    copy = os.path.join(WORK, "soname-ldconfig")
    shutil.copytree(lib, copy, symlinks=True)
    run(["ldconfig", "-n", copy])
    shared_lib(f"{lib}/libevil.so.5", "../../../evil.so")
    p = hook(["create-soname-symlinks", "--folder", "/usr/lib/x", "--folder", "/usr/lib/none"], b)
    eq(p.returncode, 0, p.stderr)
    warns = p.stderr.strip().splitlines()
    eq(len(warns), 2, p.stderr)
    assert "'../../../evil.so' is not a file name" in warns[0] + warns[1], warns
    assert "'/usr/lib/none' is not a directory" in warns[0] + warns[1], warns

    def links(d):
        return {n: os.readlink(os.path.join(d, n)) for n in os.listdir(d)
                if os.path.islink(os.path.join(d, n))}
    eq(links(lib), links(copy), "the same links as ldconfig -n")
    eq(links(lib)["libfoo.so.1"], "libfoo.so.1.10.0", "the newest")
    assert not os.path.lexists(os.path.join(b, "rootfs/evil.so")), "no link outside the folder"
    assert not os.path.lexists(os.path.join(b, "evil.so")), "no link outside the rootfs"


# ---- the command line, run directly -------------------------------------------------------------


def bundle_dir(name, files=()):
    b = os.path.join(WORK, name)
    os.makedirs(os.path.join(b, "rootfs/etc"))
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump({"ociVersion": "1.0.2", "process": {}, "root": {"path": "rootfs"}}, f)
    for path, text in files:
        full = os.path.join(b, "rootfs", path.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    return b


def hook(argv, bundle, env=None, prog=None):
    state = json.dumps({**STATE, "bundle": bundle})
    return run(argv if prog else [HOOK, *argv], check=False, input=state, env=env)


@test
def unknown_hook_warns_once_and_succeeds():
    b = bundle_dir("unknown")
    for argv in (["future-hook", "--a", "b"], ["--debug", "future-hook"]):
        p = hook(argv, b)
        eq((p.returncode, p.stderr), (0, "nvidia-cdi-hook: warning: unsupported CDI hook "
                                         "'future-hook', skipping\n"), str(argv))
    p = hook(["create-symlinks", "--future", "x", "--link", "a::/l"], b)
    eq((p.returncode, p.stderr), (0, "nvidia-cdi-hook: warning: unknown flag '--future x' of "
                                     "'create-symlinks' ignored\n"), "unknown flag")
    eq(os.readlink(os.path.join(b, "rootfs/l")), "a", "the link is still made")
    for quiet in (["--quiet", "future-hook"],):
        eq(hook(quiet, b).stderr, "", "--quiet")
    eq(hook(["future-hook"], b, env={"NVIDIA_CDI_QUIET": "true"}).stderr, "", "NVIDIA_CDI_QUIET")
    eq(hook(["noop"], b).stderr, "", "noop")


@test
def bad_state_or_rootfs_is_one_error_line():
    b = bundle_dir("bad")
    cases = [("not json", "cannot parse the container state on stdin"),
             (json.dumps({"pid": 1}), "no absolute 'bundle' path"),
             (json.dumps({"pid": 1, "bundle": WORK + "/none"}), "cannot open"),
             ]
    for state, want in cases:
        p = run([HOOK, "update-ldcache", "--folder", "/x"], check=False, input=state)
        eq(p.returncode, 1, state)
        eq(len(p.stderr.splitlines()), 1, p.stderr)
        assert p.stderr.startswith("nvidia-cdi-hook: update-ldcache: ") and want in p.stderr, \
            p.stderr
    os.rmdir(os.path.join(b, "rootfs/etc"))
    os.rmdir(os.path.join(b, "rootfs"))
    p = hook(["create-symlinks", "--link", "a::/b"], b)
    eq(p.returncode, 1, "missing rootfs")
    assert "cannot open rootfs" in p.stderr and len(p.stderr.splitlines()) == 1, p.stderr
    p = hook(["chmod", "--mode", "9z", "--path", "/x"], bundle_dir("badmode"))
    eq((p.returncode, p.stderr), (1, "nvidia-cdi-hook: chmod: invalid --mode '9z': want an "
                                     "octal mode\n"), "bad mode")


@test
def every_name_of_the_command():
    b = bundle_dir("names")
    for i, argv in enumerate(([CTK, "hook", "create-symlinks"], [NCTK, "cdi-hook", "create-symlinks"],
                              [CTK, "--quiet", "hook", "create-symlinks"])):
        p = hook([*argv, "--link", f"t{i}::/n/l{i}"], b, prog=True)
        eq((p.returncode, p.stderr), (0, ""), str(argv))
        eq(os.readlink(os.path.join(b, f"rootfs/n/l{i}")), f"t{i}", str(argv))
    # The reference's hidden --container-spec: the state from a file; --debug shows the bundle.
    state = os.path.join(WORK, "state.json")
    with open(state, "w") as f:
        json.dump({**STATE, "bundle": b}, f)
    p = run([HOOK, "--debug", "create-symlinks", f"--container-spec={state}", "--link", "s::/n/s"],
            input="")
    assert f"nvidia-cdi-hook: debug: bundle '{b}', rootfs '{b}/rootfs'" in p.stderr, p.stderr
    eq(os.readlink(os.path.join(b, "rootfs/n/s")), "s", "--container-spec")
    eq(run([CTK, "hook", "--help"]).returncode, 0, "help")
    assert "update-ldcache" in run([HOOK, "--help"]).stdout


@test
def image_file_in_the_way_of_a_link_is_kept():
    b = bundle_dir("inway", files=[("/usr/lib/libx.so.1", "image data\n")])
    p = hook(["create-symlinks", "--link", "libx.so.9::/usr/lib/libx.so.1",
              "--link", "libx.so.9::/usr/lib/libx.so"], b)
    eq(p.returncode, 0, p.stderr)
    eq(p.stderr, "nvidia-cdi-hook: warning: '/usr/lib/libx.so.1' is a file of the image, not a "
                 "link to 'libx.so.9': left as it is, so the container uses the image's copy; "
                 "remove it from the image if it is a driver file\n", "warning")
    eq(open(os.path.join(b, "rootfs/usr/lib/libx.so.1")).read(), "image data\n", "kept")
    eq(os.readlink(os.path.join(b, "rootfs/usr/lib/libx.so")), "libx.so.9", "the other link")
    # A restarted container: a correct link is kept, a wrong one replaced, silently.
    os.symlink("wrong", os.path.join(b, "rootfs/usr/lib/libw.so"))
    p = hook(["create-symlinks", "--link", "libx.so.9::/usr/lib/libx.so",
              "--link", "libx.so.9::/usr/lib/libw.so"], b)
    eq((p.returncode, p.stderr), (0, ""), "again")
    eq([os.readlink(os.path.join(b, "rootfs/usr/lib", n)) for n in ("libx.so", "libw.so")],
       ["libx.so.9", "libx.so.9"], "links after a restart")


@test
def musl_image_gets_its_path_file():
    b = bundle_dir("musl", files=[("/lib/ld-musl-x86_64.so.1", ""),
                                  ("/etc/ld-musl-x86_64.path", "/usr/lib/extra:/lib\n")])
    p = hook(["update-ldcache", "--folder", LIBDIR, "--folder", "/lib",
              "--ldconfig-path", "/sbin/ldconfig"], b)
    eq((p.returncode, p.stderr), (0, ""), "update-ldcache")
    eq(open(os.path.join(b, "rootfs/etc/ld-musl-x86_64.path")).read(),
       f"{LIBDIR}\n/usr/lib/extra:/lib\n", "folders first, the image's entries kept")
    assert not os.path.exists(os.path.join(b, "rootfs/etc/ld.so.cache")), "no glibc cache"
    b = bundle_dir("alpine", files=[("/etc/alpine-release", "3.20\n")])
    eq(hook(["update-ldcache", "--folder", LIBDIR], b).returncode, 0, "alpine")
    eq(open(os.path.join(b, "rootfs/etc/ld-musl-x86_64.path")).read(),
       f"{LIBDIR}\n/lib\n/usr/local/lib\n/usr/lib\n", "musl's default path kept after the folders")


@test
def params_say_no_device_file_changes():
    params = "ResmanDebugLevel: 4294967295\nModifyDeviceFiles: 1\nDeviceFileMode: 438\n"
    b = bundle_dir("params", files=[("/proc/driver/nvidia/params", params)])
    rootfs = os.path.join(b, "rootfs")
    state = json.dumps({**STATE, "bundle": b})
    inner = (f"echo '{state}' | {HOOK} disable-device-node-modification; echo rc=$?; "
             f"cat {rootfs}/proc/driver/nvidia/params; "
             f"echo x >> {rootfs}/proc/driver/nvidia/params 2>/dev/null || echo read-only")
    p = run(["unshare", "-m", "--propagation", "private", "sh", "-c", inner])
    eq(p.stdout, "rc=0\n" + params.replace("Files: 1", "Files: 0") + "read-only\n", p.stderr)
    eq(open(os.path.join(rootfs, "proc/driver/nvidia/params")).read(), params, "the file below")
    eq(host_mounts_mentioning(b), [], "mounts outside the namespace")
    # No driver in the container: nothing to do, no message.
    eq(hook(["disable-device-node-modification"], bundle_dir("noparams")).stderr, "", "no driver")


if __name__ == "__main__":
    try:
        run_all()
    finally:
        subprocess.run(["rm", "-rf", WORK])
