#!/usr/bin/env python3
"""`nvidia-ctk runtime configure --runtime=docker` on 1,000 generated daemon.json files (nested
objects and arrays, odd white space, tabs, CRLF, a byte order mark, escapes and raw UTF-8), driven
through the real binary: configure twice equals configure once, json.loads of the output is the
input document plus our members (key order kept), and unconfigure gives the original bytes back.

usage: test-ctk-docker-property.py NCTK [COUNT [SEED]]"""
import json
import os
import random
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import eq, run_all, test, tmpdir  # noqa: E402

NCTK = os.path.abspath(sys.argv[1])
COUNT = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
SEED = int(sys.argv[3]) if len(sys.argv) > 3 else 8
# /dev/shm when there is one: 3,000 fsynced replacements cost little there.
WORK = tmpdir("nctk-ctk-prop-") if not os.path.isdir("/dev/shm") else \
    __import__("tempfile").mkdtemp(prefix="nctk-ctk-prop-", dir="/dev/shm")
PATH = "/usr/bin/nvidia-container-runtime"
CHARS = "abcxyz-_ .:/\\\"\t\n\u00e9\u4e2d\U0001F600\u0001\u007f"


def rand_str(r, n=8):
    return "".join(r.choice(CHARS) for _ in range(r.randint(0, n)))


def rand_value(r, depth):
    k = r.randint(0, 7 if depth < 4 else 4)
    if k == 0:
        return r.choice([True, False, None])
    if k == 1:
        return r.choice([0, -1, 17, 3.5, -2.25e-3, 1e21, 10 ** 20])
    if k <= 4:
        return rand_str(r)
    if k == 5:
        return [rand_value(r, depth + 1) for _ in range(r.randint(0, 4))]
    return rand_object(r, depth + 1)


def rand_object(r, depth, n=4):
    obj = {}
    for _ in range(r.randint(0, n)):
        obj[rand_str(r) or "k"] = rand_value(r, depth)
    return obj


class Writer:
    """Serializes with a random, per-document layout, as people and tools write JSON."""

    def __init__(self, r):
        self.r = r
        self.nl = r.choice(["\n", "\r\n"])
        self.unit = r.choice(["  ", "    ", "\t", " ", "   ", ""])
        self.compact = r.random() < 0.2
        self.colon = r.choice([": ", ":", " : ", ":  "])
        self.ascii = r.random() < 0.5

    def ws(self):
        return self.r.choice(["", "", " ", "  ", "\t"])

    def string(self, s):
        out = []
        for c in s:
            o = ord(c)
            if c in '"\\':
                out.append("\\" + c)
            elif o < 0x20 or (self.ascii and o > 0x7e) or self.r.random() < 0.05:
                if o > 0xFFFF:
                    o -= 0x10000
                    out.append("\\u%04x\\u%04x" % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF)))
                else:
                    out.append(self.r.choice(["\\u%04x", "\\u%04X"]) % o)
            else:
                out.append(c)
        return '"' + "".join(out) + '"'

    def value(self, v, level):
        if isinstance(v, dict):
            return self.container("{", "}", [self.string(k) + self.colon + self.value(x, level + 1)
                                             for k, x in v.items()], level)
        if isinstance(v, list):
            return self.container("[", "]", [self.value(x, level + 1) for x in v], level)
        return json.dumps(v)

    def container(self, open_, close, items, level):
        if not items:
            return open_ + self.r.choice(["", " ", self.nl, self.nl + self.unit * level]) + close
        if self.compact or self.r.random() < 0.15:
            sep = "," + self.r.choice(["", " "])
            return open_ + self.ws() + sep.join(items) + self.ws() + close
        pad = self.nl + self.unit * (level + 1)
        return open_ + pad + ("," + pad).join(items) + self.nl + self.unit * level + close


def generate(r):
    """A document, its text, and the flags to configure it with."""
    doc = rand_object(r, 0, 6)
    default, cdi = r.random() < 0.5, r.random() < 0.5
    if r.random() < 0.4:
        doc["runtimes"] = {rand_str(r) or "crun": {"path": "/usr/bin/crun"}
                           for _ in range(r.randint(0, 2))}
    if r.random() < 0.3:
        doc["features"] = {"buildkit": r.choice([True, False])} if r.random() < 0.6 else {}
        if r.random() < 0.3:
            doc["features"]["cdi"] = r.choice([False, True, "yes"])
    if r.random() < 0.3:
        doc["default-runtime"] = r.choice(["runc", "crun", "nvidia"])
    if "runtimes" in doc:
        doc["runtimes"].pop("nvidia", None)
        if r.random() < 0.3:
            doc["runtimes"]["nvidia"] = r.choice([{"path": "/old/runtime"}, "x", {"path": PATH}])
    items = list(doc.items())
    r.shuffle(items)
    doc = dict(items)
    w = Writer(r)
    text = w.value(doc, 0)
    text = r.choice(["", " ", w.nl]) + text + r.choice(["", w.nl, w.nl + w.nl, " "])
    if r.random() < 0.1:
        text = "\ufeff" + text
    return doc, text, default, cdi


def expected(doc, default, cdi):
    """DOC with our members, and in the runtime's entry what configure replaced."""
    want = json.loads(json.dumps(doc))
    runtimes = want.setdefault("runtimes", {})
    old = runtimes.get("nvidia")
    entry = {"path": PATH, "args": []}
    record = {}
    if default and want.get("default-runtime", "nvidia") != "nvidia":
        record["default-runtime"] = want["default-runtime"]
    if cdi and want.get("features", {}).get("cdi", True) is not True:
        record["cdi"] = want["features"]["cdi"]
    if old is not None and not (isinstance(old, dict) and old.get("path") == PATH):
        record["runtime"] = old
    if old is not None and not record and isinstance(old, dict) and old.get("path") == PATH:
        entry = old  # already there: left as it is
    elif record:
        entry["nctk-replaced"] = record
    runtimes["nvidia"] = entry
    if default:
        want["default-runtime"] = "nvidia"
    if cdi:
        want.setdefault("features", {})["cdi"] = True
    return want


def exact_inverse(doc, default, cdi):
    """Whether unconfigure can give the bytes back: configure added or replaced everything it
    touched (a runtime, default or cdi that was already as asked is not ours to keep)."""
    old = doc.get("runtimes", {}).get("nvidia")
    if isinstance(old, dict) and old.get("path") == PATH:
        return False
    if doc.get("default-runtime") == "nvidia":
        return False
    if cdi and doc.get("features", {}).get("cdi") is True:
        return False
    return True


def ctk(verb, path, default, cdi):
    argv = [NCTK, "ctk", "--quiet", "runtime", verb, "--runtime=docker", "--config", path,
            "--nvidia-runtime-path", PATH]
    argv += ["--nvidia-set-as-default"] if default else []
    argv += ["--cdi.enabled"] if cdi else []
    p = subprocess.run(argv, capture_output=True)
    if p.returncode != 0:
        raise AssertionError(f"{verb} {path}: {p.stderr.decode(errors='replace')}")


def read(path):
    with open(path, "rb") as f:
        return f.read()


EXACT = [0]  # files whose original bytes unconfigure must give back


def one(i, r):
    doc, text, default, cdi = generate(r)
    raw = text.encode("utf-8", "surrogatepass")
    path = os.path.join(WORK, f"daemon-{i}.json")
    with open(path, "wb") as f:
        f.write(raw)
    ctk("configure", path, default, cdi)
    once = read(path)
    ctk("configure", path, default, cdi)
    eq(read(path), once, f"file {i}: configure twice differs from once")
    got = json.loads(once.decode("utf-8-sig"))
    want = expected(doc, default, cdi)
    eq(got, want, f"file {i}: the configured document")
    eq(list(got), list(want), f"file {i}: top-level key order")
    eq(once.startswith(b"\xef\xbb\xbf"), raw.startswith(b"\xef\xbb\xbf"), f"file {i}: BOM kept")
    if b"\r\n" in raw and raw.count(b"\n") == raw.count(b"\r\n"):
        eq(once.count(b"\n"), once.count(b"\r\n"), f"file {i}: CRLF kept")
    ctk("unconfigure", path, default, cdi)
    back = read(path)
    EXACT[0] += exact_inverse(doc, default, cdi)
    if not exact_inverse(doc, default, cdi):
        left = json.loads(back.decode("utf-8-sig"))
        old = doc.get("runtimes", {}).get("nvidia")
        if isinstance(old, dict) and old.get("path") == PATH or old is None:
            assert "nvidia" not in left.get("runtimes", {}), f"file {i}: runtime left: {back!r}"
        else:
            eq(left["runtimes"]["nvidia"], old, f"file {i}: the old entry put back")
        eq(left.get("default-runtime"), None if doc.get("default-runtime") == "nvidia"
           else doc.get("default-runtime"), f"file {i}: default runtime")
    elif back != raw:
        raise AssertionError(f"file {i}: unconfigure did not give the original back\n"
                             f"original: {raw!r}\nconfigured: {once!r}\nback: {back!r}")
    for f in (path, path + ".nctk.bak"):
        os.unlink(f)


@test
def generated_daemon_json_files():
    r = random.Random(SEED)
    failures = []
    for i in range(COUNT):
        try:
            one(i, r)
        except AssertionError as e:
            failures.append(str(e))
            if len(failures) >= 3:
                break
    if failures:
        raise AssertionError("\n\n".join(failures))
    print(f"# {COUNT} files, seed {SEED}; {EXACT[0]} given back byte for byte, the others "
          "checked as documents", flush=True)
    assert EXACT[0] >= COUNT * 3 // 4, "the generator should make mostly exact-inverse files"


if __name__ == "__main__":
    try:
        run_all()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
