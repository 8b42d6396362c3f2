"""The flags each command of nctk accepts, read from its parsers in src/cmd: the getopt_long
option tables (long names and the short letters of the getopt_long call that uses the table),
the flag tables of nvidia-cdi-hook's hooks, and the literal flags of the hand-written parsers
(STREQ(x, "-...") and Go-style names). A table is named FILE:NAME (the array's name, or the
function of the literals); man pages name the tables they document (man/*.scd)."""
import os
import re

OPTION_TABLE = re.compile(r"struct option\s+(\w+)\[\]\s*=\s*\{(.*?)\n\s*\};", re.S)
OPTION_ENTRY = re.compile(r'\{\s*"([^"]+)"\s*,')
HOOK_ENTRY = re.compile(r'\{\s*"([a-z][a-z0-9-]*)"\s*,\s*F_[A-Z_]+')
HOOK_NAME = re.compile(r'\{\s*"([a-z][a-z0-9-]*)"\s*,\s*run_\w+')
FUNC = re.compile(r"^(?:static\s+)?[\w ]+?\**\b(\w+)\(([^;{]*)\)\s*\{", re.M)
STREQ_FLAG = re.compile(r'STREQ\([^,()]+(?:\[\w+\])?\s*,\s*"(-[^"]*)"\s*\)')
DEFINE = re.compile(r"^#define\s+([A-Z_]+)\s+((?:.*\\\n)*.*)$", re.M)
GO_FLAG = re.compile(r'strncmp\(name,\s*"([a-z][a-z-]*)"')
FLAG_SPEC = re.compile(r'#define\s+SPEC_FLAG\s*\\\s*\{\s*"([a-z-]+)"')


def _shorts(src, table):
    """The short option letters of the getopt_long call that uses TABLE."""
    out = set()
    for m in re.finditer(r'getopt_long\([^,]+,[^,]+,\s*"([^"]*)"\s*,\s*' + table + r"\b", src):
        for ch in m.group(1):
            if ch not in "+:-":
                out.add("-" + ch)
    return out


def _functions(src):
    """(name, body) of each top-level function: from its header to the next one."""
    heads = list(FUNC.finditer(src))
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(src)
        yield m.group(1), src[m.start():end]


def _defines(srcdir):
    """The macros of SRCDIR that hold option entries (REQUEST_OPTIONS)."""
    out = {}
    for fn in os.listdir(srcdir):
        if fn.endswith((".c", ".h")):
            with open(os.path.join(srcdir, fn)) as f:
                for m in DEFINE.finditer(f.read()):
                    if '{"' in m.group(2):
                        out[m.group(1)] = m.group(2).replace("\\\n", " ")
    return out


def tables(srcdir):
    """{"file.c:name": set of flags} for every parser in SRCDIR (src/cmd) and in the hook
    steps that src/cdihook shares with the shim."""
    out = {}
    defines = _defines(srcdir)
    for fn, path in _sources(srcdir):
        with open(path) as f:
            src = f.read()
        for m in OPTION_TABLE.finditer(src):
            body = re.sub(r"\b[A-Z_]+\b", lambda d: defines.get(d.group(0), d.group(0)), m.group(2))
            flags = {"--" + n for n in OPTION_ENTRY.findall(body)}
            flags |= _shorts(src, m.group(1))
            out.setdefault(f"{fn}:{m.group(1)}", set()).update(flags)
        spec = FLAG_SPEC.search(src)
        for m in re.finditer(r"static const struct hook hooks\[\]\s*=\s*\{(.*?)\n\};", src, re.S):
            flags = {"--" + n for n in HOOK_ENTRY.findall(m.group(1))}
            if spec:
                flags.add("--" + spec.group(1))
            out[f"{fn}:hooks"] = flags
        for name, body in _functions(src):
            flags = set(STREQ_FLAG.findall(body)) | {"-" + n for n in GO_FLAG.findall(body)}
            flags.discard("-")
            flags.discard("--")
            if flags:
                out[f"{fn}:{name}()"] = flags
    return out


def _sources(srcdir):
    """(file name, path) of the C files whose parsers the commands use."""
    for fn in sorted(os.listdir(srcdir)):
        if fn.endswith(".c"):
            yield fn, os.path.join(srcdir, fn)
    steps = os.path.join(srcdir, "..", "cdihook", "step.c")
    if os.path.exists(steps):
        yield "step.c", steps


def hook_names(srcdir):
    with open(os.path.join(srcdir, "..", "cdihook", "step.c")) as f:
        return HOOK_NAME.findall(f.read())
