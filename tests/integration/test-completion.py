#!/usr/bin/env python3
"""The bash completion (completion/nctk, built from the man pages): a bash without rc files
loads it, gets COMP_WORDS and COMP_CWORD as readline splits a command line (at spaces and '='),
runs the completion function and prints COMPREPLY.

usage: test-completion.py COMPLETION_SCRIPT SOURCE_ROOT"""
import atexit
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cmdflags  # noqa: E402
from tap import eq, run, run_all, test, tmpdir  # noqa: E402

SCRIPT = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(sys.argv[2])
NAMES = ["nctk", "nvidia-container-cli", "nvidia-container-runtime",
         "nvidia-container-runtime-hook", "nvidia-container-toolkit", "nvidia-ctk",
         "nvidia-cdi-hook", "nvidia-docker"]


def words(line):
    """LINE split as readline splits it for completion: at spaces, and '=' a word of its own."""
    out = []
    for w in line.split(" "):
        parts = re.split(r"(=)", w)
        out += [p for p in parts if p != ""] or [""]
    return out


def complete(line, cwd=None, script=None):
    script = script or SCRIPT
    w = words(line)
    arr = " ".join("'" + x.replace("'", "'\\''") + "'" for x in w)
    prog = (f"source '{script}' && COMP_WORDS=({arr}) && COMP_CWORD={len(w) - 1} && "
            f"COMP_LINE='{line}' && COMP_POINT={len(line)} && _nctk && "
            'printf "%s\\n" "${COMPREPLY[@]}"')
    p = run(["bash", "--norc", "--noprofile", "-c", prog], cwd=cwd)
    assert p.stderr == "", f"{line!r}: stderr {p.stderr!r}"
    return sorted(x for x in p.stdout.split("\n") if x)


@test
def flag_with_value_after_equals():
    eq(complete("nvidia-ctk runtime configure --ru"), ["--runtime="], "--ru")
    eq(complete("nvidia-ctk runtime configure --runtime="), ["containerd", "crio", "docker"],
       "--runtime=")
    eq(complete("nvidia-ctk runtime configure --runtime=c"), ["containerd", "crio"], "--runtime=c")
    eq(complete("nvidia-ctk runtime unconfigure --runtime=docker --cdi"), ["--cdi.enabled"],
       "a flag after a flag=value")


@test
def command_words():
    eq(complete("nvidia-ctk "), ["cdi", "config", "hook", "runtime", "system"], "nvidia-ctk")
    eq(complete("nvidia-ctk --debug cdi "), ["generate", "list", "transform", "validate"], "cdi")
    eq(complete("nvidia-ctk runtime c"), ["configure"], "runtime c")
    eq(complete("nvidia-ctk cdi transform "), ["root"], "transform")
    eq(complete("nvidia-container-cli --root /x "),
       ["configure", "docker-args", "info", "list"], "cli after a global flag and its value")
    eq(complete("nctk d"), ["docker-args", "doctor"], "nctk d")
    eq(complete("nvidia-container-runtime-hook p"), ["poststart", "poststop", "prestart"], "hook")


@test
def flags_of_the_right_subcommand():
    eq(complete("nvidia-container-cli list --no-g"), ["--no-gsp-firmware"], "list")
    eq(complete("nvidia-container-cli info --"), ["--csv", "--help", "--json", "--usage"], "info")
    eq(complete("nctk configure --no-c"), ["--no-cgroups", "--no-cntlibs"], "nctk configure")
    eq(complete("nvidia-ctk cdi generate --device-n"), ["--device-name-strategy"], "generate")
    eq(complete("nvidia-ctk cdi list --spec"), ["--spec-dir"], "list")
    eq(complete("nvidia-ctk cdi generate --format "), ["json", "yaml"], "--format VALUE")
    eq(complete("nvidia-ctk cdi generate --format json --no"), ["--no-all-device"],
       "a flag after a flag and its value")
    eq(complete("nvidia-container-runtime-hook -con"), ["-config="], "Go-style flag")
    eq(complete("nvidia-ctk system create-dev-char-symlinks --create-"),
       ["--create-all", "--create-device-nodes"], "system")


@test
def cdi_hooks_and_their_flags():
    eq(complete("nvidia-cdi-hook "), sorted(cmdflags.hook_names(os.path.join(ROOT, "src/cmd"))),
       "every hook of src/cdihook/step.c")
    eq(complete("nvidia-cdi-hook create-symlinks --li"), ["--link"], "create-symlinks")
    eq(complete("nvidia-ctk hook up"), ["update-application-profile", "update-ldcache"],
       "nvidia-ctk hook")


@test
def file_values():
    d = tmpdir("nctk-completion-")
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    os.mkdir(os.path.join(d, "conf.d"))
    open(os.path.join(d, "config.toml"), "w").close()
    eq(complete("nvidia-ctk config --config-file co", cwd=d), ["conf.d", "config.toml"],
       "--config-file FILE")
    eq(complete("nvidia-ctk runtime configure --config=con", cwd=d), ["conf.d", "config.toml"],
       "--config=FILE")


@test
def every_name_is_registered():
    p = run(["bash", "--norc", "--noprofile", "-c", f"source '{SCRIPT}' && complete -p"])
    for n in NAMES:
        assert re.search(rf"-F _nctk .*\b{re.escape(n)}\b", p.stdout) or \
            f"-F _nctk {n}" in p.stdout, f"{n} not registered: {p.stdout}"


@test
def a_new_nctk_command_gets_completion_from_its_page():
    """nctk's own commands (nctk doctor): a page man/nctk-WORD.1.scd is all it takes."""
    d = tmpdir("nctk-completion-gen-")
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    man = os.path.join(d, "man")
    shutil.copytree(os.path.join(ROOT, "man"), man)
    with open(os.path.join(man, "nctk-demo.1.scd"), "w") as f:
        f.write("nctk-demo(1)\n\n# OPTIONS\n\n*--json*\n\tJSON.\n\n*--only*=_a|b_\n\tOne.\n")
    out = os.path.join(d, "nctk")
    run([sys.executable, os.path.join(ROOT, "completion/gen-completion.py"),
         os.path.join(ROOT, "completion/nctk.bash.in"), man, out])
    eq(complete("nctk de", script=out), ["demo"], "the command word")
    eq(complete("nctk demo --", script=out), ["--json", "--only="], "its flags")
    eq(complete("nctk demo --only=", script=out), ["a", "b"], "a flag's values")
    eq(complete("nctk in", script=out), ["info"], "the other words")


@test
def shellcheck_clean():
    run(["shellcheck", "-S", "warning", SCRIPT])


run_all()
