#!/usr/bin/env python3
"""Structural rules of the tree (issue 9), checked in the test suite.

- no product C file over 800 lines; no function over 150 lines (tables
  aside: initialisers are not functions);
- no file-wide warning switches (#pragma GCC diagnostic ignored at file
  scope, or -Wno-* in CMake);
- no include cycles between product headers; tools/ and client-vfs/ do not
  include anything from server/;
- clang-format --dry-run -Werror clean with the committed .clang-format
  (skipped, with a note, when clang-format is not installed).

Usage: check-tree.py [SRC_DIR]. Exit 1 and one line per problem when a rule
is broken."""
import os
import re
import shutil
import subprocess
import sys

PRODUCT_DIRS = ["common", "proto", "store", "server", "client-vfs", "tools"]
MAX_FILE_LINES = int(os.environ.get("CT_MAX_FILE", 800))
MAX_FUNC_LINES = int(os.environ.get("CT_MAX_FUNC", 150))

src = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                      os.path.join(os.path.dirname(__file__), ".."))
problems = []


def product_files(exts):
    for d in PRODUCT_DIRS:
        for root, _dirs, files in os.walk(os.path.join(src, d)):
            for f in sorted(files):
                if f.endswith(exts):
                    yield os.path.join(root, f)


def rel(p):
    return os.path.relpath(p, src)


def check_functions(path, lines):
    """K&R layout: a function's body opens with '{' alone in column 0 after
    a line ending in ')' and closes with '}' in column 0."""
    start = None
    for i, line in enumerate(lines):
        if start is None and line.rstrip() == "{" and i > 0 and lines[i - 1].rstrip().endswith(")"):
            start = i
        elif start is None and re.match(r"[A-Za-z_].*\)\s*\{\s*$", line) and "=" not in line:
            start = i
        elif start is not None and line.startswith("}"):
            n = i - start + 1
            if n > MAX_FUNC_LINES:
                j = start if lines[start].rstrip() != "{" else start - 1
                while j > 0 and lines[j].startswith((" ", "\t")):
                    j -= 1
                name = lines[j].strip()[:60]
                problems.append(f"{rel(path)}:{start}: function of {n} lines (max {MAX_FUNC_LINES}): {name}")
            start = None


for p in product_files((".c", ".h")):
    with open(p, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    if p.endswith(".c") and len(lines) - 1 > MAX_FILE_LINES:
        problems.append(f"{rel(p)}: {len(lines) - 1} lines (max {MAX_FILE_LINES})")
    if p.endswith(".c"):
        check_functions(p, lines)
    depth = 0
    for i, line in enumerate(lines):
        if re.match(r"\s*#\s*pragma\s+GCC\s+diagnostic\s+ignored", line) and depth == 0:
            # at file scope and not inside a push/pop pair
            problems.append(f"{rel(p)}:{i + 1}: file-wide warning switch: {line.strip()}")
        if re.match(r"\s*#\s*pragma\s+GCC\s+diagnostic\s+push", line):
            depth += 1
        if re.match(r"\s*#\s*pragma\s+GCC\s+diagnostic\s+pop", line):
            depth = max(0, depth - 1)

for root, _dirs, files in os.walk(src):
    if "/build" in root or "/.git" in root:
        continue
    for f in files:
        if f == "CMakeLists.txt" or f.endswith(".cmake"):
            p = os.path.join(root, f)
            with open(p, encoding="utf-8", errors="replace") as fh:
                for i, line in enumerate(fh):
                    if re.search(r"-Wno-(?!error=)", line) and not line.lstrip().startswith("#"):
                        problems.append(f"{rel(p)}:{i + 1}: warning switched off: {line.strip()}")

# Include graph between product headers and sources, by file name.
by_name = {}
for p in product_files((".h",)):
    by_name.setdefault(os.path.basename(p), []).append(p)
graph = {}
for p in product_files((".c", ".h")):
    with open(p, encoding="utf-8", errors="replace") as f:
        incs = re.findall(r'^\s*#\s*include\s+"([^"]+)"', f.read(), re.M)
    deps = []
    for inc in incs:
        cands = by_name.get(os.path.basename(inc), [])
        same_dir = [c for c in cands if os.path.dirname(c) == os.path.dirname(p)]
        target = (same_dir or cands or [None])[0]
        if target:
            deps.append(target)
            top = rel(p).split(os.sep)[0]
            if top in ("tools", "client-vfs", "store", "proto", "common") and rel(target).startswith("server" + os.sep):
                problems.append(f"{rel(p)}: includes {rel(target)} (only server/ may use server/)")
    graph[p] = deps

state = {}


def visit(n, stack):
    state[n] = 1
    stack.append(n)
    for m in graph.get(n, []):
        if state.get(m) == 1 and m.endswith(".h"):
            cyc = stack[stack.index(m):] + [m]
            problems.append("include cycle: " + " -> ".join(rel(c) for c in cyc))
        elif m not in state:
            visit(m, stack)
    stack.pop()
    state[n] = 2


for n in sorted(graph):
    if n not in state:
        visit(n, [])

cf = shutil.which("clang-format")
if cf and os.path.exists(os.path.join(src, ".clang-format")):
    files = list(product_files((".c", ".h")))
    r = subprocess.run([cf, "--dry-run", "-Werror", "--style=file"] + files, cwd=src,
                       capture_output=True, text=True)
    if r.returncode != 0:
        bad = sorted({m for m in re.findall(r"^(\S+?):\d+:\d+: error", r.stderr, re.M)})
        problems.append(f"clang-format: {len(bad)} files not formatted: " + " ".join(rel(b) for b in bad[:20]))
elif not cf:
    print("note: clang-format not installed; format check skipped")

for p in problems:
    print(p)
print(f"check-tree: {len(problems)} problems")
sys.exit(1 if problems else 0)
