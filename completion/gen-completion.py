#!/usr/bin/env python3
"""Writes nctk's bash completion: the command tree of nctk.bash.in, and the flags of each
command read from the option lines of its man page (man/*.scd), so that a flag is completed
exactly where it is documented (and tests/integration/test-man.py ties the pages to the
binary's parsers).

usage: gen-completion.py TEMPLATE MAN_DIR OUTPUT"""
import os
import re
import sys

BOLD_FLAG = re.compile(r"\*(--?[A-Za-z?][\w.-]*)\*")
SECTION = re.compile(r"^# (.+)$")
FILE_WORDS = {"FILE", "PATH", "DIR", "P", "F", "A", "B"}


def parse_value(rest):
    """(how, values) of the text after a flag: how is '=', 'opt' (an optional '=value'), ' ' (the
    next word) or ''."""
    m = re.match(r"(\[?=|\s+)_?([^_,\[\]]*)_?", rest)
    if not rest or not m or rest.startswith(","):
        return "", None
    how = {"[=": "opt", "=": "="}.get(m.group(1), " ")
    word = m.group(2).strip()
    if "|" in word:
        return how, word.split("|")
    if word.isalpha() and word.islower():
        return how, [word]
    return how, "files" if word in FILE_WORDS else None


def option_line(line):
    """[(flag, how, values)] of one option line; flags before a valued one share its value."""
    items = []
    for m in BOLD_FLAG.finditer(line):
        rest = line[m.end():].split(", *")[0]
        items.append([m.group(1), *parse_value(rest)])
    # "-o, --output=FILE": the short flag takes the next word (getopt has no "-o=FILE").
    for i in range(len(items) - 2, -1, -1):
        if not items[i][1] and len(items[i][0]) == 2 and items[i + 1][1] in ("=", " "):
            items[i][1:] = [" ", items[i + 1][2]]
    return items


def section_key(page, title):
    """The completion key of an options section: PAGE, or PAGE SUBCOMMAND for "X OPTIONS"."""
    words = title.lower().split()
    if words in (["options"], ["flags"]):
        return [page]
    if words[-1] not in ("options", "flags"):
        return []
    subs = " ".join(words[:-1]).split(" and ")
    return [f"{page} {s.split()[0]}" for s in subs]


def page_data(path):
    page = os.path.basename(path)[: -len(".1.scd")]
    flags = {}
    hooks = []
    keys = []
    title = ""
    with open(path) as f:
        for line in f:
            s = SECTION.match(line)
            if s:
                title = s.group(1)
                keys = section_key(page, title)
                continue
            if title == "HOOKS" and re.match(r"^\*[a-z]", line):
                hooks.append(line[1:].split("*")[0])
            if keys and line.startswith("*-"):
                for k in keys:
                    for flag, how, values in option_line(line.rstrip("\n")):
                        flags.setdefault(k, {})[flag] = (how, values)
    return flags, hooks


def bash_case(name, arms):
    out = [f"{name}() {{", '        case "$1" in']
    for pattern, body in arms:
        out.append(f"        {pattern}) {body} ;;")
    out += ["        esac", "}", ""]
    return "\n".join(out)


def main():
    template, mandir, output = sys.argv[1:4]
    flags, hooks, own = {}, [], []
    for fn in sorted(os.listdir(mandir)):
        if fn.endswith(".1.scd"):
            f, h = page_data(os.path.join(mandir, fn))
            flags.update(f)
            hooks += h
            # nctk's own commands (nctk doctor): a page nctk-WORD.1 makes WORD a command word.
            if fn.startswith("nctk-"):
                own.append(fn[len("nctk-"):-len(".1.scd")])
    list_arms, next_arms, value_arms = [], [], []
    for key in sorted(flags):
        words = []
        for flag, (how, values) in sorted(flags[key].items()):
            words.append(flag + ("=" if how in ("=", "opt") else ""))
            # getopt_long and Go's flag package take "--flag VALUE" for "--flag=VALUE" too.
            if how in ("=", " "):
                next_arms.append((f'"{key} {flag}"', "return 0"))
            if values == "files":
                value_arms.append((f'"{key} {flag}"', 'echo "@files"'))
            elif values:
                value_arms.append((f'"{key} {flag}"', f'echo "{" ".join(values)}"'))
        list_arms.append((f'"{key}"', f'echo "{" ".join(words)}"'))
    with open(template) as f:
        text = f.read()
    data = "\n".join([
        "# ---- generated from man/*.scd by completion/gen-completion.py ----",
        "",
        "# The flags of KEY (a man page, or a page and its subcommand).",
        bash_case("_nctk_flags", list_arms),
        "# Whether flag $1 (\"KEY FLAG\") takes the next word as its value.",
        bash_case("_nctk_takes_word", next_arms + [("*", "return 1")]),
        "# The values of \"KEY FLAG\"; @files: file names.",
        bash_case("_nctk_values", value_arms),
        f'_nctk_hooks="{" ".join(hooks)}"',
        "# nctk's own commands, each with its page nctk-WORD.",
        f'_nctk_own="{" ".join(own)}"',
    ])
    with open(output, "w") as f:
        f.write(text.replace("@GENERATED@", data))


main()
