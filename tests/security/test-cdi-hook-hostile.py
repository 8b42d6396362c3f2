#!/usr/bin/env python3
"""Hostile images against every hook of nvidia-cdi-hook: links to /, `..` chains, absolute links
to host files and directories, links through /proc/self/root, a FIFO where a file is read, and a
directory swapped for links out of the rootfs while the hooks run. Each hook runs as a runtime
runs it (the state on stdin, in a private mount namespace), then the test proves that no host
file was created, changed, re-moded or mounted over. Every case runs again with openat2 and the
new mount API made to fail with ENOSYS through seccomp (no-syscalls, as test-hostile.py).

usage: test-cdi-hook-hostile.py NCTK NO_SYSCALLS"""
import hashlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from tap import eq, run_all, test, tmpdir  # noqa: E402

if os.geteuid() != 0:
    print("1..0 # SKIP mount namespaces and bind mounts need root")
    sys.exit(0)

NCTK = os.path.abspath(sys.argv[1])
NO_SYSCALLS = os.path.abspath(sys.argv[2])
WORK = tmpdir("nctk-cdi-hostile-")
HOOK = os.path.join(WORK, "nvidia-cdi-hook")
os.symlink(NCTK, HOOK)
CANARY = os.path.join(WORK, "host-canary")  # stands for any host directory
os.makedirs(CANARY)
with open(os.path.join(CANARY, "params"), "w") as f:
    f.write("ModifyDeviceFiles: 1\n")
with open(os.path.join(CANARY, "other.conf"), "w") as f:
    f.write(CANARY + "\n")
os.makedirs(os.path.join(CANARY, "compat"))
open(os.path.join(CANARY, "compat/libcuda.so.999.1.1"), "w").close()
# A real library with a SONAME in the host directory: followed out of the rootfs, the folder
# would get its link there.
with open(os.path.join(WORK, "lib.c"), "w") as f:
    f.write("int nctk_hostile(void) { return 0; }\n")
subprocess.run(["cc", "-shared", "-fPIC", "-Wl,-soname,libcanary.so.1", "-o",
                os.path.join(CANARY, "libcanary.so.1.0.0"), os.path.join(WORK, "lib.c")], check=True)
HOST_FILE = os.path.join(WORK, "host-file")
with open(HOST_FILE, "w") as f:
    f.write("host data\n")
os.chmod(HOST_FILE, 0o640)
WRAPPERS = {"plain": [], "no-openat2": [NO_SYSCALLS, "--openat2"],
            "no-openat2-no-newmount": [NO_SYSCALLS, "--openat2", "--newmount"]}
LINK = "libcuda.so.580.1.1::/usr/local/nvidia/lib64/libcuda.so.1"
_n = [0]


def host_state():
    """What must never change: the canary tree (names, modes, bytes), the host file (bytes and
    mode), the host's mount table."""
    tree = []
    for d, dirs, fs in os.walk(CANARY):
        for name in sorted(dirs + fs):
            p = os.path.join(d, name)
            st = os.lstat(p)
            data = open(p, "rb").read() if os.path.isfile(p) and not os.path.islink(p) else b""
            tree.append((p, st.st_mode, hashlib.sha256(data).hexdigest()))
    st = os.stat(HOST_FILE)
    digest = hashlib.sha256(open(HOST_FILE, "rb").read()).hexdigest()
    mounts = sorted(l.split(" ")[4] for l in open("/proc/self/mountinfo"))
    return sorted(tree), digest, st.st_mode, mounts


def make_bundle(name):
    b = os.path.join(WORK, name)
    root = os.path.join(b, "rootfs")
    for d in ("etc/ld.so.conf.d", "usr/lib", "usr/local", "dev", "tmp", "proc"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    with open(os.path.join(root, "etc/ld.so.conf"), "w") as f:
        f.write("include /etc/ld.so.conf.d/*.conf\n")
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump({"ociVersion": "1.0.2", "process": {}, "root": {"path": "rootfs"}}, f)
    return b, root


def hook(bundle, argv, wrapper="plain", pre="", extra=""):
    """Runs one hook in a private mount namespace (PRE and EXTRA run there too)."""
    state = json.dumps({"ociVersion": "1.0.2", "id": "x", "pid": 1, "bundle": bundle})
    cmd = (f"{pre} echo '{state}' | {' '.join(WRAPPERS[wrapper])} {HOOK} {' '.join(argv)}; "
           f"echo rc=$?; {extra}")
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", cmd],
                          capture_output=True, text=True, timeout=60)


def rc_of(p):
    for line in p.stdout.splitlines():
        if line.startswith("rc="):
            return int(line[3:])
    raise AssertionError(f"no rc in {p.stdout!r} {p.stderr!r}")


def contained(p):
    """A hostile tree may make a hook fail, but then with one clear line; each_wrapper proves the
    host untouched either way."""
    rc = rc_of(p)
    lines = p.stderr.strip().splitlines()
    if rc != 0 or lines:
        eq(len(lines), 1, f"one line: {p.stderr!r}")
        assert lines[0].startswith("nvidia-cdi-hook: "), lines
    return rc


def each_wrapper(fn):
    def wrapped():
        for w in WRAPPERS:
            before = host_state()
            _n[0] += 1
            fn(w, *make_bundle(f"{fn.__name__}-{w}"))
            eq(host_state(), before, f"host state after {fn.__name__} [{w}]")
    wrapped.__name__ = fn.__name__
    return test(wrapped)


def mount_proc(root):
    return f"mount -t proc proc {root}/proc &&"


# ---- create-symlinks ----------------------------------------------------------------------------


@each_wrapper
def links_under_a_link_to_root(w, b, root):
    os.symlink("/", os.path.join(root, "usr/local/nvidia"))
    p = hook(b, ["create-symlinks", "--link", LINK], w)
    eq(rc_of(p), 0, p.stderr)
    eq(os.readlink(os.path.join(root, "lib64/libcuda.so.1")), "libcuda.so.580.1.1", "inside")
    assert not os.path.lexists("/lib64/libcuda.so.1")


@each_wrapper
def links_under_a_dotdot_chain(w, b, root):
    os.symlink("../" * 20 + CANARY.lstrip("/"), os.path.join(root, "usr/local/nvidia"))
    contained(hook(b, ["create-symlinks", "--link", LINK], w))


@each_wrapper
def links_under_an_absolute_link_to_a_host_dir(w, b, root):
    os.symlink(CANARY, os.path.join(root, "usr/local/nvidia"))
    contained(hook(b, ["create-symlinks", "--link", LINK], w))


@each_wrapper
def links_through_proc_self_root(w, b, root):
    os.symlink("/proc/self/root" + CANARY, os.path.join(root, "usr/local/nvidia"))
    contained(hook(b, ["create-symlinks", "--link", LINK], w, pre=mount_proc(root)))


@each_wrapper
def link_path_is_a_link_to_a_host_file(w, b, root):
    os.symlink(HOST_FILE, os.path.join(root, "usr/lib/libx.so.1"))
    p = hook(b, ["create-symlinks", "--link", "libx.so.9::/usr/lib/libx.so.1"], w)
    eq(rc_of(p), 0, p.stderr)
    eq(os.readlink(os.path.join(root, "usr/lib/libx.so.1")), "libx.so.9", "the link replaced")


# ---- update-ldcache -----------------------------------------------------------------------------


@each_wrapper
def ldcache_files_are_links_to_the_host(w, b, root):
    os.rmdir(os.path.join(root, "etc/ld.so.conf.d"))
    os.symlink(CANARY, os.path.join(root, "etc/ld.so.conf.d"))
    os.symlink(HOST_FILE, os.path.join(root, "etc/ld.so.cache"))
    with open(os.path.join(root, "etc/ld.so.conf"), "a") as f:
        f.write(f"include {'../' * 12}{CANARY.lstrip('/')}/*.conf\n{CANARY}\n")
    os.makedirs(os.path.join(root, "usr/local/nvidia"))
    os.symlink("../" * 12 + CANARY.lstrip("/"), os.path.join(root, "usr/local/nvidia/lib64"))
    p = hook(b, ["update-ldcache", "--folder", "/usr/local/nvidia/lib64"], w)
    eq(rc_of(p), 0, p.stderr)
    assert "cannot write '/etc/ld.so.conf.d/00-nvcr-nctk.conf'" in p.stderr, "a dangling link"
    assert not os.path.islink(os.path.join(root, "etc/ld.so.cache")), "the planted link replaced"
    # The same link, leading to a directory inside the rootfs this time.
    os.makedirs(root + CANARY)
    p = hook(b, ["update-ldcache", "--folder", "/usr/local/nvidia/lib64"], w)
    eq((rc_of(p), p.stderr), (0, ""), "update-ldcache")
    assert os.path.isfile(os.path.join(root + CANARY, "00-nvcr-nctk.conf")), "inside the rootfs"


@each_wrapper
def ldcache_folder_through_proc_self_root(w, b, root):
    os.makedirs(os.path.join(root, "usr/local/nvidia"))
    os.symlink("/proc/self/root" + CANARY, os.path.join(root, "usr/local/nvidia/lib64"))
    contained(hook(b, ["update-ldcache", "--folder", "/usr/local/nvidia/lib64"], w,
                   pre=mount_proc(root)))


@each_wrapper
def musl_path_file_is_a_link_to_a_host_file(w, b, root):
    open(os.path.join(root, "etc/alpine-release"), "w").write("3.20\n")
    os.symlink(HOST_FILE, os.path.join(root, "etc/ld-musl-x86_64.path"))
    p = hook(b, ["update-ldcache", "--folder", "/usr/local/nvidia/lib64"], w)
    eq(rc_of(p), 0, p.stderr)
    assert not os.path.islink(os.path.join(root, "etc/ld-musl-x86_64.path")), "replaced"


# ---- create-soname-symlinks ---------------------------------------------------------------------


SONAME_FOLDER = "/usr/local/nvidia/lib64"


def soname_hook(b, w, **kw):
    return hook(b, ["create-soname-symlinks", "--folder", SONAME_FOLDER], w, **kw)


def lib_in(root, name, soname):
    os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
    subprocess.run(["cc", "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", os.path.join(root, name),
                    os.path.join(WORK, "lib.c")], check=True)


@each_wrapper
def soname_folder_is_a_link_to_a_host_dir(w, b, root):
    os.symlink(CANARY, os.path.join(root, "usr/local/nvidia"))
    contained(hook(b, ["create-soname-symlinks", "--folder", "/usr/local/nvidia"], w))


@each_wrapper
def soname_folder_under_a_dotdot_chain(w, b, root):
    os.symlink("../" * 20 + CANARY.lstrip("/"), os.path.join(root, "usr/local/nvidia"))
    contained(hook(b, ["create-soname-symlinks", "--folder", "/usr/local/nvidia"], w))


@each_wrapper
def soname_folder_through_proc_self_root(w, b, root):
    os.symlink("/proc/self/root" + CANARY, os.path.join(root, "usr/local/nvidia"))
    contained(hook(b, ["create-soname-symlinks", "--folder", "/usr/local/nvidia"], w,
                   pre=mount_proc(root)))


@each_wrapper
def soname_folder_is_a_link_to_root(w, b, root):
    """A link to / is the rootfs' own root: the link is made there, inside."""
    lib_in(root, "libcanary.so.1.0.0", "libcanary.so.1")
    os.symlink("/", os.path.join(root, "usr/local/nvidia"))
    p = hook(b, ["create-soname-symlinks", "--folder", "/usr/local/nvidia"], w)
    eq((rc_of(p), p.stderr), (0, ""), "create-soname-symlinks")
    eq(os.readlink(os.path.join(root, "libcanary.so.1")), "libcanary.so.1.0.0", "inside")


@each_wrapper
def soname_link_path_is_a_link_to_a_host_file(w, b, root):
    lib_in(root, SONAME_FOLDER.lstrip("/") + "/libx.so.9.9", "libx.so.9")
    os.symlink(HOST_FILE, os.path.join(root, SONAME_FOLDER.lstrip("/"), "libx.so.9"))
    p = soname_hook(b, w)
    eq((rc_of(p), p.stderr), (0, ""), "create-soname-symlinks")
    eq(os.readlink(os.path.join(root, SONAME_FOLDER.lstrip("/"), "libx.so.9")), "libx.so.9.9",
       "the planted link replaced, not followed")


@each_wrapper
def soname_is_a_path_out_of_the_folder(w, b, root):
    out = "../" * 12 + CANARY.lstrip("/") + "/libevil.so.1"
    lib_in(root, SONAME_FOLDER.lstrip("/") + "/libevil.so.1.0", out)
    lib_in(root, SONAME_FOLDER.lstrip("/") + "/libabs.so.1.0", CANARY + "/libabs.so.1")
    p = soname_hook(b, w)
    eq(rc_of(p), 0, p.stderr)
    eq(len(p.stderr.strip().splitlines()), 2, f"one warning each: {p.stderr!r}")
    eq(sorted(os.listdir(os.path.join(root, SONAME_FOLDER.lstrip("/")))), ["libabs.so.1.0", "libevil.so.1.0"],
       "no link made")


@each_wrapper
def soname_candidates_are_fifos_and_links_to_host_files(w, b, root):
    d = os.path.join(root, SONAME_FOLDER.lstrip("/"))
    os.makedirs(d)
    os.mkfifo(os.path.join(d, "libfifo.so.1.0"))
    os.symlink(os.path.join(CANARY, "libcanary.so.1.0.0"), os.path.join(d, "libhost.so.1.0"))
    os.symlink("/dev/zero", os.path.join(d, "libzero.so.1.0"))
    p = soname_hook(b, w)
    eq((rc_of(p), p.stderr), (0, ""), "nothing to do, nothing opened that blocks")
    eq(sorted(os.listdir(d)), ["libfifo.so.1.0", "libhost.so.1.0", "libzero.so.1.0"], "no link made")


# ---- enable-cuda-compat -------------------------------------------------------------------------


@each_wrapper
def compat_dir_is_a_link_to_a_host_dir(w, b, root):
    """The host directory holds a newer libcuda: followed out of the rootfs, it would be used."""
    os.makedirs(os.path.join(root, "usr/local/cuda"))
    os.symlink(os.path.join(CANARY, "compat"), os.path.join(root, "usr/local/cuda/compat"))
    p = hook(b, ["enable-cuda-compat", "--host-driver-version=580.1.1"], w)
    eq(rc_of(p), 0, p.stderr)
    assert not os.path.exists(os.path.join(root, "etc/ld.so.conf.d/00-compat-nctk.conf"))


@each_wrapper
def compat_conf_dir_is_a_link_to_a_host_dir(w, b, root):
    compat = os.path.join(root, "usr/local/cuda/compat")
    os.makedirs(compat)
    open(os.path.join(compat, "libcuda.so.999.1.1"), "w").close()
    os.rmdir(os.path.join(root, "etc/ld.so.conf.d"))
    os.symlink(CANARY, os.path.join(root, "etc/ld.so.conf.d"))
    eq(contained(hook(b, ["enable-cuda-compat", "--host-driver-version", "580.1.1"], w)), 1,
       "nowhere to write the entry: the dangling link is not followed")
    os.makedirs(root + CANARY)
    p = hook(b, ["enable-cuda-compat", "--host-driver-version", "580.1.1"], w)
    eq(rc_of(p), 0, p.stderr)
    assert os.path.isfile(os.path.join(root + CANARY, "00-compat-nctk.conf")), "inside"


# ---- disable-device-node-modification -----------------------------------------------------------


@each_wrapper
def params_dir_is_a_link_to_a_host_dir(w, b, root):
    os.makedirs(os.path.join(root, "proc/driver"))
    os.symlink(CANARY, os.path.join(root, "proc/driver/nvidia"))
    p = hook(b, ["disable-device-node-modification"], w, extra=f"cat {CANARY}/params")
    eq(rc_of(p), 0, p.stderr)
    assert "ModifyDeviceFiles: 1" in p.stdout, "the host's file, not covered"


@each_wrapper
def params_is_a_fifo(w, b, root):
    os.makedirs(os.path.join(root, "proc/driver/nvidia"))
    os.mkfifo(os.path.join(root, "proc/driver/nvidia/params"))
    p = hook(b, ["disable-device-node-modification"], w)
    eq(rc_of(p), 1, "refused, without blocking on the FIFO")
    contained(p)


@each_wrapper
def params_is_a_link_to_a_host_file(w, b, root):
    os.makedirs(os.path.join(root, "proc/driver/nvidia"))
    os.symlink(HOST_FILE, os.path.join(root, "proc/driver/nvidia/params"))
    p = hook(b, ["disable-device-node-modification"], w, extra=f"cat {HOST_FILE}")
    eq(rc_of(p), 0, p.stderr)
    assert "host data" in p.stdout, "nothing mounted over the host file"


@each_wrapper
def params_covered_with_and_without_the_new_mount_api(w, b, root):
    params = os.path.join(root, "proc/driver/nvidia/params")
    os.makedirs(os.path.dirname(params))
    with open(params, "w") as f:
        f.write("ModifyDeviceFiles: 1\n")
    p = hook(b, ["disable-device-node-modification"], w,
             extra=f"cat {params}; (echo x >> {params}) 2>/dev/null || echo read-only; ls -A {root}")
    eq((rc_of(p), p.stderr), (0, ""), "the hook")
    eq(p.stdout.splitlines()[1:3], ["ModifyDeviceFiles: 0", "read-only"], "covered")
    eq(sorted(p.stdout.splitlines()[3:]), ["dev", "etc", "proc", "tmp", "usr"], "no scratch left")
    eq(open(params).read(), "ModifyDeviceFiles: 1\n", "the file below")


# ---- update-application-profile -----------------------------------------------------------------


@each_wrapper
def profile_dir_is_a_link_to_a_host_dir(w, b, root):
    os.mknod(os.path.join(root, "dev/nvidia3"), 0o666 | 0o020000, os.makedev(195, 3))
    os.symlink(CANARY, os.path.join(root, "etc/nvidia"))
    eq(contained(hook(b, ["update-application-profile"], w)), 1, "a dangling link")
    os.makedirs(root + CANARY)
    p = hook(b, ["update-application-profile"], w)
    eq(rc_of(p), 0, p.stderr)
    conf = os.path.join(root + CANARY, "nvidia-application-profiles-rc.d/10-container.conf")
    assert '"EGLVisibleDGPUDevices",0x8]' in open(conf).read()


@each_wrapper
def profile_dev_is_a_link_to_the_host_dev(w, b, root):
    os.rmdir(os.path.join(root, "dev"))
    os.symlink("../" * 12 + "dev", os.path.join(root, "dev"))
    contained(hook(b, ["update-application-profile"], w))
    assert not os.path.exists(os.path.join(root, "etc/nvidia")), "the host's GPUs are not seen"


# ---- chmod --------------------------------------------------------------------------------------


@each_wrapper
def chmod_through_links_out_of_the_rootfs(w, b, root):
    os.symlink(HOST_FILE, os.path.join(root, "abs"))
    os.symlink("../" * 12 + HOST_FILE.lstrip("/"), os.path.join(root, "dotdot"))
    os.symlink("/proc/self/root" + HOST_FILE, os.path.join(root, "magic"))
    os.symlink(CANARY, os.path.join(root, "dir"))
    for path in ("/abs", "/dotdot", "/dir", "/magic"):
        contained(hook(b, ["chmod", "--mode", "777", "--path", path], w, pre=mount_proc(root)))


# ---- a directory swapped while the hooks run ----------------------------------------------------


@test
def racing_directory_swaps():
    """A process swaps the library directory, atomically and as fast as it can, between a real
    directory of the image and links out of the rootfs (absolute, and a `..` chain), while the
    hooks run 150 times each way. The canary directory holds a library with a SONAME, so that
    create-soname-symlinks led there would make its link there."""
    before = host_state()
    b, root = make_bundle("race")
    os.makedirs(os.path.join(root, "usr/local/nvidia/real"))
    lib = os.path.join(root, "usr/local/nvidia/lib64")
    os.symlink("real", lib)
    flipper = subprocess.Popen([sys.executable, "-c", f"""
import os
lib = {lib!r}
targets = ["real", {CANARY!r}, "../../../../../../../.." + {CANARY!r}]
i = 0
while True:
    tmp = lib + ".tmp"
    try:
        os.symlink(targets[i % 3], tmp)
        os.rename(tmp, lib)
    except OSError:
        pass
    i += 1
"""])
    failures = 0
    try:
        for i in range(150):
            for argv in (["create-symlinks", "--link", LINK],
                         ["update-ldcache", "--folder", "/usr/local/nvidia/lib64"],
                         ["chmod", "--mode", "700", "--path", "/usr/local/nvidia/lib64"],
                         ["create-soname-symlinks", "--folder", "/usr/local/nvidia/lib64"]):
                failures += contained(hook(b, argv, "plain" if i % 2 else "no-openat2")) != 0
    finally:
        flipper.kill()
        flipper.wait()
    eq(host_state(), before, "host state after 600 racing hooks")
    print(f"# {failures} of 600 hooks refused a swapped tree, none escaped")


if __name__ == "__main__":
    try:
        run_all()
    finally:
        subprocess.run(["rm", "-rf", WORK])
