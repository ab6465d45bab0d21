#!/usr/bin/env python3
"""`cmake --install` (cmake/install.cmake) into a temporary prefix, and the
installed files at work.

Checks: every file is installed where GNUInstallDirs says (binaries, the
extension, both man pages, the systemd unit, LICENSE, README, env example)
and listed in install_manifest.txt; copied files equal their sources; the
installed unit's ExecStart= names the installed ltxpaged and its
Documentation= (man:ltxpaged(8)) is found in the installed man tree
(`man -w`, and `systemd-analyze verify` with that MANPATH); the installed
ltxctl writes and verifies a replica, the installed ltxpaged serves it, and
the installed libltxhttp.so reads it through vfs=ltxhttp in Debian's
/usr/bin/python3; DESTDIR staging keeps DESTDIR out of ExecStart=."""
import filecmp
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, curl  # noqa: E402

ck = H.Checker("deploy_install")
tmp = tempfile.mkdtemp(prefix="ltxdeploy-install-")
srv = None


def cache_var(name, default):
    try:
        with open(os.path.join(H.BUILD, "CMakeCache.txt")) as f:
            for line in f:
                m = re.match(rf"{name}:[A-Z]+=(.*)$", line.strip())
                if m:
                    return m.group(1)
    except OSError:
        pass
    return default


def install(prefix, env=None):
    return subprocess.run(["cmake", "--install", H.BUILD, "--prefix", prefix], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=120)


try:
    prefix = os.path.join(tmp, "prefix")
    r = install(prefix)
    ck.eq(r.returncode, 0, f"cmake --install --prefix exits 0 ({r.stderr.strip()[-400:]})")
    libdir = cache_var("CMAKE_INSTALL_LIBDIR", "lib")
    P = lambda *a: os.path.join(prefix, *a)  # noqa: E731
    want = {
        "bin/ltxpaged": None, "bin/ltxctl": None, f"{libdir}/libltxhttp.so": None,
        "share/man/man8/ltxpaged.8": "man/ltxpaged.8", "share/man/man1/ltxctl.1": "man/ltxctl.1",
        "share/doc/ltxhttp/LICENSE": "LICENSE", "share/doc/ltxhttp/README.md": "README.md",
        "share/doc/ltxhttp/ltxpaged.env.example": "deploy/ltxpaged.env.example",
        "lib/systemd/system/ltxpaged.service": None,
    }
    for rel, src in want.items():
        if ck.ok(os.path.isfile(P(rel)), f"installed {rel}"):
            if src:
                ck.ok(filecmp.cmp(P(rel), os.path.join(H.SRC, src), shallow=False), f"{rel} equals {src}")
    for exe in ("bin/ltxpaged", "bin/ltxctl"):
        ck.ok(os.access(P(exe), os.X_OK), f"{exe} is executable")
    try:
        with open(os.path.join(H.BUILD, "install_manifest.txt")) as f:
            manifest = set(f.read().split())
    except OSError:
        manifest = set()
    for rel in want:
        ck.ok(P(rel) in manifest, f"install_manifest.txt lists {rel}")

    # the unit: ExecStart= the installed binary, Documentation= an installed man page
    with open(P("lib/systemd/system/ltxpaged.service")) as f:
        unit = f.read()
    ck.ok(f"\nExecStart={P('bin/ltxpaged')}\n" in unit, "installed unit: ExecStart= the installed ltxpaged")
    docs = re.findall(r"^Documentation=(.*)$", unit, re.M)
    ck.eq(docs, ["man:ltxpaged(8)"], "installed unit: Documentation=man:ltxpaged(8)")
    r = subprocess.run(["man", "--manpath", P("share/man"), "-w", "8", "ltxpaged"], capture_output=True, text=True)
    ck.eq(r.stdout.strip(), P("share/man/man8/ltxpaged.8"), "man -w 8 ltxpaged finds the installed page")
    r = subprocess.run(["man", "--manpath", P("share/man"), "-w", "1", "ltxctl"], capture_output=True, text=True)
    ck.eq(r.stdout.strip(), P("share/man/man1/ltxctl.1"), "man -w 1 ltxctl finds the installed page")
    if shutil.which("systemd-analyze"):
        r = subprocess.run(["systemd-analyze", "verify", P("lib/systemd/system/ltxpaged.service")],
                           capture_output=True, text=True, env=dict(os.environ, MANPATH=P("share/man")))
        ck.eq(r.returncode, 0, f"systemd-analyze verify of the installed unit ({r.stderr.strip()[:300]})")
        ck.ok("ltxpaged.service" not in r.stderr, f"no complaint about the installed unit ({r.stderr.strip()[:300]})")
        r = subprocess.run(["systemd-analyze", "verify", P("lib/systemd/system/ltxpaged.service")],
                           capture_output=True, text=True, env=dict(os.environ, MANPATH=os.path.join(tmp, "empty")))
        ck.ok("man ltxpaged(8)" in r.stderr, "without the installed man tree verify misses man:ltxpaged(8) (the check bites)")
    else:
        print("systemd-analyze not installed: unit not verified")

    # the installed binaries and extension at work
    r = subprocess.run([P("bin/ltxctl"), "--help"], capture_output=True, text=True)
    ck.ok(r.returncode == 0 and "usage: ltxctl" in r.stdout + r.stderr, "installed ltxctl --help")
    r = subprocess.run([P("bin/ltxpaged"), "--version"], capture_output=True, text=True)
    ck.ok(r.returncode == 0 and r.stdout.startswith("ltxpaged "), f"installed ltxpaged --version ({r.stdout.strip()})")
    db = os.path.join(tmp, "app.db")
    H.small_db(db)
    root = os.path.join(tmp, "replicas")
    r = subprocess.run([P("bin/ltxctl"), "snapshot", db, os.path.join(root, "app.db")], capture_output=True, text=True)
    ck.eq(r.returncode, 0, f"installed ltxctl snapshot ({r.stderr.strip()})")
    r = subprocess.run([P("bin/ltxctl"), "verify", os.path.join(root, "app.db")], capture_output=True, text=True)
    ck.eq(r.returncode, 0, f"installed ltxctl verify ({r.stdout.strip()[-200:]} {r.stderr.strip()})")
    port = H.free_port()
    srv = H.Proc([P("bin/ltxpaged"), "--listen", f"127.0.0.1:{port}", "--replica", "file://" + root],
                 env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=23", "LSAN_OPTIONS": "exitcode=23"})
    H.wait_port(port, 20, srv.p)
    st, _, _ = curl(f"http://127.0.0.1:{port}/healthz")
    ck.eq(st, 200, "installed ltxpaged answers /healthz")
    code = f"""
import sqlite3, sys
b = sqlite3.connect(":memory:")
b.enable_load_extension(True)
b.load_extension({P(libdir, 'libltxhttp')!r})
b.close()
import time
for _ in range(100):
    try:
        c = sqlite3.connect("file:app.db?vfs=ltxhttp&server=http://127.0.0.1:{port}", uri=True)
        print(c.execute("SELECT count(*), sum(x) FROM t").fetchone())
        break
    except sqlite3.Error as e:
        err = e
        time.sleep(0.1)
else:
    sys.exit(f"no answer: {{err}}")
"""
    if H.SANITIZE:
        print("ASan build: the installed libltxhttp.so cannot be loaded into python without LD_PRELOAD of libasan; "
              "not loaded (the normal build checks it)")
    else:
        r = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True, timeout=60)
        ck.eq(r.stdout.strip(), "(1000, 499500)",
              f"installed libltxhttp.so reads through vfs=ltxhttp ({r.stderr.strip()[-300:]})")
    ck.eq(srv.stop(), 0, "installed ltxpaged exits 0 on SIGTERM")
    srv = None

    # DESTDIR staging: files under DESTDIR, ExecStart= without it
    stage = os.path.join(tmp, "stage")
    r = install("/usr/local", env={"DESTDIR": stage})
    ck.eq(r.returncode, 0, f"DESTDIR=… cmake --install --prefix /usr/local ({r.stderr.strip()[-300:]})")
    staged = os.path.join(stage, "usr/local/lib/systemd/system/ltxpaged.service")
    ck.ok(os.path.isfile(os.path.join(stage, "usr/local/bin/ltxpaged")), "DESTDIR: binary staged")
    if ck.ok(os.path.isfile(staged), "DESTDIR: unit staged"):
        with open(staged) as f:
            ck.ok("\nExecStart=/usr/local/bin/ltxpaged\n" in f.read(), "DESTDIR: ExecStart=/usr/local/bin/ltxpaged")
finally:
    if srv is not None:
        srv.stop()
    shutil.rmtree(tmp, ignore_errors=True)
ck.done()
