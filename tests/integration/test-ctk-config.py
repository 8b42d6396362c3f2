#!/usr/bin/env python3
"""`nvidia-ctk config default` and `nvidia-ctk config [--set ...] [-i|-o]` on temporary files: the
default file parses (tomllib) to the reference's defaults; --set changes exactly the bytes of the
keys it sets; bad keys and values get one line and leave the file alone; --in-place is atomic and
keeps mode and owner.

usage: test-ctk-config.py NCTK_BINARY"""
import atexit
import os
import subprocess
import shutil
import stat
import sys
import tempfile
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import eq, run, run_all, test, tmpdir  # noqa: E402

NCTK = os.path.abspath(sys.argv[1])
WORK = tmpdir("nctk-ctk-config-")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)


def workdir():
    return tempfile.mkdtemp(dir=WORK)


def ctk(*args, check=True, env=None):
    return run([NCTK, "ctk", *args], check=check, env=env)


def one_line_error(p, *needles):
    assert p.returncode == 1, f"exit {p.returncode}, want 1: {p.stdout} {p.stderr}"
    lines = p.stderr.strip().splitlines()
    eq(len(lines), 1, f"stderr lines ({p.stderr!r})")
    assert lines[0].startswith("nvidia-ctk: "), lines[0]
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"


def suse():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("ID_LIKE="):
                    words = line.split("=", 1)[1].replace('"', " ").replace("'", " ").split()
                    return "suse" in words or "opensuse" in words
    except OSError:
        pass
    return False


# The reference's defaults (research/features.md 2.6), written out independently of nctk's
# tables; the tables with no key set are still there, empty.
DEFAULTS = {
    "disable-require": False,
    "swarm-resource": "",
    "accept-nvidia-visible-devices-envvar-when-unprivileged": True,
    "accept-nvidia-visible-devices-as-volume-mounts": False,
    "supported-driver-capabilities": "compat32,compute,display,graphics,ngx,utility,video",
    "nvidia-container-cli": {
        "root": "", "path": "", "environment": [], "debug": "", "ldcache": "",
        "load-kmods": True, "no-pivot": False, "no-cgroups": False,
        "user": "root:video" if suse() else "",
        "ldconfig": "@/sbin/ldconfig.real" if os.path.exists("/sbin/ldconfig.real")
        else "@/sbin/ldconfig",
    },
    "nvidia-container-runtime": {
        "debug": "/dev/null", "log-level": "info", "runtimes": ["runc", "crun"], "mode": "auto",
        "modes": {
            "cdi": {"spec-dirs": ["/etc/cdi", "/var/run/cdi"], "default-kind": "nvidia.com/gpu",
                    "annotation-prefixes": ["cdi.k8s.io/"]},
            "csv": {"mount-spec-path": "/etc/nvidia-container-runtime/host-files-for-container.d"},
            "jit-cdi": {},
            "legacy": {"cuda-compat-mode": "ldconfig"},
        },
    },
    "nvidia-container-runtime-hook": {"path": "nvidia-container-runtime-hook",
                                      "skip-mode-detection": False},
    "nvidia-ctk": {"path": "nvidia-ctk"},
    "features": {k: False for k in (
        "allow-cuda-compat-libs-from-container", "allow-ldconfig-from-container",
        "allow-unknown-oci-spec-fields", "disable-cuda-compat-lib-hook",
        "disable-imex-channel-creation", "ignore-imex-channel-requests",
        "no-additional-gids-for-device-nodes")},
}

# The commented examples the reference's default file shows, plus nctk's unset keys.
EXAMPLES = ['#swarm-resource = "DOCKER_RESOURCE_GPU"', '#root = "/run/nvidia/driver"',
            '#path = "/usr/bin/nvidia-container-cli"',
            '#debug = "/var/log/nvidia-container-toolkit.log"', '#ldcache = "/etc/ld.so.cache"',
            '#user = "root:video"', '#debug = "/var/log/nvidia-container-runtime.log"',
            '#proc-root = "/proc"', '#compat-container-root = "/usr/local/cuda/compat"']

# A hand-written file: comments everywhere, odd spacing, a key the parser does not know.
COMMENTED = b"""# site config, owned by ops
disable-require = false   # keep requirements

[nvidia-container-cli]
# where the driver lives
root = ""          # host driver
  load-kmods  =  true
future-key = "kept as is"

[nvidia-container-runtime]
log-level = "info"   # info for now
runtimes = [
    "runc",   # first
    "crun",
]

# trailing comment
"""


def parse(text):
    return tomllib.loads(text if isinstance(text, str) else text.decode())


def write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def read(path):
    with open(path, "rb") as f:
        return f.read()


@test
def default_parses_to_the_defaults():
    text = ctk("config", "default").stdout
    eq(parse(text), DEFAULTS, "tomllib of `config default`")
    lines = text.splitlines()
    for ex in EXAMPLES:
        assert ex in lines, f"example {ex!r} missing"
    for a in ("create-default", "generate-default"):
        eq(ctk("config", a).stdout, text, f"alias {a}")


@test
def default_output_file_and_read_back():
    d = workdir()
    out = os.path.join(d, "config.toml")
    ctk("config", "default", "--output", out)
    eq(oct(stat.S_IMODE(os.stat(out).st_mode)), oct(0o644), "mode of a new file")
    text = read(out)
    eq(text.decode(), ctk("config", "default").stdout, "--output bytes")
    # nctk reads it back (config_load: types, the ldconfig rule) and prints it unchanged, from
    # -c and from NVIDIA_CTK_CONFIG_FILE_PATH.
    eq(ctk("config", "-c", out).stdout.encode(), text, "config -c")
    eq(ctk("config", env={"NVIDIA_CTK_CONFIG_FILE_PATH": out}).stdout.encode(), text,
       "NVIDIA_CTK_CONFIG_FILE_PATH")
    missing = os.path.join(d, "none.toml")
    eq(ctk("config", "-c", missing).stdout.encode(), text, "a missing file shows the defaults")
    assert not os.path.exists(missing), "showing created the file"


@test
def set_keeps_every_other_byte():
    d = workdir()
    f = write(os.path.join(d, "config.toml"), COMMENTED)
    out = ctk("config", "-c", f, "--set", "nvidia-container-cli.root=/run/nvidia/driver",
              "--set", "nvidia-container-runtime.runtimes=crun:runc",
              "--set", "features.allow-unknown-oci-spec-fields").stdout.encode()
    eq(read(f), COMMENTED, "the file itself (no -i)")
    want = COMMENTED.replace(b'root = ""          # host driver',
                             b'root = "/run/nvidia/driver"          # host driver')
    want = want.replace(b'runtimes = [\n    "runc",   # first\n    "crun",\n]',
                        b'runtimes = ["crun", "runc"]')
    want += b'\n[features]\nallow-unknown-oci-spec-fields = true\n'
    eq(out, want, "edited text")
    doc = parse(out)
    eq(doc["nvidia-container-cli"]["future-key"], "kept as is", "unknown key kept")
    eq(doc["features"]["allow-unknown-oci-spec-fields"], True, "bool alone is true")


@test
def set_on_the_default_file_changes_only_those_lines():
    d = workdir()
    f = os.path.join(d, "config.toml")
    ctk("config", "default", "-o", f)
    before = read(f).decode().splitlines(keepends=True)
    ctk("config", "-c", f, "-i", "--set", "nvidia-container-runtime.mode=cdi",
        "--set", "disable-require=true", "--set", "nvidia-container-cli.environment=")
    after = read(f).decode().splitlines(keepends=True)
    eq(len(after), len(before), "line count")
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    eq(changed, [("disable-require = false\n", "disable-require = true\n"),
                 ('mode = "auto"\n', 'mode = "cdi"\n')], "changed lines")
    doc = parse("".join(after))
    eq(doc["nvidia-container-cli"]["environment"], [], "empty list")


@test
def set_adds_missing_keys_and_tables():
    d = workdir()
    f = write(os.path.join(d, "config.toml"), b"")
    ctk("config", "-c", f, "-i", "--set", "nvidia-container-cli.proc-root=/sim/proc",
        "--set-list-separator", ",", "--set",
        "nvidia-container-runtime.modes.cdi.spec-dirs=/a,/b c,/d:e")
    eq(parse(read(f)), {"nvidia-container-cli": {"proc-root": "/sim/proc"},
                        "nvidia-container-runtime": {"modes": {"cdi": {
                            "spec-dirs": ["/a", "/b c", "/d:e"]}}}}, "added")
    # Quotes, backslashes and control characters are escaped.
    ctk("config", "-c", f, "-i", "--set", 'swarm-resource=A"B\\C\tD')
    eq(parse(read(f))["swarm-resource"], 'A"B\\C\tD', "escaped string")


@test
def bad_set_is_one_line_and_leaves_the_file():
    d = workdir()
    f = write(os.path.join(d, "config.toml"), COMMENTED, 0o640)
    st = os.stat(f)
    cases = [
        (["--set", "no.such-key=1"], ["unknown key 'no.such-key'"]),
        (["--set", "nvidia-container-cli"], ["unknown key 'nvidia-container-cli'"]),
        (["--set", "disable-require=maybe"], ["'disable-require' takes true or false",
                                              "'maybe'"]),
        (["--set", "features.no-additional-gids-for-device-nodes=2"], ["true or false"]),
        (["--set", "nvidia-container-cli.root"], ["takes a string"]),
        (["--set", "nvidia-container-runtime.runtimes"], ["takes a list"]),
        (["--set", "nvidia-container-cli.ldconfig=/sbin/ldconfig"], ["not host-relative"]),
        (["--set", b"nvidia-container-cli.root=\xff"], ["not UTF-8"]),
        (["--set-list-separator", "", "--set", "disable-require"], ["must not be empty"]),
        (["-o", os.path.join(d, "x"), "-i"], ["exclude each other"]),
        (["--frobnicate"], ["'--frobnicate'"]),
    ]
    for args, needles in cases:
        p = ctk("config", "-c", f, "-i", *args, check=False)
        one_line_error(p, *needles)
        eq(read(f), COMMENTED, f"file after {args}")
    now = os.stat(f)
    eq((now.st_ino, now.st_mtime_ns), (st.st_ino, st.st_mtime_ns), "file never rewritten")
    eq(sorted(os.listdir(d)), ["config.toml"], "no temporary or output left")


@test
def bad_files_are_one_line():
    d = workdir()
    one_line_error(ctk("config", "-c", d, check=False), d, "directory")
    bad = write(os.path.join(d, "bad.toml"), b"[nvidia-container-cli]\nroot = \"x\n")
    one_line_error(ctk("config", "-c", bad, "--set", "disable-require", "-i", check=False),
                   f"{bad}:2")
    eq(read(bad), b"[nvidia-container-cli]\nroot = \"x\n", "malformed file untouched")
    typed = write(os.path.join(d, "typed.toml"), b"[nvidia-container-cli]\nload-kmods = \"yes\"\n")
    one_line_error(ctk("config", "-c", typed, check=False), f"{typed}:2", "must be a boolean")
    link = os.path.join(d, "link.toml")
    os.symlink("typed.toml", link)
    one_line_error(ctk("config", "-c", link, "-i", "--set", "disable-require", check=False),
                   "symbolic link")
    one_line_error(ctk("config", "-c", os.path.join(d, "no/dir/c.toml"), "-i", "--set",
                       "disable-require", check=False), "cannot open its directory")


@test
def in_place_keeps_mode_owner_and_replaces_atomically():
    d = workdir()
    f = write(os.path.join(d, "config.toml"), COMMENTED, 0o640)
    os.chown(f, 1234, 5678)
    old = os.stat(f)
    ctk("config", "-c", f, "-i", "--set", "nvidia-container-runtime.log-level=debug")
    new = os.stat(f)
    eq((stat.S_IMODE(new.st_mode), new.st_uid, new.st_gid), (0o640, 1234, 5678), "mode, owner")
    assert new.st_ino != old.st_ino, "not replaced by rename"
    eq(read(f), COMMENTED.replace(b'log-level = "info"', b'log-level = "debug"'), "bytes")
    eq(sorted(os.listdir(d)), ["config.toml"], "no temporary or backup left")
    # The same value again writes nothing.
    ctk("config", "-c", f, "-i", "--set", "nvidia-container-runtime.log-level=debug")
    eq(os.stat(f).st_ino, new.st_ino, "unchanged file not rewritten")
    # -i on a missing file creates it, 0644.
    g = os.path.join(d, "new.toml")
    ctk("config", "-c", g, "-i", "--set", "disable-require")
    eq(oct(stat.S_IMODE(os.stat(g).st_mode)), oct(0o644), "new file mode")
    eq(parse(read(g))["disable-require"], True, "new file from the defaults")
    eq(parse(read(g))["nvidia-ctk"], {"path": "nvidia-ctk"}, "with every default")


@test
def output_writes_a_file():
    d = workdir()
    f = write(os.path.join(d, "config.toml"), COMMENTED)
    o = os.path.join(d, "out.toml")
    p = ctk("config", "-c", f, "--set", "disable-require", "-o", o)
    eq(p.stdout, "", "stdout with -o")
    eq(parse(read(o))["disable-require"], True, "output")
    eq(read(f), COMMENTED, "input untouched")


@test
def set_keeps_crlf_and_bom():
    d = workdir()
    text = b"\xef\xbb\xbf# BOM and CRLF\r\n[nvidia-container-cli]\r\nroot = \"\"\r\n"
    f = write(os.path.join(d, "config.toml"), text)
    ctk("config", "-c", f, "-i", "--set", "nvidia-container-cli.root=/drv",
        "--set", "nvidia-container-cli.no-cgroups")
    eq(read(f), b"\xef\xbb\xbf# BOM and CRLF\r\n[nvidia-container-cli]\r\nroot = \"/drv\"\r\n"
       b"no-cgroups = true\r\n", "BOM and CRLF kept, new line in CRLF")


@test
def concurrent_in_place_runs_lose_no_change():
    """Each run reads, edits and writes under the directory's lock: 24 runs at once, each
    setting its own key, leave all 24 changes in a file that parses."""
    d = workdir()
    f = os.path.join(d, "config.toml")
    ctk("config", "default", "-o", f)
    strings = ["swarm-resource", "nvidia-container-cli.root", "nvidia-container-cli.path",
               "nvidia-container-cli.debug", "nvidia-container-cli.ldcache",
               "nvidia-container-cli.proc-root", "nvidia-container-cli.user",
               "nvidia-container-runtime.debug", "nvidia-container-runtime.log-level",
               "nvidia-container-runtime.mode", "nvidia-container-runtime.modes.cdi.default-kind",
               "nvidia-container-runtime.modes.csv.mount-spec-path",
               "nvidia-container-runtime.modes.csv.compat-container-root",
               "nvidia-container-runtime.modes.legacy.cuda-compat-mode",
               "nvidia-container-runtime-hook.path", "nvidia-ctk.path",
               "supported-driver-capabilities"]
    bools = ["disable-require", "accept-nvidia-visible-devices-as-volume-mounts",
             "nvidia-container-cli.no-pivot", "nvidia-container-cli.no-cgroups",
             "features.allow-unknown-oci-spec-fields", "features.disable-cuda-compat-lib-hook",
             "features.ignore-imex-channel-requests"]
    sets = [f"{k}=/v{i}" for i, k in enumerate(strings)] + bools
    procs = [subprocess.Popen([NCTK, "ctk", "config", "-c", f, "-i", "--set", s],
                              stderr=subprocess.PIPE) for s in sets]
    for p, s in zip(procs, sets):
        _, err = p.communicate()
        eq((p.returncode, err), (0, b""), s)
    doc = parse(read(f))
    for i, k in enumerate(strings):
        *tables, key = k.split(".")
        t = doc
        for part in tables:
            t = t[part]
        eq(t[key], f"/v{i}", k)
    for k in bools:
        *tables, key = k.split(".")
        eq((doc[tables[0]] if tables else doc)[key], True, k)


run_all()
