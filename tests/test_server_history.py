#!/usr/bin/env python3
"""ltxpaged when a replica's history is replaced: the database is recreated
and its writer starts again at TXID 1, so the new LTX files have the same
names (level, min, max) as old ones but other bytes. Pages cached from the
old history must never be served for the new one: after the server notices
that the replica went back, /file at the new latest TXID must be
byte-identical to the new history's state (reference: manifest sha256),
never a mix with the old history's cached pages. Also when the new history
reaches exactly the old one's TXID (nothing went back): the file holding
the current TXID has another size under the same name.
And when the new history passes the old TXID before the server lists its
levels again: its next file is applied on top at first (nothing links LTX
files without checksums, which Litestream v0.5 does not write), then the
levels check sees earlier files with other sizes and the server re-plans;
in the end every TXID has exactly the new history's bytes."""
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, curl, jget, states_by_txid  # noqa: E402

ck = H.Checker("test_server_history")
tmp = tempfile.mkdtemp(prefix="ltxpaged-history-")
srv = None
old = chain("main-4096")
new = chain("random-4096")
old_states = states_by_txid(old)
new_states = states_by_txid(new)
db_dir = os.path.join(tmp, "h.db")


def put_l0(c, upto):
    d = os.path.join(db_dir, "ltx", "0")
    os.makedirs(d, exist_ok=True)
    for f in c["files"]:
        if f["level"] == 0 and int(f["max_txid"], 16) <= upto:
            dst = os.path.join(d, os.path.basename(f["path"]))
            shutil.copyfile(os.path.join(H.VECTORS, f["path"]), dst)
            H.set_mtime_from_header(dst)


def replace_history(c, upto):
    """The database is recreated: the replica holds only c's L0 files to upto."""
    shutil.rmtree(os.path.join(db_dir, "ltx"))
    put_l0(c, upto)


def start(what):
    s = Server(["--db", "h.db=" + db_dir, "--poll-interval", "100ms", "--l1-interval", "300ms"])
    ck.ok(s.wait_ready(), what)
    return s


def wait_latest_sha(want_sha):
    return srv.wait_for(lambda: H.sha256_bytes(curl(f"{srv.base}/h.db/file")[2]) == want_sha, 10, 0.2)


def check_txids(states, txids, what):
    """/file?txid=T has exactly states[T]'s bytes for every T."""
    for t in txids:
        st, h, b = curl(f"{srv.base}/h.db/file?txid={t:x}")
        ck.eq((st, H.sha256_bytes(b)), (200, states[t]["sha256"]), f"{what}TXID {t}")


def check_latest(states, t, what):
    """/file (latest) has exactly states[t]'s bytes."""
    st, _, b = curl(f"{srv.base}/h.db/file")
    ck.eq((st, H.sha256_bytes(b)), (200, states[t]["sha256"]), what)


try:
    new_max = max(new_states)
    old_max = new_max + 1
    ck.ok(old_max in old_states, "the old chain goes beyond the new one")
    put_l0(old, old_max)
    srv = start("ready")
    # warm the cache with the old history's pages of the files named like
    # the new history's files (L0 1..new_max)
    st, _, b = curl(f"{srv.base}/h.db/file?txid={new_max:x}")
    ck.eq((st, H.sha256_bytes(b)), (200, old_states[new_max]["sha256"]), "old history at the shared TXID")
    check_latest(old_states, old_max, "old history latest")

    # the database is recreated: its replica starts over at TXID 1
    replace_history(new, new_max)
    want = "%016x" % new_max
    ok = srv.wait_for(lambda: (srv.status("h.db") or {}).get("txid") == want, 10, 0.05)
    ck.ok(ok, f"server follows the replica back to {want}: {srv.status('h.db')}")
    st, h, b = curl(f"{srv.base}/h.db/file")
    ck.eq((st, h.get("ltx-txid"), H.sha256_bytes(b)), (200, want, new_states[new_max]["sha256"]),
          "latest after the reset is the new history's bytes (no page from the old history's cache)")
    check_txids(new_states, sorted(new_states), "new history at ")
    # single pages too
    st, h, b = curl(f"{srv.base}/h.db/pages/2")
    ck.eq((st, len(b)), (200, 4096), "page 2 after the reset")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None

    # the new history reaches the same TXID as the old one: the replica did
    # not go back, but the file holding the current TXID changed (another
    # size under the same name) -> follow the new history, nothing cached
    replace_history(old, new_max)
    srv = start("ready (same TXID case)")
    check_latest(old_states, new_max, "old history at its latest TXID")
    # a client's watcher waits in a long-poll at that TXID: it must learn
    # that its cached pages belong to a history that is gone (reset)
    poll = {}

    def long_poll():
        t0 = time.time()
        poll["r"] = jget(f"{srv.base}/h.db/changes?since={new_max:016x}&wait=8")
        poll["dt"] = time.time() - t0

    th = threading.Thread(target=long_poll)
    th.start()
    time.sleep(0.5)
    replace_history(new, new_max)
    th.join(20)
    st, j = poll.get("r", (0, None))
    ck.ok(st == 200 and (j or {}).get("reset") is True and poll.get("dt", 99) < 6,
          f"a long-poll at the replaced TXID answers reset: {st} {j} after {poll.get('dt', 0):.1f}s")
    want_sha = new_states[new_max]["sha256"]
    ok = wait_latest_sha(want_sha)
    st, h, b = curl(f"{srv.base}/h.db/file")
    ck.ok(ok, f"same TXID, new history: /file has the new bytes ({h.get('ltx-txid')})")
    check_txids(new_states, sorted(new_states), "same-TXID case: new history at ")
    ck.eq(srv.stop(), 0, "clean exit (same TXID case)")
    srv = None

    # the new history passes the old TXID (old: random-4096 at 2, new:
    # main-4096 at 3): its L0 3 is applied on top of the old state at first,
    # then the levels check sees L0 1 and 2 with other sizes and re-plans
    replace_history(new, new_max)
    srv = start("ready (overtaking case)")
    check_latest(new_states, new_max, "random-4096 at its latest TXID")
    replace_history(old, new_max + 1)
    want_sha = old_states[new_max + 1]["sha256"]
    ok = wait_latest_sha(want_sha)
    ck.ok(ok, "overtaking new history: /file ends with exactly its bytes")
    check_txids(old_states, range(1, new_max + 2), "overtaking case: ")
    ck.eq(srv.stop(), 0, "clean exit (overtaking case)")
    srv = None
finally:
    if srv:
        srv.stop()
        if srv.returncode not in (0, None):
            ck.ok(False, f"ltxpaged exit code {srv.returncode}\n{srv.output()[-3000:]}")
    shutil.rmtree(tmp, ignore_errors=True)
ck.done()
