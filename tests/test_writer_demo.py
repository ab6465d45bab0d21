#!/usr/bin/env python3
"""scripts/demo.sh as CI runs it: --no-install --no-build against this
build, a temporary --dir, a free port, --seconds 6. The script itself checks
that the client (vfs=ltxhttp, or curl /file, or ltxctl restore while the
server is not built) sees every row written locally, and that GET /file is
byte-identical to `ltxctl restore`; here we check its exit status, its
output, and that it stopped every process it started."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_vfs_common import pick_port  # noqa: E402  (ports no parallel test takes meanwhile)

LIVE_READ = re.compile(r"^-- \d\d:\d\d:\d\d ", re.M)  # one live read shown by the demo


def left_running(needle, timeout=5.0):
    """Processes (not zombies) with needle in their arguments, once none are
    left or after timeout: a group member that got SIGTERM together with its
    leader may still be exiting when the script returns."""
    deadline = time.time() + timeout
    while True:
        ps = subprocess.run(["ps", "-eo", "stat,args"], capture_output=True, text=True).stdout
        left = [ln for ln in ps.splitlines() if needle in ln and not ln.startswith("Z")]
        if not left or time.time() > deadline:
            return left
        time.sleep(0.1)


def wait_port_free(port, timeout=5.0):
    deadline = time.time() + timeout
    while harness_port_open(port) and time.time() < deadline:
        time.sleep(0.1)
    return not harness_port_open(port)


def main():
    c = harness.Checker("writer_demo")
    tmp = tempfile.mkdtemp(prefix="ltxdemo-")
    d = os.path.join(tmp, "demo")
    port = pick_port()
    args = ["bash", os.path.join(harness.SRC, "scripts", "demo.sh"), "--no-install", "--no-build",
            "--build-dir", harness.BUILD, "--dir", d, "--seconds", "6", "--interval", "2", "--port", str(port)]
    if harness.SANITIZE:
        # sqlite3 cannot load an ASan-built extension without LD_PRELOAD; the
        # VFS is tested under ASan through its C driver instead.
        print("sanitizer build: running the demo with --no-vfs")
        args.append("--no-vfs")
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=120, start_new_session=True)
        print(r.stdout[-3000:])
        print(r.stderr[-2000:])
        c.eq(r.returncode, 0, "demo.sh exit status")
        c.ok("demo check: OK - the client sees all" in r.stdout, "client caught up with the writer")
        c.ok("FAILED" not in r.stdout, "no failed check")
        server = os.path.exists(os.path.join(harness.BUILD, "server", "ltxpaged"))
        if server:
            c.ok("byte-identical to ltxctl restore" in r.stdout, "GET /file equals ltxctl restore")
            c.ok(f"curl -s http://127.0.0.1:{port}/app.db" in r.stdout, "shows the status JSON via curl")
            if not harness.SANITIZE and os.path.exists(os.path.join(harness.BUILD, "client-vfs", "libltxhttp.so")):
                c.ok(re.search(r"time travel to TXID [0-9a-f]{16} shows \d+ rows, as ltxctl restore", r.stdout)
                     is not None, "time travel through the VFS agrees with ltxctl restore --txid")
        else:
            print("ltxpaged not built: the demo showed the replica through ltxctl")
        c.ok("where next" in r.stdout, "tells the user where to go next")
        c.ok(os.path.exists(os.path.join(d, "bucket", "app.db", "ltx", "0")), "replica under --dir")
        # every process it started is gone: nothing runs with the demo dir in its arguments
        left = left_running(d)
        c.ok(not left, f"no process of the demo is left running {left}")
        c.ok(wait_port_free(port), "the port is free again")
        # Ctrl-C: SIGINT to the script's process group (what a terminal does)
        # stops everything it started, quickly
        d2 = os.path.join(tmp, "demo-int")
        port2 = pick_port()
        args2 = ["bash", os.path.join(harness.SRC, "scripts", "demo.sh"), "--no-install", "--no-build",
                 "--build-dir", harness.BUILD, "--dir", d2, "--interval", "1", "--port", str(port2)]
        if harness.SANITIZE:
            args2.append("--no-vfs")
        # the demo writes through its own O_APPEND descriptor and this test
        # reads through another: one shared file offset (a seek(0) here while
        # the demo writes) could put the demo's last lines anywhere
        log_path = os.path.join(tmp, "int.log")
        log = open(log_path, "a")

        def log_text():
            with open(log_path, errors="replace") as f:
                return f.read()
        p = subprocess.Popen(args2, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            deadline = time.time() + 60
            while time.time() < deadline and p.poll() is None:
                if len(LIVE_READ.findall(log_text())) >= 2:  # at least two live reads shown
                    break
                time.sleep(0.2)
            c.ok(len(LIVE_READ.findall(log_text())) >= 2, "the demo showed two live reads before Ctrl-C")
            # Ctrl-C while a pipeline runs (curl | grep | tr | sed of the status
            # JSON): its parts run the script's traps too; bash 5.2 then skipped
            # the EXIT trap (cleanup never ran, everything kept running)
            t1 = time.time()
            while time.time() - t1 < 10 and p.poll() is None and server:
                if log_text().rstrip().endswith("(status JSON; selected fields)"):
                    break
                time.sleep(0.001)
            t0 = time.time()
            try:
                os.killpg(p.pid, signal.SIGINT)
            except ProcessLookupError:
                pass  # it already ended (reported by the checks below)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
            c.ok(p.poll() is not None, f"Ctrl-C stops the demo (after {time.time() - t0:.1f}s)")
            c.ok(time.time() - t0 < 10, f"Ctrl-C stops it within 10 s ({time.time() - t0:.1f}s)")
            c.eq(p.returncode, 130, "exit status after Ctrl-C")
            out = log_text()
            c.ok("stopping:" in out, "cleanup ran")
            if "stopping:" not in out:
                print("---- the interrupted demo's output (end) ----\n" + out[-3000:], flush=True)
            c.ok("where next" in out, "after Ctrl-C it still says where to go next")
            left = left_running(d2)
            c.ok(not left, f"no process of the interrupted demo is left running {left}")
            c.ok(wait_port_free(port2), "its port is free again")
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            log.close()
            # the demo starts its children in their own sessions: whatever a
            # failed run left behind is found by its --dir and stopped here
            subprocess.run(["pkill", "-KILL", "-f", d2], capture_output=True)
        # refuses to wipe a directory it did not create
        other = os.path.join(tmp, "mine")
        os.makedirs(other)
        r2 = subprocess.run(["bash", os.path.join(harness.SRC, "scripts", "demo.sh"), "--no-install", "--no-build",
                             "--build-dir", harness.BUILD, "--dir", other, "--seconds", "1"],
                            capture_output=True, text=True, timeout=60)
        c.ok(r2.returncode == 1 and "not made by this script" in r2.stderr, "does not wipe a foreign directory")
        c.ok(os.path.isdir(other), "foreign directory kept")
        r3 = subprocess.run(["bash", os.path.join(harness.SRC, "scripts", "demo.sh"), "--bogus"],
                            capture_output=True, text=True, timeout=30)
        c.eq(r3.returncode, 2, "unknown option rejected")
    finally:
        # stop whatever a failed or timed-out run left behind (the demo's
        # children run in their own sessions; all carry the temp dir in argv)
        subprocess.run(["pkill", "-KILL", "-f", tmp], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    c.done()


def harness_port_open(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
