#!/usr/bin/env python3
"""Run tests/test_vfs_write_driver.c (write mode through ltxhttp_static)
against the real ltxpaged --write-token on a file root, with
sync_interval=0 and 200ms. In the ASan build the driver is ASan/UBSan/LSan
instrumented, so memory errors and leaks in lh_write*.c fail this test.
Afterwards `ltxctl verify` checks every file the writers published.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_vfs_common as V  # noqa: E402
from test_vfs_common import harness  # noqa: E402

ck = harness.Checker("test_vfs_write_driver")
W = "w-secret"
rounds = "40" if harness.SANITIZE else "120"
work = V.tmpdir("wdrv")
root = os.path.join(work, "root")
os.makedirs(root)
srv = V.Server(root=root, extra=["--write-token", W])
try:
    driver = os.path.join(harness.BUILD, "tests", "test_vfs_write_driver")
    env = harness.driver_env()
    for name, interval in (("w0.db", "0"), ("w200.db", "200ms")):
        r = subprocess.run([driver, srv.url, W, name, interval, rounds], capture_output=True, text=True, timeout=300,
                           env=env)
        print(f"--- {name}: exit {r.returncode}\n{r.stdout[-1500:]}{r.stderr[-4000:]}", flush=True)
        ck.eq(r.returncode, 0, f"driver on {name} (sync_interval={interval})")
        ck.ok(" 0 failures" in r.stdout, f"driver on {name} reported no failures")
        ck.ok("LeakSanitizer" not in r.stderr and "runtime error" not in r.stderr, f"{name}: sanitizers clean")
        v = subprocess.run([harness.binary("ltxctl"), "verify", os.path.join(root, name)], capture_output=True,
                           text=True, timeout=120)
        ck.ok(v.returncode == 0, f"ltxctl verify {name}: {v.stdout[-300:]}{v.stderr[-300:]}")
finally:
    srv.stop()
ck.done()
