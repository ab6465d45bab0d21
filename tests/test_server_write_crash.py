#!/usr/bin/env python3
"""kill -9 of a writing ltxpaged (issue 11, durability.md), file root.

A client posts transactions back to back; the server is killed with
SIGKILL in the middle. Checks:
  - every TXID answered 200 is in the bucket; the bucket holds at most the
    one in flight beyond it (landed or not), never a gap or a duplicate;
  - `ltxctl restore` equals the writer's state at the bucket's last TXID
    (an acknowledged COMMIT is never lost, the one in flight is all or
    nothing), `ltxctl verify` passes;
  - the dead holder's lease stays until it expires: a new server is refused
    with lease_held naming the dead pid, then takes it (generation + 1)
    after expiry and writes on top.
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server  # noqa: E402
import ltx_write_helper as LW  # noqa: E402
from ltx_write_helper import post  # noqa: E402

ck = H.Checker("test_server_write_crash")
W = LW.WRITE_TOKEN
DB = "crash.db"

tmp = tempfile.mkdtemp(prefix="ltxpaged-crash-")
a = b = None
try:
    root_dir = os.path.join(tmp, "root")
    os.makedirs(root_dir)
    root = "file://" + root_dir
    args = ["--replica", root, "--write-token", W, "--poll-interval", "200ms", "--rescan-interval", "1s"]
    a = Server(args)
    w = LW.Writer(os.path.join(tmp, "local.db"))
    w.db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
    images = {}
    acked = [0]
    stop = threading.Event()

    def writer():
        base = 0
        while not stop.is_set():
            if base:
                w.db.execute("INSERT INTO t(v) VALUES (?)", (os.urandom(300).hex(),))
            body = w.ltx()
            images[w.txid] = w.image
            try:
                st, _ = post(a.base, f"/{DB}/ltx?base={base:x}", body)
            except Exception:  # noqa: BLE001  (connection reset by the kill)
                return
            if st != 200:
                return
            acked[0] = w.txid
            base = w.txid

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(2.0)
    os.kill(a.p.pid, signal.SIGKILL)
    dead_pid = a.p.pid
    a.p.wait()
    stop.set()
    t.join(30)
    last_ack = acked[0]
    print(f"acknowledged up to TXID {last_ack}", flush=True)
    ck.ok(last_ack > 5, "writes were acknowledged before the kill")
    # (a temporary ".<name>.<random>.tmp" of the killed publish may stay: not an LTX name)
    l0 = sorted(int(n.split("-")[0], 16) for n in os.listdir(os.path.join(root_dir, DB, "ltx", "0"))
                if not n.startswith(".") and n.endswith(".ltx"))
    ck.ok(l0 == list(range(1, len(l0) + 1)), "L0 is contiguous from 1, one file per TXID")
    top = l0[-1] if l0 else 0
    ck.ok(top in (last_ack, last_ack + 1), f"bucket ends at the last acknowledged TXID or the one in flight: {top}")
    out = os.path.join(tmp, "restored.db")
    r = subprocess.run([H.binary("ltxctl"), "restore", f"{root}/{DB}", out, "--force"], capture_output=True, text=True)
    ck.eq(r.returncode, 0, f"restore after the kill: {r.stderr}")
    with open(out, "rb") as f:
        ck.eq(hashlib.sha256(f.read()).hexdigest(), hashlib.sha256(images[top]).hexdigest(),
              "restore equals the writer's state at the bucket's last TXID")
    r = subprocess.run([H.binary("ltxctl"), "verify", f"{root}/{DB}"], capture_output=True, text=True)
    ck.eq(r.returncode, 0, f"verify after the kill: {r.stdout[-300:]}")

    # the dead holder's lease
    with open(os.path.join(root_dir, DB, "lock.json")) as f:
        lj = json.load(f)
    ck.ok(lj["owner"].endswith(f":{dead_pid}"), f"lock.json still names the dead holder: {lj}")
    b = Server(args)
    ok = b.wait_for(lambda: (b.status(DB) or {}).get("txid") == f"{top:016x}", timeout=15)
    ck.ok(ok, "a new server indexes the bucket")
    w.image = images[top]
    w.txid = top
    w.db.close()
    with open(w.path, "wb") as f:
        f.write(images[top])
    w.db = __import__("sqlite3").connect(w.path, isolation_level=None, check_same_thread=False)
    w.db.execute("INSERT INTO t(v) VALUES ('after the crash')")
    body = w.ltx()
    st, j = post(b.base, f"/{DB}/ltx?base={top:x}", body)
    ck.eq((st, j and j.get("code")), (409, "lease_held"), "refused while the dead holder's lease runs")
    ck.ok(j and j.get("holder", "").endswith(f":{dead_pid}"), f"names the dead holder: {j}")
    deadline = time.time() + 40
    while time.time() < deadline:
        st, j = post(b.base, f"/{DB}/ltx?base={top:x}", body)
        if st != 409:
            break
        time.sleep(0.5)
    ck.eq(st, 200, f"writes once the dead holder's lease expired: {j}")
    with open(os.path.join(root_dir, DB, "lock.json")) as f:
        lj2 = json.load(f)
    ck.eq(lj2["generation"], lj["generation"] + 1, "the expired lease was taken over with generation + 1")
    ck.ok(lj2["owner"].endswith(f":{b.p.pid}"), "and names the new holder")
    ck.eq(b.stop(), 0, "new holder stops cleanly")
except Exception as e:  # noqa: BLE001
    import traceback
    traceback.print_exc()
    ck.ok(False, f"exception: {e}")
finally:
    H.cleanup(tmp, a, b, running_only=True)
ck.done()
