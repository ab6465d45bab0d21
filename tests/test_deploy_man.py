#!/usr/bin/env python3
"""man/ltxpaged.8 and man/ltxctl.1: render with groff and man-db without a
single warning, carry the usual sections and the project version, and name
every long option that the built binaries' --help prints (ltxpaged --help,
ltxctl CMD --help), so a new flag without a man page entry fails here."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as H  # noqa: E402

ck = H.Checker("deploy_man")
ENV = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", MANROFFSEQ="", MAN_DISABLE_SECCOMP="1")


def project_version():
    with open(os.path.join(H.SRC, "CMakeLists.txt")) as f:
        m = re.search(r"project\(\s*ltxhttp\s+VERSION\s+([0-9.]+)", f.read())
    return m.group(1) if m else None


def render(page):
    """(groff stderr, man stderr, man text) of one page."""
    g = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page], capture_output=True, text=True, env=ENV)
    ck.eq(g.returncode, 0, f"groff -man -ww {os.path.basename(page)} exits 0")
    m = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True, env=ENV)
    ck.eq(m.returncode, 0, f"man -l {os.path.basename(page)} exits 0")
    text = re.sub(r".\x08", "", m.stdout)          # drop overstrike bold/underline if any
    text = text.replace("\u2010", "-").replace("\u2212", "-")
    return g.stderr, m.stderr, text


def long_opts(text):
    return set(re.findall(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)", text))


def joined(text):
    """Man text with hyphenation breaks and line breaks undone."""
    return re.sub(r"-\n\s+", "-", text)


for tool in ("groff", "man"):
    ck.ok(shutil.which(tool) is not None, f"{tool} installed (scripts/install-deps.sh: groff-base, man-db)")
version = project_version()
sections = {
    "ltxpaged.8": ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "HTTP API", "SIGNALS",
                   "EXIT STATUS", "FILES", "NOTES", "EXAMPLES", "SEE ALSO"],
    "ltxctl.1": ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "ENVIRONMENT", "EXIT STATUS", "FILES",
                 "EXAMPLES", "SEE ALSO"],
}
texts = {}
for name, secs in sections.items():
    page = os.path.join(H.SRC, "man", name)
    if not ck.ok(os.path.isfile(page), f"man/{name} exists"):
        continue
    gerr, merr, text = render(page)
    ck.eq(gerr.strip(), "", f"groff -ww: no warnings for {name}")
    ck.eq(merr.strip(), "", f"man --warnings -l: no warnings for {name}")
    heads = set(re.findall(r"^([A-Z][A-Z ]+)$", text, re.M))
    for s in secs:
        ck.ok(s in heads, f"{name} has a {s} section")
    with open(page) as f:
        th = re.search(r'^\.TH\s+(\S+)\s+(\S+)\s+\S+\s+"([^"]*)"', f.read(), re.M)
    stem, sec = name.rsplit(".", 1)
    ck.ok(th is not None and th.group(1) == stem.upper() and th.group(2) == sec, f"{name}: .TH {stem.upper()} {sec}")
    ck.eq(th.group(3) if th else None, f"ltxhttp {version}", f"{name}: .TH names the project version")
    texts[name] = joined(text)

# every long option of the binaries is in the pages
try:
    exe = H.binary("ltxpaged")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True)
    flags = long_opts(r.stdout + r.stderr)
    ck.ok(len(flags) > 15, f"ltxpaged --help lists its flags ({len(flags)})")
    missing = sorted(f for f in flags if f not in texts.get("ltxpaged.8", ""))
    ck.eq(missing, [], "flags of ltxpaged --help missing from ltxpaged(8)")
except FileNotFoundError as e:
    ck.ok(False, f"ltxpaged built ({e})")
try:
    exe = H.binary("ltxctl")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True)
    cmds = [c for c in re.findall(r"^\s+ltxctl (\w+)", r.stdout + r.stderr, re.M) if c not in ("help", "version")]
    ck.ok(len(cmds) >= 6, f"ltxctl --help lists its commands ({cmds})")
    for cmd in cmds:
        ck.ok(re.search(rf"^\s+{cmd}\b", texts.get("ltxctl.1", ""), re.M) is not None, f"ltxctl(1) has a section for {cmd}")
        r = subprocess.run([exe, cmd, "--help"], capture_output=True, text=True)
        flags = long_opts(r.stdout + r.stderr) - {"--help"}
        missing = sorted(f for f in flags if f not in texts.get("ltxctl.1", ""))
        ck.eq(missing, [], f"options of ltxctl {cmd} --help missing from ltxctl(1)")
except FileNotFoundError as e:
    ck.ok(False, f"ltxctl built ({e})")
ck.done()
