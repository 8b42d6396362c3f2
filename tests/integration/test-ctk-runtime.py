#!/usr/bin/env python3
"""`nvidia-ctk runtime configure|unconfigure` as a user meets it, no engine needed: --dry-run
diffs that patch(1) and git apply accept, and every bad input (malformed JSON, a directory, links,
a missing or read-only directory, a full disk, a bad runtime name) refused with one line, the file
untouched, exit status 1; 20 concurrent runs, mode and owner kept, the backup, the CRI-O drop-in and
the hooks.d JSON.

usage: test-ctk-runtime.py NCTK"""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import Skip, eq, run, run_all, test, tmpdir  # noqa: E402

NCTK = os.path.abspath(sys.argv[1])
WORK = tmpdir("nctk-ctk-runtime-")
BUSY = """{
   "log-driver": "json-file",
   "log-opts": {
         "max-size": "10m",
         "max-file": "3"
   },
   "registry-mirrors": ["https://mirror.example"],
   "runtimes": {
         "crun": {
               "path": "/usr/bin/crun"
         }
   },
   "default-runtime": "runc",
   "features": {"buildkit": true}
}
"""


def ctk(*args, cwd=None, check=False):
    return run([NCTK, "ctk", *args], check=check, cwd=cwd)


def fresh(name, text=BUSY, mode=None):
    d = os.path.join(WORK, name)
    os.makedirs(d)
    path = os.path.join(d, "daemon.json")
    if text is not None:
        with open(path, "w") as f:
            f.write(text)
        if mode is not None:
            os.chmod(path, mode)
    return d, path


def read(path):
    with open(path, "rb") as f:
        return f.read()


def one_line_error(p, *needles):
    eq(p.returncode, 1, f"exit status (stderr {p.stderr!r})")
    lines = p.stderr.strip("\n").split("\n")
    eq(len(lines), 1, f"stderr lines ({p.stderr!r})")
    assert lines[0].startswith("nvidia-ctk: "), lines[0]
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"


def listing(d):
    return sorted(os.listdir(d))


@test
def configure_unconfigure_busy_file():
    d, path = fresh("busy")
    p = ctk("runtime", "configure", "--config", path, "--nvidia-runtime-path", "/bin/true",
            check=True)
    eq(p.stdout, "nvidia-ctk: runtime 'nvidia' registered; restart docker to apply it: "
       "systemctl restart docker\n", "stdout")
    got = json.loads(read(path))
    eq(got["runtimes"]["nvidia"], {"path": "/bin/true", "args": []}, "runtime")
    eq(list(got), ["log-driver", "log-opts", "registry-mirrors", "runtimes", "default-runtime",
                   "features"], "key order")
    assert b'\n         "nvidia": {\n               "path": "/bin/true",\n' in read(path), read(path)
    eq(read(path + ".nctk.bak"), BUSY.encode(), "backup")
    p = ctk("runtime", "configure", "--config", path, "--nvidia-runtime-path", "/bin/true", check=True)
    assert "nothing to change" in p.stdout, p.stdout
    ctk("runtime", "unconfigure", "--config", path, check=True)
    eq(read(path), BUSY.encode(), "unconfigure gives the file back")


@test
def dry_run_applies_with_patch_and_git_apply():
    for tool in (["patch", "-s", "-p0"], ["git", "apply", "-p0"]):
        d, path = fresh("dry-" + tool[0])
        before = os.stat(path)
        p = ctk("runtime", "configure", "--config", "daemon.json", "--dry-run",
                "--nvidia-set-as-default", "--cdi.enabled", cwd=d, check=True)
        assert p.stdout.startswith("--- daemon.json\n+++ daemon.json\n@@ "), p.stdout
        eq(read(path), BUSY.encode(), "--dry-run wrote nothing")
        eq(os.stat(path).st_mtime_ns, before.st_mtime_ns, "mtime")
        eq(listing(d), ["daemon.json"], "no backup, no temporary")
        run(tool, cwd=d, input=p.stdout)
        applied = read(path)
        ctk("runtime", "configure", "--config", "daemon.json", "--nvidia-set-as-default",
            "--cdi.enabled", cwd=d, check=True)
        eq(applied, read(path), f"{tool[0]} applied the diff to what configure writes")


@test
def dry_run_of_a_new_file():
    d, path = fresh("dry-new", text=None)
    p = ctk("runtime", "configure", "--config", path, "--dry-run", check=True)
    assert p.stdout.startswith(f"--- /dev/null\n+++ {path}\n@@ -0,0 +1,8 @@\n+{{\n"), p.stdout
    eq(listing(d), [], "nothing written")
    run(["git", "apply", "-p0", "--unsafe-paths", "--directory=/"], input=p.stdout.replace(
        f"+++ {path}", f"+++ {path.lstrip('/')}"), cwd="/")
    eq(json.loads(read(path)), {"runtimes": {"nvidia": {"path": "nvidia-container-runtime",
                                                        "args": []}}}, "new file")


@test
def malformed_file_one_line():
    cases = [('{\n  "a": 1,\n}\n', "line 3, column 1: expected a string"),
             ('{"a": [1, 2}', "line 1, column 12: expected ',' or ']'"),
             ('{"runtimes": {}, "runtimes": {}}', "line 1, column 18: 'runtimes' is there twice"),
             ('[]', "line 1, column 1: the top level must be an object"),
             ('{} {}', "line 1, column 4: unexpected text"),
             ('{"a": "b', "line 1, column 9: unterminated string")]
    for i, (text, want) in enumerate(cases):
        d, path = fresh(f"bad-{i}", text=text)
        for verb in ("configure", "unconfigure"):
            p = ctk("runtime", verb, "--config", path)
            one_line_error(p, f"{path}: {want}", "nothing was changed")
            eq(read(path), text.encode(), "file untouched")
            eq(listing(d), ["daemon.json"], "no backup, no temporary")


@test
def config_is_a_directory():
    d, path = fresh("isdir", text=None)
    os.mkdir(path)
    one_line_error(ctk("runtime", "configure", "--config", path), path, "directory")
    eq(os.listdir(path), [], "directory untouched")


@test
def symlinks_refused():
    d, path = fresh("links", text=None)
    os.symlink("nowhere.json", path)
    one_line_error(ctk("runtime", "configure", "--config", path), path, "symbolic link")
    eq(os.readlink(path), "nowhere.json", "dangling link untouched")
    eq(listing(d), ["daemon.json"], "nothing created")
    real = os.path.join(d, "real.json")
    with open(real, "w") as f:
        f.write(BUSY)
    os.unlink(path)
    os.symlink("real.json", path)
    one_line_error(ctk("runtime", "configure", "--config", path), path, "symbolic link")
    eq(read(real), BUSY.encode(), "link target untouched")
    eq(os.readlink(path), "real.json", "link untouched")


@test
def missing_parent_directory():
    path = os.path.join(WORK, "no-such-dir", "daemon.json")
    one_line_error(ctk("runtime", "configure", "--config", path), path, "no-such-dir")
    assert not os.path.exists(os.path.dirname(path))


def need_root():
    if os.geteuid() != 0:
        raise Skip("needs root (mounts, chown); CI runs as root")


def in_mount_ns(script, *args):
    """Runs SCRIPT under sh in a mount namespace of its own, so its mounts vanish with it."""
    need_root()
    return run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *args],
               check=False)


@test
def read_only_directory():
    d, path = fresh("readonly")
    p = in_mount_ns('mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" ctk '
                    'runtime configure --config "$1/daemon.json"', d, NCTK)
    one_line_error(p, path, "Read-only file system")
    eq(read(path), BUSY.encode(), "file untouched")
    eq(listing(d), ["daemon.json"], "no backup, no temporary")


@test
def full_disk_leaves_no_partial_file():
    d, path = fresh("full")
    big = BUSY.replace('"log-driver"', '"x": "' + "x" * 30000 + '",\n   "log-driver"')
    with open(path, "w") as f:
        f.write(big)
    # A 64 KiB tmpfs with the file and a filler that leaves less room than the new file needs.
    orig = os.path.join(WORK, "full-orig.json")
    p = in_mount_ns('cp "$1/daemon.json" "$3" && mount -t tmpfs -o size=64k tmpfs "$1" && '
                    'cp "$3" "$1/daemon.json" && { head -c 65536 /dev/zero > "$1/filler"; true; } '
                    '2>/dev/null && "$2" ctk runtime configure --config "$1/daemon.json"; rc=$?; '
                    'cmp -s "$3" "$1/daemon.json" && echo same; ls -A "$1"; exit $rc',
                    d, NCTK, orig)
    one_line_error(p, path, "No space left on device")
    eq(p.stdout.split(), ["same", "daemon.json", "filler"], "the file as it was, nothing else")


@test
def bad_runtime_names():
    d, path = fresh("names")
    for name in ('nv"idia', "nv\nidia", "", "a/b", "x" * 65):
        for verb in ("configure", "unconfigure"):
            p = ctk("runtime", verb, "--config", path, "--nvidia-runtime-name", name)
            one_line_error(p, "invalid --nvidia-runtime-name")
    eq(read(path), BUSY.encode(), "file untouched")
    eq(listing(d), ["daemon.json"], "nothing written")


@test
def bad_options():
    d, path = fresh("opts")
    for args, want in [(["--runtime=podman"], "invalid value 'podman' for --runtime"),
                       (["--config-mode=x"], "invalid value 'x' for --config-mode"),
                       (["--drop-in-config=/x"], "--drop-in-config is for containerd and CRI-O"),
                       (["--config-mode=oci-hook"], "--config-mode=oci-hook is for CRI-O"),
                       (["--runtime=crio", "--drop-in-config="], "through a drop-in only"),
                       (["--bogus"], "unknown or incomplete option '--bogus'"),
                       (["extra"], "unexpected argument 'extra'")]:
        one_line_error(ctk("runtime", "configure", "--config", path, *args), want)
    one_line_error(ctk("runtime", "reconfigure"), "unknown command 'runtime reconfigure'")
    p = ctk("runtime", "configure", "--help", check=True)
    assert "--nvidia-set-as-default" in p.stdout and "--dry-run" in p.stdout, p.stdout
    eq(read(path), BUSY.encode(), "file untouched")


@test
def missing_runtime_warns():
    d, path = fresh("warn")
    p = ctk("runtime", "configure", "--config", path, "--nvidia-runtime-path", "/no/such/runtime",
            check=True)
    eq(p.stderr, "nvidia-ctk: warning: runtime '/no/such/runtime' was not found; the engine cannot "
       "start it until it is installed\n", "warning")
    eq(json.loads(read(path))["runtimes"]["nvidia"]["path"], "/no/such/runtime", "written anyway")


@test
def mode_owner_and_new_file_mode():
    need_root()
    d, path = fresh("mode", mode=0o600)
    os.chown(path, 1234, 5678)
    ino = os.stat(path).st_ino
    ctk("runtime", "configure", "--config", path, check=True)
    st = os.stat(path)
    eq((st.st_mode & 0o7777, st.st_uid, st.st_gid), (0o600, 1234, 5678), "mode and owner")
    assert st.st_ino != ino, "replaced by rename, not rewritten in place"
    bak = os.stat(path + ".nctk.bak")
    eq((bak.st_mode & 0o7777, bak.st_uid, bak.st_gid), (0o600, 1234, 5678), "backup mode, owner")
    d, path = fresh("newmode", text=None)
    old = os.umask(0o077)
    try:
        ctk("runtime", "configure", "--config", path, check=True)
    finally:
        os.umask(old)
    eq(os.stat(path).st_mode & 0o7777, 0o644, "new file mode")
    eq(listing(d), ["daemon.json"], "no backup of a file that was not there")


@test
def concurrent_configure_runs():
    d, path = fresh("concurrent")
    procs = [subprocess.Popen([NCTK, "ctk", "--quiet", "runtime", "configure", "--config", path,
                               "--nvidia-set-as-default"], stderr=subprocess.PIPE)
             for _ in range(20)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        eq(p.returncode, 0, f"exit status ({err!r})")
    text = read(path)
    got = json.loads(text)
    eq(got["runtimes"]["nvidia"]["path"], "nvidia-container-runtime", "runtime")
    eq(text.count(b'"nvidia"'), 2, "the runtime once, the default once")
    eq(listing(d), ["daemon.json", "daemon.json.nctk.bak"], "no temporary left")


@test
def crio_drop_in():
    d = os.path.join(WORK, "crio")
    drop = os.path.join(d, "crio.conf.d", "99-nvidia.toml")
    os.makedirs(os.path.dirname(drop))
    p = ctk("runtime", "configure", "--runtime=crio", "--drop-in-config", drop, "--dry-run",
            check=True)
    assert p.stdout.startswith(f"--- /dev/null\n+++ {drop}\n"), p.stdout
    eq(os.listdir(os.path.dirname(drop)), [], "dry run wrote nothing")
    p = ctk("runtime", "configure", "--runtime=crio", "--drop-in-config", drop,
            "--nvidia-set-as-default", check=True)
    assert "restart crio" in p.stdout, p.stdout
    import tomllib
    eq(tomllib.loads(read(drop).decode()), {"crio": {"runtime": {
        "default_runtime": "nvidia",
        "runtimes": {"nvidia": {"runtime_path": "/usr/bin/nvidia-container-runtime",
                                "runtime_type": "oci"}}}}}, "drop-in")
    eq(os.stat(drop).st_mode & 0o777, 0o644, "mode")
    ctk("runtime", "unconfigure", "--runtime=crio", "--drop-in-config", drop, check=True)
    eq(os.listdir(os.path.dirname(drop)), [], "unconfigure removed the drop-in")


@test
def oci_hook_file():
    d = os.path.join(WORK, "hooks.d")
    os.makedirs(d)
    hook = os.path.join(d, "oci-nvidia-hook.json")
    p = ctk("runtime", "configure", "--runtime=crio", "--config-mode=oci-hook", "--oci-hook-path",
            hook, "--nvidia-runtime-hook-path", "/bin/true", check=True)
    assert "podman" in p.stdout, p.stdout
    got = json.loads(read(hook))
    eq(got["hook"]["path"], "/bin/true", "hook path")
    eq(got["hook"]["args"], ["nvidia-container-runtime-hook", "prestart"], "hook args")
    eq(got["stages"], ["prestart"], "stages")
    eq(got["version"], "1.0.0", "version")
    ctk("runtime", "unconfigure", "--runtime=crio", "--config-mode=oci-hook", "--oci-hook-path",
        hook, check=True)
    eq(os.listdir(d), [], "unconfigure removed the hook file")


CONTAINERD_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "containerd")


def containerd_dump(config):
    """The installed containerd's view of CONFIG (imports included); no daemon is started."""
    p = run(["containerd", "--config", config, "config", "dump"], check=True)
    import tomllib
    return tomllib.loads(p.stdout)


@test
def containerd_in_place_keeps_every_other_byte():
    """--drop-in-config= edits config.toml in place: containerd reads the runtime and the
    default from it; every line of the original is still there, in order; unconfigure gives
    the original bytes back."""
    d = os.path.join(WORK, "containerd-in-place")
    os.makedirs(d)
    path = os.path.join(d, "config.toml")
    shutil.copy(os.path.join(CONTAINERD_DATA, "commented-1.6.toml"), path)
    before = read(path)
    ctk("runtime", "configure", "--runtime=containerd", "--config", path, "--drop-in-config=",
        "--nvidia-set-as-default", "--nvidia-runtime-path=/bin/true", check=True)
    after = read(path)
    ctd = containerd_dump(path)["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]
    eq(ctd["runtimes"]["nvidia"]["options"]["BinaryName"], "/bin/true", "BinaryName")
    eq(ctd["default_runtime_name"], "nvidia", "default runtime")
    import difflib
    old = before.decode().splitlines()
    sm = difflib.SequenceMatcher(None, old, after.decode().splitlines(), autojunk=False)
    missing = [line for op, i1, i2, _, _ in sm.get_opcodes() if op in ("replace", "delete")
               for line in old[i1:i2]]
    # the one line configure changes: the default, whose old value it keeps in a comment
    eq([line.strip() for line in missing], ['default_runtime_name = "runc"'], "lines changed")
    eq(read(path + ".nctk.bak"), before, "backup")
    p = ctk("runtime", "configure", "--runtime=containerd", "--config", path, "--drop-in-config=",
            "--nvidia-set-as-default", "--nvidia-runtime-path=/bin/true", check=True)
    eq(read(path), after, "a second configure changes nothing")
    ctk("runtime", "unconfigure", "--runtime=containerd", "--config", path, "--drop-in-config=",
        check=True)
    eq(read(path), before, "unconfigure: the original bytes")


@test
def containerd_drop_in_and_imports():
    """The default layout: a drop-in, and an imports line in config.toml; containerd 1.6 reads
    the runtime from the drop-in and keeps the main config's CRI settings."""
    d = os.path.join(WORK, "containerd-drop-in")
    os.makedirs(os.path.join(d, "conf.d"))
    path, drop = os.path.join(d, "config.toml"), os.path.join(d, "conf.d", "99-nvidia.toml")
    shutil.copy(os.path.join(CONTAINERD_DATA, "commented-1.6.toml"), path)
    before = read(path)
    ctk("runtime", "configure", "--runtime=containerd", "--config", path, "--drop-in-config",
        drop, "--nvidia-runtime-path=/bin/true", check=True)
    cri = containerd_dump(path)["plugins"]["io.containerd.grpc.v1.cri"]
    eq(cri["containerd"]["runtimes"]["nvidia"]["options"]["BinaryName"], "/bin/true", "runtime")
    assert "runc" in cri["containerd"]["runtimes"], "runc kept"
    eq(cri["containerd"]["runtimes"]["nvidia"]["container_annotations"], ["cdi.k8s.io/*"],
       "CDI annotations passed to the runtime")
    ctk("runtime", "unconfigure", "--runtime=containerd", "--config", path, "--drop-in-config",
        drop, check=True)
    eq(read(path), before, "unconfigure: config.toml's original bytes")
    eq(os.listdir(os.path.dirname(drop)), [], "unconfigure removed the drop-in")


@test
def drop_in_folder_made_when_the_engine_is_there():
    """Debian 12's containerd has /etc/containerd but no conf.d: configure makes the folder (not
    on a dry run); with no engine folder at all it stays the one line naming the folder."""
    d = os.path.join(WORK, "containerd-no-conf-d")
    os.makedirs(d)
    path, drop = os.path.join(d, "config.toml"), os.path.join(d, "conf.d", "99-nvidia.toml")
    shutil.copy(os.path.join(CONTAINERD_DATA, "commented-1.6.toml"), path)
    p = ctk("runtime", "configure", "--runtime=containerd", "--config", path, "--drop-in-config",
            drop, "--dry-run")
    assert not os.path.exists(os.path.dirname(drop)), "a dry run made the folder"
    ctk("runtime", "configure", "--runtime=containerd", "--config", path, "--drop-in-config",
        drop, check=True)
    eq(os.stat(os.path.dirname(drop)).st_mode & 0o777, 0o755, "conf.d made, mode 0755")
    assert os.path.isfile(drop), "the drop-in written"
    gone = os.path.join(WORK, "no-engine", "crio.conf.d", "99-nvidia.toml")
    p = ctk("runtime", "configure", "--runtime=crio", "--drop-in-config", gone)
    one_line_error(p, "cannot open its directory", "is the engine installed?")
    assert not os.path.exists(os.path.join(WORK, "no-engine")), "nothing made for a missing engine"


@test
def containerd_bad_config_one_line():
    d = os.path.join(WORK, "containerd-bad")
    os.makedirs(d)
    path = os.path.join(d, "config.toml")
    with open(path, "w") as f:
        f.write("version = 2\n[plugins\n")
    p = ctk("runtime", "configure", "--runtime=containerd", "--config", path, "--drop-in-config=")
    one_line_error(p, path, ":2:")
    eq(read(path), b"version = 2\n[plugins\n", "untouched")


@test
def speed_on_a_large_containerd_config():
    """A guard against a slow editor on a 2,000-line containerd config: the best of 5 under
    200 ms even under ASan+UBSan on a busy 2-CPU machine. The target (20
    ms, release build) is measured by bench/bench-ctk.sh and recorded in bench/results/."""
    d = os.path.join(WORK, "containerd-large")
    os.makedirs(d)
    path = os.path.join(d, "config.toml")
    text = read(os.path.join(CONTAINERD_DATA, "commented-1.6.toml")).decode()
    while text.count("\n") < 2000:
        text += f"\n# padding comment {text.count(chr(10))}\n[plugins.\"x.{text.count(chr(10))}\"]\n  k = 1\n"
    with open(path, "w") as f:
        f.write(text)
    best = None
    for _ in range(5):
        ctk("runtime", "unconfigure", "--runtime=containerd", "--config", path,
            "--drop-in-config=", check=True)
        t = time.monotonic()
        ctk("--quiet", "runtime", "configure", "--runtime=containerd", "--config", path,
            "--drop-in-config=", "--nvidia-runtime-path=/bin/true", check=True)
        dt = time.monotonic() - t
        best = dt if best is None else min(best, dt)
    print(f"# containerd configure on {text.count(chr(10))} lines: best {best * 1000:.1f} ms",
          flush=True)
    assert best < 0.2, f"configure took {best * 1000:.1f} ms"


@test
def speed_on_a_large_daemon_json():
    """Configure stays fast on a large file (200 runtimes, 2,000+ lines)."""
    d, path = fresh("large", text=None)
    doc = {"log-opts": {f"k{i}": str(i) for i in range(200)},
           "runtimes": {f"rt{i}": {"path": f"/usr/bin/rt{i}", "runtimeArgs": ["--a", "--b"]}
                        for i in range(200)}}
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    best = None
    for _ in range(5):
        ctk("runtime", "unconfigure", "--config", path, check=True)
        t = time.monotonic()
        ctk("--quiet", "runtime", "configure", "--config", path, check=True)
        dt = time.monotonic() - t
        best = dt if best is None else min(best, dt)
    print(f"# configure on {sum(1 for _ in open(path))} lines: best {best * 1000:.1f} ms", flush=True)
    assert best < 0.2, f"configure took {best * 1000:.1f} ms"


if __name__ == "__main__":
    try:
        run_all()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
