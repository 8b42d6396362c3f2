#!/usr/bin/env python3
"""containerd's config.toml edited in place (src/engine/containerd.c through the test driver
tests/unit/containerd-tool): 1,000 generated files (nested tables, arrays of tables, inline
tables, dotted keys, multi-line strings and arrays, comments everywhere, CRLF, a BOM, no final
newline) and real configs (containerd 1.6's default, a commented copy, version 1 and 3 files).
For each: configure twice equals configure once; unconfigure gives the input back byte for
byte; Python's tomllib reads the output as the input plus exactly the runtime entries; no line
of the input is lost or changed but the two values configure replaces. Then the installed
containerd (1.6) reads configured files with `config dump` (no daemon is started).

usage: test-containerd-edit.py CONTAINERD_TOOL [SEED]"""
import atexit
import copy
import difflib
import os
import random
import shutil
import subprocess
import sys
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import Skip, eq, run_all, test, tmpdir  # noqa: E402

TOOL = os.path.abspath(sys.argv[1])
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 8
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "containerd")
WORK = tmpdir("nctk-containerd-edit-")
atexit.register(shutil.rmtree, WORK, True)
NAME, PATH = "nvidia", "/usr/bin/nvidia-container-runtime"
CRI = {1: "cri", 2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.runtime"}
BOM = b"\xef\xbb\xbf"
MARK = b" # nvidia-ctk replaced: "


def tool(args, data, check=True):
    p = subprocess.run([TOOL, *args], input=data, capture_output=True)
    if check and p.returncode != 0:
        raise AssertionError(f"containerd-tool {args}: {p.stderr.decode()}\n"
                             f"input:\n{data[:2000]!r}")
    return p


def flags(default, cdi):
    return (["-d"] if default else []) + (["-c"] if cdi else [])


def load(data):
    return tomllib.loads(data.removeprefix(BOM).decode())


def expected(doc, version, default, cdi):
    """The document configure should give: DOC plus the runtime and, as asked, the default and
    enable_cdi, the runtime a copy of runc's table (less an inline options table)."""
    want = copy.deepcopy(doc) if doc else {"version": version}
    cri = want.setdefault("plugins", {}).setdefault(CRI[version], {})
    ctd = cri.setdefault("containerd", {})
    runtimes = ctd.setdefault("runtimes", {})
    rt = copy.deepcopy(runtimes.get("runc", {}))
    if isinstance(rt.get("options"), dict) and "inline" in rt["options"]:
        del rt["options"]  # written inline in runc (the generator marks it): left out
    rt.setdefault("runtime_type", "io.containerd.runc.v2")
    # containerd 1.6's CRI passes a container's annotations only where the runtime lists them
    ann = rt.get("container_annotations", [])
    if "cdi.k8s.io/*" not in ann:
        rt["container_annotations"] = ["cdi.k8s.io/*"] + list(ann)
    rt.setdefault("options", {})["BinaryName"] = PATH
    runtimes[NAME] = rt
    if default:
        ctd["default_runtime_name"] = NAME
    if cdi:
        cri["enable_cdi"] = True
    return want


def changed_lines(before, after):
    """Lines of BEFORE that AFTER does not keep byte for byte, as (old, new) pairs."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op in ("replace", "delete"):
            out.append((a[i1:i2], b[j1:j2]))
    return out


def check_file(data, version, default, cdi, round_trip=True):
    """Every property of one input; returns the configured bytes."""
    args = flags(default, cdi)
    out = tool(["configure", "-v", str(version), *args], data).stdout
    eq(tool(["configure", "-v", str(version), *args], out).stdout, out, "configure twice")
    if round_trip and load(data):  # a blank file gets a version line, which stays
        back = tool(["unconfigure", *args], out).stdout
        if back != data:
            raise AssertionError(f"unconfigure(configure(x)) != x\nx:\n{data.decode()}\n"
                                 f"back:\n{back.decode()}")
    eq(load(out), expected(load(data), version, default, cdi), "tomllib of the output")
    eq(out.startswith(BOM), data.startswith(BOM), "BOM kept")
    eq(out.endswith(b"\n"), data.endswith(b"\n") or not data.strip(), "final newline kept")
    for old, new in changed_lines(data, out):
        if old == [data.splitlines(keepends=True)[-1]] and new[0].rstrip(b"\r\n") == old[0]:
            continue  # the last line, which had no newline, now has one: lines follow it
        # only a replaced value's line may change, and it keeps what it held after a marker
        eq(len(old), 1, f"lines changed: {old!r} -> {new!r}")
        line = old[0].rstrip(b"\r\n")
        key, _, value = line.partition(b"=")
        if key.strip() not in (b"default_runtime_name", b"enable_cdi"):
            raise AssertionError(f"line changed: {old!r} -> {new!r}")
        if MARK + value.lstrip() not in new[0]:
            raise AssertionError(f"replaced line lost its old value: {old!r} -> {new!r}")
    return out


# ---- generated files ----------------------------------------------------------------------


class Gen:
    """One random config.toml as text, built line by line so every byte is chosen."""

    def __init__(self, rnd):
        self.r = rnd
        self.lines = []
        self.used = set()  # table paths given a header or dotted keys

    def comment(self):
        return self.r.choice(["# a comment", "#", "# [not.a.header]", "# x = 1", "#\ttab ü"])

    def maybe_comments(self):
        for _ in range(self.r.choice([0, 0, 1, 2])):
            self.lines.append(self.r.choice(["", "  ", "\t"]) + self.comment())
        if self.r.random() < 0.3:
            self.lines.append(self.r.choice(["", " "]))

    def tail(self):
        return self.r.choice(["", "", "  " + self.comment(), " " + self.comment()])

    def key(self):
        return self.r.choice(["a", "b-c", "d_e", "F1", '"quoted key"', "'lit.key'", '"x.y"',
                              "sandbox_image", "snapshotter", '"with \\" quote"'])

    def scalar(self):
        return self.r.choice(['"str"', "'lit'", "1", "-2", "3.5", "true", "false", '""',
                              '"esc \\t \\u00e9"', "0x1f", "1e3", '"# not a comment"',
                              "'[not.a.header]'"])

    def value(self, depth=0):
        k = self.r.random()
        if depth < 2 and k < 0.12:
            items = [self.value(depth + 1) for _ in range(self.r.randint(0, 3))]
            if self.r.random() < 0.5:
                body = "".join(f"\n  {v}, {self.comment() if self.r.random() < 0.3 else ''}"
                               for v in items)
                return "[" + body + "\n]"
            return "[" + ", ".join(items) + "]"
        if depth < 2 and k < 0.2:
            keys = self.r.sample(["p", "q", "r", '"s.t"'], self.r.randint(0, 3))
            return "{ " + ", ".join(f"{x} = {self.value(depth + 1)}" for x in keys) + " }"
        if k < 0.26:
            return self.r.choice(['"""\nline one\n[fake]\n# fake = 1\n"""',
                                  "'''\nraw \\ text\n  x = 2\n'''", '"""one ""line"" """',
                                  "'''it''s'''"])
        return self.scalar()

    def keys(self, indent, avoid=()):
        used = set(avoid)
        for _ in range(self.r.randint(0, 4)):
            k = self.key()
            if k in used:
                continue
            used.add(k)
            if self.r.random() < 0.3:
                self.lines.append(indent + self.comment())
            self.lines.append(f"{indent}{k} = {self.value()}{self.tail()}")
        return used

    def header(self, path, indent="", array=False):
        self.maybe_comments()
        o, c = ("[[", "]]") if array else ("[", "]")
        self.lines.append(f"{indent}{o}{path}{c}{self.tail()}")

    def cri(self, version, indent):
        """The CRI plugin's tables, as a real config holds them, never empty."""
        cri = f'plugins."{CRI[version]}"' if version > 1 else "plugins.cri"
        self.header(cri, indent)
        self.lines.append(f"{indent}  sandbox_image = \"pause\"{self.tail()}")
        if self.r.random() < 0.4:
            self.lines.append(f"{indent}  enable_cdi = false{self.tail()}")
        self.header(cri + ".containerd", indent * 2)
        self.lines.append(f"{indent * 2}  snapshotter = \"overlayfs\"{self.tail()}")
        if self.r.random() < 0.5:
            name = self.r.choice(['"runc"', '"crun"', "'runc'"])
            self.lines.append(f"{indent * 2}  default_runtime_name = {name}{self.tail()}")
        if self.r.random() < 0.7:
            self.header(cri + ".containerd.runtimes.runc", indent * 3)
            self.lines.append(f'{indent * 3}  runtime_type = "io.containerd.runc.v2"')
            self.keys(indent * 3 + "  ", {"runtime_type", "options"})
            if self.r.random() < 0.15:
                self.lines.append(f"{indent * 3}  options = {{ SystemdCgroup = true, inline = 1 }}")
            elif self.r.random() < 0.8:
                self.header(cri + ".containerd.runtimes.runc.options", indent * 4)
                cgroup = self.r.choice(["true", "false"])
                self.lines.append(f"{indent * 4}  SystemdCgroup = {cgroup}")
                self.keys(indent * 4 + "  ", {"SystemdCgroup", "BinaryName"})
        if self.r.random() < 0.3:
            self.header(cri + ".containerd.runtimes.crun", indent * 3)
            self.lines.append(f'{indent * 3}  runtime_type = "io.containerd.runc.v2"')

    def other_tables(self):
        for i in range(self.r.randint(0, 5)):
            kind = self.r.random()
            name = self.r.choice(["grpc", "debug", "metrics", f't{i}', f'"quoted.{i}"',
                                  f'plugins."io.containerd.gc.v1.scheduler{i}"'])
            if kind < 0.15:
                name = f"arr{i}"
                for _ in range(self.r.randint(1, 2)):
                    self.header(name, array=True)
                    self.keys("  ")
                    if self.r.random() < 0.5:
                        self.header(f"{name}.sub")
                        self.keys("  ")
            elif kind < 0.3:
                self.header(name)
                self.lines.append(f"dot{i}.inner.x = 1")
                self.lines.append(f"dot{i}.inner.y = {self.value()}")
            else:
                self.header(name, self.r.choice(["", "  "]))
                self.keys(self.r.choice(["", "  ", "\t"]))

    def file(self):
        r = self.r
        version = r.choice([1, 2, 2, 3])
        self.maybe_comments()
        root = self.keys("")
        if version > 1:
            self.lines.insert(r.randint(0, len(self.lines)), f"version = {version}")
        tables = [self.other_tables]
        if r.random() < 0.85:  # else configure makes the CRI plugin's tables itself
            tables.append(lambda: self.cri(version, r.choice(["", "  "])))
        r.shuffle(tables)
        for t in tables:
            t()
        self.maybe_comments()
        nl = "\r\n" if r.random() < 0.25 else "\n"
        text = nl.join(self.lines)
        if r.random() < 0.8:
            text += nl
        data = text.encode()
        if r.random() < 0.1:
            data = BOM + data
        return data, version


def generated(n):
    rnd = random.Random(SEED)
    made = 0
    while made < n:
        data, version = Gen(rnd).file()
        try:
            load(data)
        except tomllib.TOMLDecodeError:
            continue  # the generator's rare clash (a key twice); not an input to test
        made += 1
        yield data, version, rnd.random() < 0.5, rnd.random() < 0.5


@test
def property_1000_generated_files():
    for i, (data, version, default, cdi) in enumerate(generated(1000)):
        try:
            check_file(data, version, default, cdi)
        except AssertionError as e:
            raise AssertionError(f"generated file {i} (seed {SEED}, version {version}, "
                                 f"default {default}, cdi {cdi}):\n{e}") from None


# ---- real configs -------------------------------------------------------------------------


def fixture(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


@test
def containerd_16_default():
    data = fixture("default-1.6.toml")
    eq(tool(["version"], data).stdout, b"2\n", "version")
    for default in (False, True):
        for cdi in (False, True):
            check_file(data, 2, default, cdi)


@test
def commented_crlf_bom():
    data = fixture("commented-1.6.toml")
    check_file(data, 2, True, True)
    crlf = BOM + data.replace(b"\n", b"\r\n")
    out = check_file(crlf, 2, True, True)
    eq(out.count(b"\n"), out.count(b"\r\n"), "every line of a CRLF file ends in CRLF")


@test
def version_1_and_3():
    eq(tool(["version"], fixture("v1.toml")).stdout, b"1\n", "v1")
    eq(tool(["version"], fixture("v3.toml")).stdout, b"3\n", "v3")
    out = check_file(fixture("v1.toml"), 1, True, True)
    rt = load(out)["plugins"]["cri"]["containerd"]["runtimes"][NAME]
    eq(rt["options"], {"SystemdCgroup": True, "BinaryName": PATH}, "runc's options copied")
    out = check_file(fixture("v3.toml"), 3, True, True)
    cri = load(out)["plugins"]["io.containerd.cri.v1.runtime"]
    eq(cri["enable_cdi"], True, "v3 enable_cdi")
    eq(cri["containerd"]["runtimes"][NAME]["options"]["BinaryName"], PATH, "v3 BinaryName")


@test
def empty_and_malformed():
    eq(tool(["configure", "-v", "3"], b"").stdout.split(b"\n")[0], b"version = 3", "fresh file")
    for bad, where in ((b"[plugins\n", b"config.toml:1:9:"),
                       (b"a = 1\nb = \n", b"config.toml:2:5:"),
                       (b"a = 1\na = 2\n", b"config.toml:2:"),
                       (b"s = '''\n", b"config.toml:1:5:")):
        p = tool(["configure"], bad, check=False)
        eq(p.returncode, 1, f"exit status for {bad!r}")
        eq(p.stdout, b"", "no output")
        if not p.stderr.startswith(where) or p.stderr.count(b"\n") != 1:
            raise AssertionError(f"{bad!r}: message {p.stderr!r}, want one line at {where!r}")


@test
def mutated_inputs():
    """Bytes of real configs flipped, cut and repeated: each run exits 0 with TOML that keeps
    the properties, or 1 with one line; never a crash."""
    rnd = random.Random(SEED)
    bases = [fixture(n) for n in ("default-1.6.toml", "commented-1.6.toml", "v1.toml", "v3.toml")]
    for i in range(300):
        data = bytearray(rnd.choice(bases))
        for _ in range(rnd.randint(1, 4)):
            at = rnd.randrange(len(data))
            op = rnd.random()
            if op < 0.4:
                data[at] = rnd.choice(b'[]{}"\'=#.,\n\r \x00\xff')
            elif op < 0.7:
                del data[at:at + rnd.randint(1, 40)]
            else:
                data[at:at] = data[rnd.randrange(len(data)):][:rnd.randint(1, 40)]
        data = bytes(data)
        p = tool(["configure", "-d", "-c"], data, check=False)
        if p.returncode == 1:
            if p.stdout or p.stderr.count(b"\n") != 1:
                raise AssertionError(f"mutation {i}: error output {p.stderr!r}")
            try:
                load(data)
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                continue
            # TOML, refused for what it says: only a config containerd could not use either
            if not any(w in p.stderr for w in (b"not a table", b"array of tables",
                                                b"config version", b"'version' must be")):
                raise AssertionError(f"mutation {i}: valid TOML refused: {p.stderr!r}")
            continue
        eq(p.returncode, 0, f"mutation {i}: exit status ({p.stderr[-300:]!r})")
        try:
            load(data)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            raise AssertionError(f"mutation {i}: accepted input tomllib rejects: {data!r}")
        load(p.stdout)


@test
def real_containerd_reads_it():
    """containerd 1.6 `config dump` (reads and merges the file, starts nothing) sees the
    runtime, its BinaryName and the default, for version 2 and version 1 files."""
    if not shutil.which("containerd"):
        raise Skip("containerd is not installed")
    for name, version in (("default-1.6.toml", 2), ("commented-1.6.toml", 2), ("v1.toml", 1)):
        out = tool(["configure", "-d", "-v", str(version)], fixture(name)).stdout
        path = os.path.join(WORK, name)
        with open(path, "wb") as f:
            f.write(out)
        p = subprocess.run(["containerd", "--config", path, "config", "dump"],
                           capture_output=True, text=True)
        eq(p.returncode, 0, f"containerd config dump {name}: {p.stderr}")
        dump = tomllib.loads(p.stdout)
        ctd = dump["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]
        eq(ctd["runtimes"][NAME]["options"]["BinaryName"], PATH, f"{name}: BinaryName")
        eq(ctd["runtimes"][NAME]["runtime_type"], "io.containerd.runc.v2", f"{name}: type")
        eq(ctd["default_runtime_name"], NAME, f"{name}: default")


@test
def real_containerd_reads_dropin():
    """The drop-in path: imports added to the main config, the runtime in a drop-in of its own.
    containerd 1.6 takes an imported plugin section whole, so the drop-in carries a copy of the
    main config's CRI section (runc's SystemdCgroup, sandbox_image) or, with none, runc."""
    if not shutil.which("containerd"):
        raise Skip("containerd is not installed")
    d = os.path.join(WORK, "dropin")
    os.makedirs(os.path.join(d, "conf.d"))
    glob = os.path.join(d, "conf.d", "*.toml")
    main = fixture("default-1.6.toml").replace(b"SystemdCgroup = false", b"SystemdCgroup = true")
    main = main.replace(b"pause:3.6", b"pause:3.9")
    main_out = tool(["import-add", glob], main).stdout
    eq(tool(["import-remove", glob], main_out).stdout, main, "import-remove")
    changed = [line for line in main_out.splitlines() if line not in main.splitlines()]
    eq(changed, [f'imports = ["{glob}"]'.encode()], "only the imports line changes")
    with open(os.path.join(d, "config.toml"), "wb") as f:
        f.write(main_out)
    dropin = tool(["dropin", os.path.join(d, "config.toml"), "-d"], b"").stdout
    eq(tool(["dropin", os.path.join(d, "config.toml"), "-d"], dropin).stdout, dropin, "twice")
    if b"nvidia" in tool(["unconfigure", "-d"], dropin).stdout:
        raise AssertionError("unconfigure left the runtime in the drop-in")
    with open(os.path.join(d, "conf.d", "99-nvidia.toml"), "wb") as f:
        f.write(dropin)
    p = subprocess.run(["containerd", "--config", os.path.join(d, "config.toml"), "config", "dump"],
                       capture_output=True, text=True)
    eq(p.returncode, 0, f"containerd config dump: {p.stderr}")
    ctd = tomllib.loads(p.stdout)["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]
    eq(ctd["default_runtime_name"], NAME, "default from the drop-in")
    eq(ctd["runtimes"][NAME]["options"]["BinaryName"], PATH, "BinaryName from the drop-in")
    eq(ctd["runtimes"][NAME]["options"]["SystemdCgroup"], True, "runc's SystemdCgroup copied")
    eq(ctd["runtimes"]["runc"]["options"]["SystemdCgroup"], True, "runc kept")
    cri = tomllib.loads(p.stdout)["plugins"]["io.containerd.grpc.v1.cri"]
    eq(cri["sandbox_image"], "registry.k8s.io/pause:3.9", "the main config's CRI settings kept")
    # a main config with no CRI section: containerd's own runc must survive the drop-in
    with open(os.path.join(d, "config.toml"), "wb") as f:
        f.write(f'version = 2\nimports = ["{glob}"]\n'.encode())
    dropin = tool(["dropin", os.path.join(d, "config.toml")], b"").stdout
    with open(os.path.join(d, "conf.d", "99-nvidia.toml"), "wb") as f:
        f.write(dropin)
    p = subprocess.run(["containerd", "--config", os.path.join(d, "config.toml"), "config", "dump"],
                       capture_output=True, text=True)
    eq(p.returncode, 0, f"containerd config dump: {p.stderr}")
    ctd = tomllib.loads(p.stdout)["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]
    eq(ctd["default_runtime_name"], "runc", "default untouched")
    eq(ctd["runtimes"]["runc"]["runtime_type"], "io.containerd.runc.v2", "runc there")
    eq(ctd["runtimes"][NAME]["options"]["BinaryName"], PATH, "BinaryName, minimal main")


run_all()
