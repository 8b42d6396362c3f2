#!/usr/bin/env python3
"""The man pages (man/*.scd) against the binary: every flag a command's parser accepts (the
option tables of src/cmd, tests/integration/cmdflags.py) and every flag its --help prints is
documented on an option line of its page, and every flag a page documents is one the parser
accepts. Every parser table belongs to a page, every page is built (man/meson.build) and
scdoc renders it. A flag added to a table without docs fails here (shown on a copy of src/cmd).

usage: test-man.py NCTK_BINARY SOURCE_ROOT"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cmdflags  # noqa: E402
from tap import eq, run, run_all, test  # noqa: E402

NCTK = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(sys.argv[2])
MAN = os.path.join(ROOT, "man")
SRC = os.path.join(ROOT, "src", "cmd")

# A page's option lines start with a bold flag; the flags on them are bold.
OPTION_LINE = re.compile(r"^\*-")
BOLD_FLAG = re.compile(r"\*(--?[A-Za-z?][\w.-]*)\*")
CLAIM = re.compile(r"^; flags:(.*)$", re.M)

# The --help of each page's command, as nctk runs it (multi-call words).
HELP = {
    "nctk.1": ["--help"],
    "nvidia-container-cli.1": ["nvidia-container-cli", "--help"],
    "nvidia-container-cli-info.1": ["info", "--help"],
    "nvidia-container-cli-list.1": ["list", "--help"],
    "nvidia-container-cli-configure.1": ["configure", "--help"],
    "nvidia-container-cli-docker-args.1": ["docker-args", "--help"],
    "nvidia-container-runtime-hook.1": ["hook", "--help"],
    "nvidia-ctk.1": ["ctk", "--help"],
    "nvidia-ctk-runtime.1": ["ctk", "runtime", "configure", "--help"],
    "nvidia-ctk-config.1": ["ctk", "config", "--help"],
    "nvidia-ctk-system.1": ["ctk", "system", "--help"],
    "nvidia-ctk-cdi.1": ["ctk", "cdi", "generate", "--help"],
    "nvidia-cdi-hook.1": ["cdi-hook", "--help"],
}


def pages():
    return sorted(f[: -len(".scd")] for f in os.listdir(MAN) if f.endswith(".scd"))


def read_page(page):
    with open(os.path.join(MAN, page + ".scd")) as f:
        return f.read()


def claims(text):
    """The parser tables a page documents (its "; flags:" lines)."""
    out = []
    for line in CLAIM.findall(text):
        out += re.findall(r"[\w-]+\.c:\S+", line)
    return out


def documented(text):
    flags = set()
    for line in text.splitlines():
        if OPTION_LINE.match(line):
            flags.update(BOLD_FLAG.findall(line))
    return flags


def problems(srcdir):
    """Every mismatch between SRCDIR's parsers and the pages, one string each."""
    tables = cmdflags.tables(srcdir)
    owner = {}
    out = []
    for page in pages():
        text = read_page(page)
        accepted = set()
        for t in claims(text):
            if t not in tables:
                out.append(f"{page}: names parser table {t}, which src/cmd does not have")
                continue
            if t in owner:
                out.append(f"{t} is claimed by {owner[t]} and {page}")
            owner[t] = page
            accepted |= tables[t]
        docs = documented(text)
        out += [f"{page}: {f} is accepted by the binary but not documented"
                for f in sorted(accepted - docs)]
        out += [f"{page}: documents {f}, which the binary does not accept"
                for f in sorted(docs - accepted)]
    out += [f"parser table {t} ({sorted(tables[t])}) is on no man page's '; flags:' line"
            for t in sorted(set(tables) - set(owner))]
    return out


@test
def every_flag_documented_and_every_documented_flag_accepted():
    p = problems(SRC)
    assert not p, "\n".join(p)


@test
def every_flag_of_help_is_documented():
    missing = []
    for page, argv in HELP.items():
        out = run([NCTK, *argv]).stdout
        said = set()
        for line in out.splitlines():
            if line.lstrip().startswith("-"):
                said.update(re.findall(r"(?<![\w-])(--?[A-Za-z?][\w.-]*)", line))
        docs = documented(read_page(page))
        missing += [f"{page}: '{' '.join(argv)}' prints {f}" for f in sorted(said - docs)]
    assert not missing, "\n".join(missing)


@test
def a_new_flag_without_docs_fails():
    work = tempfile.mkdtemp(prefix="nctk-man-")
    try:
        src = os.path.join(work, "cmd")
        shutil.copytree(SRC, src)
        shutil.copytree(os.path.join(SRC, "..", "cdihook"), os.path.join(work, "cdihook"))
        eq(problems(src), [], "the copy before the change")
        path = os.path.join(src, "ctk-runtime.c")
        with open(path) as f:
            text = f.read()
        new = text.replace('{"dry-run", no_argument', '{"undocumented-flag", no_argument, NULL, 0},\n'
                           '        {"dry-run", no_argument', 1)
        assert new != text, "ctk-runtime.c has no dry-run entry to put a flag next to"
        with open(path, "w") as f:
            f.write(new)
        eq(problems(src), ["nvidia-ctk-runtime.1: --undocumented-flag is accepted by the binary "
                           "but not documented"], "after adding a flag")
        with open(os.path.join(src, "new-command.c"), "w") as f:
            f.write('static const struct option doctor_options[] = {\n        {"json", no_argument, '
                    'NULL, 0},\n        {},\n};\n')
        assert any("new-command.c:doctor_options" in p for p in problems(src)), problems(src)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@test
def every_page_is_built_and_renders():
    with open(os.path.join(MAN, "meson.build")) as f:
        listed = re.findall(r"^\s+'([\w.-]+\.\d)',\s*$", f.read(), re.M)
    eq(sorted(listed), pages(), "man/meson.build's man_pages against man/*.scd")
    for page in pages():
        with open(os.path.join(MAN, page + ".scd"), "rb") as f:
            p = subprocess.run(["scdoc"], stdin=f, capture_output=True)
        assert p.returncode == 0, f"scdoc {page}: {p.stderr.decode()}"
        name, section = page.rsplit(".", 1)
        assert p.stdout.startswith(b".\\\" Generated by scdoc"), page
        assert f'.TH "{name}" "{section}"'.encode() in p.stdout, f"{page}: no .TH line"


@test
def every_variable_a_container_sets_is_documented():
    """nvidia-container-env(7) against the NVIDIA_* names src/2-select reads."""
    read = set()
    sel = os.path.join(ROOT, "src", "2-select")
    for fn in os.listdir(sel):
        if fn.endswith(".c"):
            with open(os.path.join(sel, fn)) as f:
                read.update(re.findall(r'"(NVIDIA_[A-Z_]*)"', f.read()))
    read = {"NVIDIA_REQUIRE_*" if n.startswith("NVIDIA_REQUIRE_") else n for n in read}
    docs = set()
    for line in read_page("nvidia-container-env.7").splitlines():
        if line.startswith("*NVIDIA_"):
            docs.update(n.replace("\\*", "*") for n in re.findall(r"\*(NVIDIA_[A-Z_\\*]+)\*", line))
    eq(sorted(docs), sorted(read), "variables documented / read by src/2-select")


@test
def every_command_name_has_a_page():
    with open(os.path.join(ROOT, "meson.build")) as f:
        names = re.findall(r"'(nvidia-[\w-]+)'", f.read().split("compat_names")[1].split("foreach")[0])
    with open(os.path.join(MAN, "meson.build")) as f:
        links = re.findall(r"'([\w.-]+\.1)' : '", f.read())
    have = set(pages()) | set(links)
    for n in ["nctk"] + names:
        assert f"{n}.1" in have, f"no man page for {n}"


run_all()
