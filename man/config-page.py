#!/usr/bin/env python3
"""Writes the scdoc source of nvidia-container-runtime-config.toml(5) from what the binary
prints for `nvidia-ctk config default`: every key with its default and its comment, so the
page and the program cannot disagree.

usage: config-page.py NCTK OUTPUT"""
import re
import subprocess
import sys

KEY = re.compile(r"^(#?)([A-Za-z0-9_.-]+) = (.*)$")

HEAD = """nvidia-container-runtime-config.toml(5)

# NAME

nvidia-container-runtime-config.toml - the configuration of nctk's commands

# SYNOPSIS

_/etc/nvidia-container-runtime/config.toml_

# DESCRIPTION

The TOML file that nvidia-container-runtime(1), nvidia-container-runtime-hook(1),
nvidia-container-cli(1) and nvidia-ctk(1) read. Its path can be changed with
NVIDIA_CTK_CONFIG_FILE_PATH (also *--config* of nvidia-ctk and *-config* of the hook). A key
that is missing has its default; *nvidia-ctk config default* prints the whole file with
comments, and *nvidia-ctk config --set KEY=VALUE --in-place* changes one key and keeps every
other byte. This page lists every key as that command prints it.
"""

TAIL = """
# SEE ALSO

nvidia-ctk-config(1), nvidia-container-runtime(1), nvidia-container-env(7)
"""


def esc(text):
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")


def main():
    nctk, output = sys.argv[1:3]
    text = subprocess.run([nctk, "ctk", "config", "default"], check=True, capture_output=True,
                          text=True).stdout
    out = [HEAD, "# TOP-LEVEL KEYS\n"]
    comment, keys, examples = [], {}, {}
    order = []
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            flush(out, order, keys, examples)
            order, keys, examples = [], {}, {}
            out.append(f"# {esc(line)}\n")
            continue
        m = KEY.match(line)
        if m:
            example, key, value = m.groups()
            if key not in keys and key not in examples:
                order.append((key, " ".join(comment)))
            (examples if example else keys)[key] = value
            comment = []
        elif line.startswith("# "):
            comment.append(line[2:])
        elif not line.strip():
            comment = [] if not order or comment else comment
    flush(out, order, keys, examples)
    out.append(TAIL)
    with open(output, "w") as f:
        f.write("\n".join(out))


def flush(out, order, keys, examples):
    for key, comment in order:
        value = keys.get(key)
        term = f"*{esc(key)}* = {esc(value)}" if value is not None else f"*{esc(key)}* (unset)"
        body = esc(comment)
        if key in examples and examples[key] != value:
            body += f" Example: {esc(examples[key])}."
        out.append(f"{term}\n\t{body}\n")


main()
