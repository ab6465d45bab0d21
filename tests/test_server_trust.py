#!/usr/bin/env python3
"""Issue 10, database layer, on a file replica: verified before served,
routing around damage, healing, honest states, a recreated and a removed
database. Every byte compared is checked against `ltxctl restore` of an
undamaged copy of the replica at the same TXID.

  a.db  L0 7 of 10 has a bit flipped inside an LZ4 literal (the frame still
        decodes): never served, stalled at 6 naming it; a correct L1 over
        it heals. Then, running: a damaged L0 arriving (stalled, never ok,
        never its TXID), healed by an L1; a truncated newest file (stalled,
        named), healed by the good file; a damaged L1 that would bridge an
        L0 gap (stalled, named, never its TXIDs), healed by the good L1; the
        newest L0, applied, replaced by damaged bytes (re-planned, stalled
        naming it), healed by the good bytes.
  b.db  a damaged L2 with covering L1s (no L0): the latest through the L1s.
  c.db  a damaged L1 with the L0 files under it: the latest through L0.
  d.db  a damaged L9 snapshot with the L0 files: the latest through L0.
  f.db  recreated: a new history under the same name; no byte of the old
        one after, and a long-poll waiting at the old TXID answers reset.
  g.db  removed: 404 and gone from the database list.
  h.db  latest never 410 under retention; i.db an empty L0 listing bridged.
  j.db  time lookups at/before the epoch or the first file are 410, a
        future one the latest; a frame rotted in place after verification
        answers 502 naming its page once."""
import json
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, curl, jget  # noqa: E402
import test_server_trust_lib as T  # noqa: E402

POLL = 0.2
L1I = 1.0
ck = H.Checker("test_server_trust")
tmp = tempfile.mkdtemp(prefix="ltxpaged-trust-")
srv = None


def tx(t):
    return f"{t:016x}"


def status(db):
    st, j = jget(f"{srv.base}/{db}")
    return j or {}


def serve_alone(rep, db, root_name, txid, args, env=None):
    """Start srv on a new file root tmp/<root_name> holding only a copy of
    rep as db; ready with db indexed at txid. Returns db's folder."""
    global srv
    root_ = os.path.join(tmp, root_name)
    r = os.path.join(root_, db)
    shutil.copytree(rep, r)
    srv = Server(["--replica", "file://" + root_] + args, env=env)
    ck.ok(srv.wait_ready(30) and status(db).get("txid") == tx(txid), f"{db}: indexed at {txid}")
    return r


def file_bytes(db, txid=None):
    q = f"?txid={txid:x}" if txid else ""
    st, _, b = curl(f"{srv.base}/{db}/file{q}")
    return st, b


def watch_never(db, bad_txid, secs, what):
    """For secs: the state is never ok and bad_txid never the latest."""
    end = time.time() + secs
    seen = set()
    while time.time() < end:
        s = status(db)
        seen.add((s.get("state"), s.get("txid")))
        time.sleep(0.05)
    ck.ok(all(st != "ok" and t != tx(bad_txid) for st, t in seen), f"{what}: never ok, never {bad_txid} ({seen})")


def wait_state(db, state, txid, timeout):
    return srv.wait_for(lambda: (lambda s: s.get("state") == state and s.get("txid") == tx(txid))(status(db)),
                        timeout)


try:
    root = os.path.join(tmp, "root")
    os.makedirs(root)
    prist = {}

    # ---- a.db: L0 7 of 10 damaged -----------------------------------------
    ra = os.path.join(root, "a.db")
    wa = T.damaged_l0(tmp, ra)
    pa = wa.rep

    # ---- b.db: damaged L2 over L1 1-10, 11-20; no L0 ----------------------
    rb = os.path.join(root, "b.db")
    pb, l2 = T.damaged_l2(tmp, rb)
    ck.eq(len(l2), 1, f"one L2 file ({l2}), L1 {T.files(rb, 1)}")

    # ---- c.db: damaged L1 1-10 with L0 1..12; d.db: damaged L9 ------------
    pc = T.leveled(tmp, "c")
    T.damaged_level_copy(pc, os.path.join(root, "c.db"), 1, 9)
    l9 = T.damaged_level_copy(pc, os.path.join(root, "d.db"), 9, 1)
    ck.eq(len(l9), 1, f"one L9 snapshot ({l9})")

    # ---- f.db (recreated), g.db (removed) ---------------------------------
    wf = T.history(tmp, "f", 9, "old")
    pf = wf.rep
    rf = os.path.join(root, "f.db")
    shutil.copytree(pf, rf)
    wg = T.history(tmp, "g", 2)
    pg = wg.rep
    rg = os.path.join(root, "g.db")
    shutil.copytree(pg, rg)

    # ---- e.db: a 12 MB L0 file (read ahead in parallel ranges); e2.db: the
    # same with one byte flipped in its middle --------------------------------
    pe = os.path.join(tmp, "pe")
    we = T.Writer(os.path.join(tmp, "e.sqlite"), pe, "e")
    we.c.execute("create table big(b blob)")
    we.c.execute("insert into big values (randomblob(12000000))")
    we.c.commit()
    we._rep()
    we.commit(2)
    big = [f for f in T.files(pe, 0) if os.path.getsize(T.path_of(pe, 0, f)) > 8 << 20]
    ck.eq(len(big), 1, "e.db: one L0 file over 8 MiB")
    shutil.copytree(pe, os.path.join(root, "e.db"))
    re2 = os.path.join(root, "e2.db")
    shutil.copytree(pe, re2)
    bp = T.path_of(re2, 0, big[0])
    data = bytearray(open(bp, "rb").read())
    data[len(data) // 2] ^= 0x10
    T.write_new(bp, bytes(data))

    srv = Server(["--replica", "file://" + root, "--poll-interval", "200ms", "--l1-interval", "1s",
                  "--rescan-interval", "1s", "--cache-size", "4M"])
    ck.ok(srv.wait_ready(30), "ready")

    # ---- cold start ----------------------------------------------------------
    s = status("a.db")
    ck.eq((s.get("state"), s.get("txid")), ("stalled", tx(6)), "a.db: damaged L0 7 -> stalled at 6")
    ck.ok(T.l0_name(7)[:33] in (s.get("stall_reason") or ""), f"a.db: stall names L0 7: {s.get('stall_reason')}")
    ck.ok(any(T.l0_name(7)[:16] in (r.get("file") or "") for r in s.get("rejected_files", [])),
          f"a.db: L0 7 listed as rejected: {s.get('rejected_files')}")
    st, b = file_bytes("a.db")
    ck.eq((st, H.sha256_bytes(b)), (200, H.sha256_bytes(T.restore(pa, tmp, 6))), "a.db: latest is TXID 6's bytes")
    for t in (7, 8, 10):
        st, b = file_bytes("a.db", t)
        ck.ok(st != 200, f"a.db: TXID {t} never served (status {st})")
        st, h, _ = curl(f"{srv.base}/a.db/pages/1?txid={t:x}")
        ck.ok(st != 200, f"a.db: page 1 at TXID {t} never served (status {st})")
    v = s.get("verification") or {}
    ck.ok(v.get("files_total", 0) >= 6 and v.get("files_verified") == v.get("files_total") and
          v.get("last_build_seconds") is not None, f"a.db: verification progress reported: {v}")

    s = status("b.db")
    ck.eq((s.get("state"), s.get("txid")), ("ok", tx(20)), "b.db: damaged L2 routed around through L1")
    ck.ok(any(l2[0][:16] in (r.get("file") or "") and r.get("file", "").startswith("L2")
              for r in s.get("rejected_files", [])), f"b.db: L2 rejected: {s.get('rejected_files')}")
    for t in (None, 10, 20):
        st, b = file_bytes("b.db", t)
        ck.eq((st, H.sha256_bytes(b)), (200, H.sha256_bytes(T.restore(pb, tmp, t))),
              f"b.db: /file at {t or 'latest'} == ltxctl restore")
    for db, pr, lv in (("c.db", pc, "L1"), ("d.db", pc, "L9")):
        s = status(db)
        ck.eq((s.get("state"), s.get("txid")), ("ok", tx(12)), f"{db}: damaged {lv} routed around through L0")
        ck.ok(any((r.get("file") or "").startswith(lv) for r in s.get("rejected_files", [])),
              f"{db}: {lv} rejected: {s.get('rejected_files')}")
        for t in (None, 10):
            st, b = file_bytes(db, t)
            ck.eq((st, H.sha256_bytes(b)), (200, H.sha256_bytes(T.restore(pr, tmp, t))),
                  f"{db}: /file at {t or 'latest'} == ltxctl restore")

    s = status("e.db")
    st, b = file_bytes("e.db")
    ck.eq((s.get("state"), st, H.sha256_bytes(b)), ("ok", 200, H.sha256_bytes(T.restore(pe, tmp))),
          "e.db: a 12 MB file verified in parallel ranges, exact bytes")
    s = status("e2.db")
    st, b = file_bytes("e2.db")
    bt = int(big[0][:16], 16)
    ck.ok(s.get("state") == "stalled" and s.get("txid") == tx(bt - 1) and big[0][:16] in (s.get("stall_reason") or ""),
          f"e2.db: the damaged 12 MB file is rejected, stalled before it: {s.get('state')} {s.get('stall_reason')}")
    ck.eq((st, H.sha256_bytes(b)), (200, H.sha256_bytes(T.restore(pe, tmp, bt - 1))), "e2.db: the TXID before it")

    # ---- a.db heals: a correct L1 over the damaged L0 ----------------------
    T.ltxctl("compact", pa, "--level", 1)
    T.copy_level(pa, ra, 1)
    ck.ok(wait_state("a.db", "ok", 10, L1I * 3 + 2), f"a.db: healed by L1 1-10 ({status('a.db').get('state')})")
    for t in (None, 6):
        st, b = file_bytes("a.db", t)
        ck.eq((st, H.sha256_bytes(b)), (200, H.sha256_bytes(T.restore(pa, tmp, t or 10))),
              f"a.db: /file at {t or 'latest'} after healing == ltxctl restore")
    st, _ = file_bytes("a.db", 7)
    ck.ok(st != 200, f"a.db: TXID 7 (only in the damaged L0) still never served ({st})")

    # ---- running: a damaged L0 arrives ---------------------------------------
    wa.commit()  # 11
    T.place_damaged(pa, ra, 0, T.l0_name(11))  # never listed with its good bytes
    ok = srv.wait_for(lambda: status("a.db").get("state") == "stalled", 3)
    s = status("a.db")
    ck.ok(ok and s.get("txid") == tx(10) and T.l0_name(11)[:16] in (s.get("stall_reason") or ""),
          f"a.db: damaged L0 11 arriving -> stalled at 10, named: {s.get('state')} {s.get('stall_reason')}")
    watch_never("a.db", 11, 1.5, "a.db: damaged L0 11")
    st, _ = file_bytes("a.db", 11)
    ck.ok(st != 200, f"a.db: TXID 11 not served ({st})")
    T.ltxctl("compact", pa, "--level", 1)  # L1 11-11
    T.copy_level(pa, ra, 1)
    ck.ok(wait_state("a.db", "ok", 11, L1I * 3 + 2), "a.db: healed by L1 over L0 11")
    st, b = file_bytes("a.db")
    ck.eq(H.sha256_bytes(b), H.sha256_bytes(T.restore(pa, tmp, 11)), "a.db: TXID 11 bytes after healing")

    # ---- running: a truncated newest file ------------------------------------
    wa.commit()  # 12
    good12 = open(T.path_of(pa, 0, T.l0_name(12)), "rb").read()
    T.write_new(T.path_of(ra, 0, T.l0_name(12)), good12[:len(good12) * 2 // 3])
    ok = srv.wait_for(lambda: status("a.db").get("state") == "stalled", 3)
    s = status("a.db")
    ck.ok(ok and s.get("txid") == tx(11) and T.l0_name(12)[:16] in (s.get("stall_reason") or ""),
          f"a.db: truncated newest file -> stalled at 11, named: {s.get('state')} {s.get('stall_reason')}")
    watch_never("a.db", 12, 1.0, "a.db: truncated L0 12")
    T.write_new(T.path_of(ra, 0, T.l0_name(12)), good12)
    ck.ok(wait_state("a.db", "ok", 12, L1I * 3 + 2), "a.db: the good file heals")
    st, b = file_bytes("a.db")
    ck.eq(H.sha256_bytes(b), H.sha256_bytes(T.restore(pa, tmp, 12)), "a.db: TXID 12 bytes")

    # ---- running: a damaged L1 that would bridge an L0 gap --------------------
    wa.commit(3)  # 13..15
    T.ltxctl("compact", pa, "--level", 1)  # L1 12-15
    l1 = [f for f in T.files(pa, 1) if f.endswith(tx(15) + ".ltx")]
    ck.eq(len(l1), 1, f"L1 ..-15 written ({T.files(pa, 1)})")
    T.place_damaged(pa, ra, 1, l1[0])
    T.copy_level(pa, ra, 0, [T.l0_name(15)])  # 13, 14 only in the (damaged) L1
    ok = srv.wait_for(lambda: l1[0][:16] in (status("a.db").get("stall_reason") or ""),
                      L1I * 3 + 2)
    s = status("a.db")
    ck.ok(ok and s.get("state") == "stalled" and s.get("txid") == tx(12),
          f"a.db: damaged bridging L1 -> stalled at 12, named: {s.get('state')} {s.get('txid')} "
          f"{s.get('stall_reason')}")
    for t in (13, 15):
        st, _ = file_bytes("a.db", t)
        ck.ok(st != 200, f"a.db: TXID {t} not served from the damaged L1 ({st})")
    T.copy_level(pa, ra, 1, l1)
    ck.ok(wait_state("a.db", "ok", 15, L1I * 3 + 2), "a.db: the good L1 heals the gap")
    for t in (None, 12):
        st, b = file_bytes("a.db", t)
        ck.eq((st, H.sha256_bytes(b)), (200, H.sha256_bytes(T.restore(pa, tmp, t or 15))),
              f"a.db: /file at {t or 'latest'} == ltxctl restore after the L1 heals")

    # ---- running: the newest L0, applied, is replaced by damaged bytes -------
    # (a replaced history: re-planned). The plan stops at 15 because of L0 16;
    # the stall names L0 16, not the first known-bad file listed (L0 7, long
    # covered by the L1, no reason for anything any more).
    wa.commit()  # 16
    T.copy_level(pa, ra, 0, [T.l0_name(16)])
    ck.ok(wait_state("a.db", "ok", 16, 5), f"a.db: L0 16 applied ({status('a.db').get('txid')})")
    T.flip_literal(T.path_of(ra, 0, T.l0_name(16)))
    ok = wait_state("a.db", "stalled", 15, L1I * 3 + 2)
    s = status("a.db")
    ck.ok(ok and T.l0_name(16)[:16] in (s.get("stall_reason") or ""),
          f"a.db: L0 16 replaced by damaged bytes -> stalled at 15 naming L0 16: {s.get('state')} "
          f"{s.get('txid')} {s.get('stall_reason')}")
    T.copy_level(pa, ra, 0, [T.l0_name(16)])
    ck.ok(wait_state("a.db", "ok", 16, L1I * 3 + 2), "a.db: the good L0 16 back heals")

    # ---- f.db: recreated under the same name ---------------------------------
    st, b_old5 = file_bytes("f.db", 5)
    ck.eq(st, 200, "f.db: TXID 5 of the old history served (point-in-time index built)")
    polled = {}

    def longpoll():
        polled["r"] = jget(f"{srv.base}/f.db/changes?since={tx(10)}&wait=20")

    th = threading.Thread(target=longpoll)
    th.start()
    time.sleep(0.5)
    wn = T.history(tmp, "n", 6, "new")  # a new history: TXIDs 1..7
    pn = wn.rep
    staged = os.path.join(root, ".f.db.new")
    shutil.copytree(pn, staged)
    os.rename(rf, os.path.join(tmp, "f.old"))
    os.rename(staged, rf)
    new_latest = H.sha256_bytes(T.restore(pn, tmp))
    ok = srv.wait_for(lambda: H.sha256_bytes(file_bytes("f.db")[1]) == new_latest, 5)
    ck.ok(ok, "f.db: the new history's latest served within seconds")
    th.join(25)
    st, j = polled.get("r", (0, None))
    ck.ok(st == 200 and (j or {}).get("reset") is True, f"f.db: long-poll at the old TXID answers reset: {st} {j}")
    st, b = file_bytes("f.db", 5)
    ck.eq((st, H.sha256_bytes(b)), (200, H.sha256_bytes(T.restore(pn, tmp, 5))),
          "f.db: TXID 5 is the new history's (no point-in-time index of the old one)")
    ck.ok(b != b_old5, "f.db: not the old history's TXID 5")
    st, _ = file_bytes("f.db", 10)
    ck.ok(st != 200, f"f.db: TXID 10 of the old history not served ({st})")

    # ---- g.db: removed -------------------------------------------------------
    shutil.rmtree(rg)

    def gone():
        st1, _, _ = curl(f"{srv.base}/g.db")
        names = [d if isinstance(d, str) else d.get("name") for d in (jget(srv.base + "/")[1] or {}).get(
            "databases", [])]
        st2, j2 = jget(srv.base + "/admin/dbs")
        names2 = [d if isinstance(d, str) else d.get("name") for d in
                  (j2 if isinstance(j2, list) else (j2 or {}).get("databases", []))]
        return st1 == 404 and "g.db" not in names and "g.db" not in names2 and "a.db" in names

    ck.ok(srv.wait_for(gone, 6), "g.db: removed -> 404 and gone from the database lists")
    for p in ("/g.db/file", "/g.db/pages/1"):
        st, _, _ = curl(srv.base + p)
        ck.eq(st, 404, f"g.db: {p} -> 404")
    shutil.copytree(pg, rg)
    ok = srv.wait_for(lambda: curl(f"{srv.base}/g.db/file")[0] == 200, 6)
    st, b = file_bytes("g.db")
    ck.ok(ok and H.sha256_bytes(b) == H.sha256_bytes(T.restore(pg, tmp)), "g.db: back when its folder is")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None

    # ---- h.db: latest is never 410 (case 6) ---------------------------------
    # The server indexed TXID 6 from L0 files (cache cold); then retention
    # removes every L0 file under a new L1 1-7 before the poller notices (it
    # never polls here). A latest /file resolves to 6, its page read finds
    # the files gone, the re-plan reaches 7 from L1 and 6 is not restorable
    # any more: the latest request is resolved anew, never answered 410.
    wh = T.history(tmp, "h", 5)
    ph = wh.rep
    rh = serve_alone(ph, "h.db", "root2", 6, ["--poll-interval", "1h", "--l1-interval", "1h", "--cache-size", "64K"],
                     env={"LTXPAGED_WARM": "0"})
    T.retain_under_l1(wh, rh)
    st, h, b = curl(f"{srv.base}/h.db/file")
    ck.eq((st, h.get("ltx-txid"), H.sha256_bytes(b)), (200, tx(7), H.sha256_bytes(T.restore(ph, tmp, 7))),
          "h.db: latest /file after retention is TXID 7's bytes, not 410")
    ck.eq(srv.stop(), 0, "clean exit (h.db)")
    srv = None

    # ---- i.db: an empty L0 listing while L1 holds newer TXIDs ---------------
    # (L0 retained away under a new L1): not "ok" at the old TXID until the
    # next levels check (an hour here), but bridged from L1 at once.
    wi = T.history(tmp, "i", 5)
    pi = wi.rep
    ri = serve_alone(pi, "i.db", "root3", 6, ["--poll-interval", "200ms", "--l1-interval", "1h"])
    T.retain_under_l1(wi, ri, 3)
    ok = wait_state("i.db", "ok", 9, 3)
    s = status("i.db")
    ck.ok(ok, f"i.db: L0 empty, L1 newer -> bridged to 9 at once: {s.get('state')} {s.get('txid')}")
    st, b = file_bytes("i.db")
    ck.eq((st, H.sha256_bytes(b)), (200, H.sha256_bytes(T.restore(pi, tmp, 9))), "i.db: TXID 9's bytes")
    ck.eq(srv.stop(), 0, "clean exit (i.db)")
    srv = None

    # ---- j.db: time lookups at or before the epoch (case 11) and a page
    # error that names its page once ------------------------------------------
    # time=0 was the restore plan's "no time bound" and answered the latest;
    # any time at or before the epoch or before the first file is 410, a
    # future time the latest. Then a frame of a verified L0 file rots in place
    # (same inode, mtime and size, so the read is not refused as a replaced
    # object): its 502 names the page once, not "page N: page N: page N: …".
    pj = os.path.join(tmp, "pj")
    wj = T.Writer(os.path.join(tmp, "j.sqlite"), pj, "j")
    wj.c.execute("insert into t(v) values (?)", ("z" * 200000,))  # ~50 overflow pages in L0 2
    wj.c.commit()
    wj._rep()
    wj.commit()  # TXID 3 leaves the overflow pages in L0 2
    rj = serve_alone(pj, "j.db", "root4", 3, ["--poll-interval", "1h", "--l1-interval", "1h", "--cache-size", "64K"],
                     env={"LTXPAGED_WARM": "0"})
    for when in ("1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00.001Z",
                 "2000-01-01T00:00:00Z"):
        st, j = jget(f"{srv.base}/j.db?time={when}")
        ck.eq((st, (j or {}).get("code")), (410, "txid_gone"), f"j.db: time={when} -> 410 txid_gone")
    st, j = jget(f"{srv.base}/j.db?time=2999-01-01T00:00:00Z")
    ck.eq((st, (j or {}).get("txid")), (200, tx(3)), "j.db: a time in the future -> the latest TXID")
    l0 = T.path_of(rj, 0, T.l0_name(2))
    frames = T.frames(l0)
    ck.ok(len(frames) > 20, f"j.db: L0 2 holds the overflow pages ({len(frames)} frames)")
    pgno, off = frames[-1]
    sb = os.stat(l0)
    with open(l0, "r+b") as f:  # in place: same inode and size
        f.seek(off + 4)
        f.write(b"\x01\x02")  # page flags 0x0102: the frame no longer decodes
    os.utime(l0, ns=(sb.st_atime_ns, sb.st_mtime_ns))
    want = f"page {pgno}: unknown page flags 0x0102"
    for q in (f"/pages/{pgno}", f"/pages?n={pgno - 1}-{pgno}"):
        st, j = jget(f"{srv.base}/j.db{q}")
        ck.eq((st, (j or {}).get("code"), (j or {}).get("error")), (502, "upstream_error", want),
              f"j.db: {q} -> 502 naming the page once")
    ck.eq(srv.stop(), 0, "clean exit (j.db)")
    srv = None
finally:
    H.cleanup(tmp, srv)
ck.done()
