#!/usr/bin/env python3
"""ltxctl replicate / snapshot / compact end to end on file replicas.

A separate Python writer process writes batches into a WAL-mode and a
rollback-journal database. After each batch `ltxctl replicate --once`
(a fresh process each time, so every run also resumes from the replica)
writes the next L0 file. At quiet moments the test takes a byte copy of the
database (WAL checkpointed first) and checks that restoring the replica gives
the same SHA-256. It also checks: file names and TXIDs are contiguous; the
first file is a full snapshot and later ones hold only changed pages; with
checksums tracked, pre-apply == previous post-apply and post-apply == the
database checksum computed here independently; --no-checksum gives flags 2
and zero checksums; compaction (--level, --ladder --once, --snapshot), L0
retention and --retention keep the restore byte-identical; the long-running mode picks up
changes by itself, skips idle ticks and stops cleanly on SIGTERM; a restart
writes only changed pages; bad arguments fail with a message.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_writer_ltxlib as ltx  # noqa: E402

WRITER = r"""
import sqlite3, sys
db, mode = sys.argv[1], sys.argv[2]
con = sqlite3.connect(db, isolation_level=None, timeout=10)
con.execute("PRAGMA journal_mode=%s" % mode)
con.execute("CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, grp INT, body TEXT)")
con.execute("CREATE INDEX IF NOT EXISTS items_grp ON items(grp)")
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "batch":
        i = int(cmd[1])
        if i == 5:  # a small change: one row
            con.execute("UPDATE items SET body = 'small change' WHERE id = 9")
            print("ok", flush=True)
            continue
        con.execute("BEGIN")
        con.executemany("INSERT INTO items(grp, body) VALUES(?, ?)",
                        [(i * 7 + k % 5, "row %d/%d " % (i, k) + "x" * (50 + (k * 37) % 400)) for k in range(60)])
        con.execute("UPDATE items SET body = upper(body) WHERE id % 11 = ?", (i % 11,))
        if i % 3 == 2:
            con.execute("DELETE FROM items WHERE id % 5 = ?", (i % 5,))
        con.execute("COMMIT")
        if i % 4 == 3:  # two transactions between ticks
            con.execute("UPDATE items SET grp = grp + 1 WHERE id < 20")
    elif cmd[0] == "touch":
        con.execute("UPDATE items SET body = 'touched' WHERE id = (SELECT max(id) FROM items)")
    elif cmd[0] == "shrink":
        con.execute("DELETE FROM items WHERE id % 3 != 0")
        con.execute("VACUUM")
    elif cmd[0] == "checkpoint":
        if mode == "wal":
            r = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert r[0] == 0, r
    elif cmd[0] == "quit":
        break
    print("ok", flush=True)
"""


class Writer:
    def __init__(self, db, mode):
        self.p = subprocess.Popen([sys.executable, "-c", WRITER, db, mode], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert self.p.stdout.readline().strip() == "ready"

    def cmd(self, c):
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()
        r = self.p.stdout.readline().strip()
        if r != "ok":
            raise RuntimeError(f"writer: {c}: {r!r}")

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.flush()
                self.p.wait(timeout=10)
            except Exception:
                self.p.kill()
                self.p.wait()


LTXCTL = harness.binary("ltxctl")


def ltxctl(*args, timeout=60):
    return subprocess.run([LTXCTL, *args], capture_output=True, text=True, timeout=timeout)


def has_restore():
    r = ltxctl("restore")
    return "not implemented" not in r.stderr


def has_verify():
    r = ltxctl("verify")
    return "not implemented" not in r.stderr


def restore(replica, out):
    """Restore the latest state with `ltxctl restore` (the one restore
    engine, tools/restore.c; the writer's old driver tests/writer_restore is
    gone)."""
    r = ltxctl("restore", replica, out)
    if r.returncode != 0:
        raise RuntimeError(f"restore failed: {r.stdout} {r.stderr}")
    return harness.sha256_file(out)


def byte_copy(db, writer, dst):
    writer.cmd("checkpoint")
    shutil.copyfile(db, dst)
    return harness.sha256_file(dst)


def run_mode(c, tmp, mode, track):
    db = os.path.join(tmp, f"{mode}.db")
    rep = os.path.join(tmp, f"rep-{mode}")
    flags = [] if track else ["--no-checksum"]
    w = Writer(db, mode)
    try:
        c.ok(os.path.exists(db + "-wal") == (mode == "wal"), f"{mode}: journal mode as asked")
        copies = []
        for i in range(8):
            w.cmd(f"batch {i}")
            r = ltxctl("replicate", db, rep, "--once", *flags)
            c.eq(r.returncode, 0, f"{mode}: replicate --once after batch {i} ({r.stderr.strip()})")
            c.ok(f"wrote L0 {i + 1:016x}-{i + 1:016x}.ltx" in r.stdout, f"{mode}: batch {i} wrote TXID {i + 1}")
            if i == 3:
                r = ltxctl("replicate", db, rep, "--once", *flags)
                c.ok(r.returncode == 0 and "wrote" not in r.stdout, f"{mode}: no file when nothing changed")
            if i % 2 == 1 or mode != "wal":
                want = byte_copy(db, w, os.path.join(tmp, f"{mode}-copy-{i}.db"))
                got = restore(rep, os.path.join(tmp, f"{mode}-restore-{i}.db"))
                c.eq(got, want, f"{mode}: restore after batch {i} is byte-identical")
                copies.append(want)
        # the chain: contiguous, first a snapshot, later ones partial
        files = ltx.level_files(rep, 0)
        c.eq([(f[0], f[1]) for f in files], [(t, t) for t in range(1, 9)], f"{mode}: L0 TXIDs 1..8")
        prev_post = None
        for k, (mn, mx, path) in enumerate(files):
            b = ltx.read(path)
            h, t, idx = ltx.header(b), ltx.trailer(b), ltx.page_index(b)
            c.eq(h["magic"], b"LTX1", f"{mode}: magic of {mn}")
            c.eq(h["flags"], 0 if track else 2, f"{mode}: flags of TXID {mn}")
            c.eq(h["wal_offset"], 0, f"{mode}: WAL fields zero")
            c.ok(abs(h["timestamp_ms"] - time.time() * 1000) < 120000, f"{mode}: timestamp is now (ms)")
            c.eq(int(os.stat(path).st_mtime_ns // 1000000), h["timestamp_ms"], f"{mode}: mtime = header timestamp")
            if mn == 1:
                c.eq([e[0] for e in idx], list(range(1, h["commit"] + 1)), f"{mode}: TXID 1 holds every page")
            elif mn == 6:
                c.ok(0 < len(idx) <= 2, f"{mode}: TXID 6 (one row updated) holds only the changed pages "
                     f"({len(idx)} of {h['commit']})")
            else:
                c.ok(0 < len(idx) <= h["commit"], f"{mode}: TXID {mn} pages within commit")
            if track:
                c.ok(t["post_apply"] >> 63 == 1, f"{mode}: post-apply set for TXID {mn}")
                c.eq(h["pre_apply"], 0 if mn == 1 else prev_post, f"{mode}: pre-apply of TXID {mn}")
                prev_post = t["post_apply"]
            else:
                c.eq((h["pre_apply"], t["post_apply"]), (0, 0), f"{mode}: no checksums with --no-checksum")
        if track:
            img = ltx.read(os.path.join(tmp, f"{mode}-copy-7.db"))
            c.eq(prev_post, ltx.db_checksum(img, ltx.header(ltx.read(files[0][2]))["page_size"]),
                 f"{mode}: last post-apply = database checksum computed independently")
        if has_verify():
            r = ltxctl("verify", rep)
            c.eq(r.returncode, 0, f"{mode}: ltxctl verify accepts the replica ({r.stdout[-300:]} {r.stderr[-300:]})")

        # snapshot command: a full file at the next TXID, restore unchanged
        r = ltxctl("snapshot", db, rep, *flags)
        c.ok(r.returncode == 0 and f"{9:016x}-{9:016x}" in r.stdout, f"{mode}: snapshot wrote TXID 9 ({r.stderr})")
        b = ltx.read(ltx.level_files(rep, 0)[-1][2])
        c.eq(len(ltx.page_index(b)), ltx.header(b)["commit"], f"{mode}: snapshot at TXID 9 holds every page")
        c.eq(restore(rep, os.path.join(tmp, f"{mode}-r9.db")), copies[-1], f"{mode}: restore after snapshot")

        # compaction into L1, restore unchanged
        r = ltxctl("compact", rep, "--level", "1")
        c.eq(r.returncode, 0, f"{mode}: compact --level 1 ({r.stderr})")
        l1 = ltx.level_files(rep, 1)
        c.eq([(f[0], f[1]) for f in l1], [(1, 9)], f"{mode}: L1 holds 1-9")
        h1 = ltx.header(ltx.read(l1[0][2]))
        h9 = ltx.header(ltx.read(ltx.level_files(rep, 0)[-1][2]))
        c.eq((h1["commit"], h1["timestamp_ms"], h1["min_txid"], h1["max_txid"]),
             (h9["commit"], h9["timestamp_ms"], 1, 9), f"{mode}: L1 header from its inputs")
        r = ltxctl("compact", rep, "--level", "1")
        c.ok(r.returncode == 0 and "nothing new" in r.stdout, f"{mode}: second compaction has nothing to do")
        shutil.rmtree(os.path.join(rep, "ltx", "0"))  # only L1 left: restore must still match
        c.eq(restore(rep, os.path.join(tmp, f"{mode}-r-l1.db")), copies[-1], f"{mode}: restore from L1 alone")

        # more batches, including a shrink; replicate resumes from L1 only
        w.cmd("touch")
        r = ltxctl("replicate", db, rep, "--once", *flags)
        c.ok(r.returncode == 0 and f"{10:016x}-{10:016x}" in r.stdout, f"{mode}: resume after L0 removed ({r.stderr})")
        b = ltx.read(ltx.level_files(rep, 0)[-1][2])
        c.ok(0 < len(ltx.page_index(b)) <= 2, f"{mode}: resumed file holds only changed pages "
             f"({len(ltx.page_index(b))} of {ltx.header(b)['commit']})")
        w.cmd("shrink")
        r = ltxctl("replicate", db, rep, "--once", *flags)
        c.eq(r.returncode, 0, f"{mode}: replicate after VACUUM ({r.stderr})")
        b = ltx.read(ltx.level_files(rep, 0)[-1][2])
        c.ok(ltx.header(b)["commit"] < h9["commit"], f"{mode}: shrink lowers commit")
        want = byte_copy(db, w, os.path.join(tmp, f"{mode}-copy-shrink.db"))
        c.eq(restore(rep, os.path.join(tmp, f"{mode}-r-shrink.db")), want, f"{mode}: restore after shrink")

        # ladder pass with L0 retention, then an L9 snapshot
        r = ltxctl("compact", rep, "--ladder", "--once", "--l0-retention", "1ms")
        c.eq(r.returncode, 0, f"{mode}: ladder --once ({r.stderr})")
        c.eq([(f[0], f[1]) for f in ltx.level_files(rep, 1)], [(1, 9), (10, 11)], f"{mode}: L1 after ladder")
        c.eq([(f[0], f[1]) for f in ltx.level_files(rep, 2)], [(1, 11)], f"{mode}: L2 after ladder")
        c.eq([(f[0], f[1]) for f in ltx.level_files(rep, 3)], [(1, 11)], f"{mode}: L3 after ladder")
        c.eq([(f[0], f[1]) for f in ltx.level_files(rep, 0)], [(11, 11)], f"{mode}: retention keeps the newest L0")
        r = ltxctl("compact", rep, "--snapshot")
        c.eq(r.returncode, 0, f"{mode}: compact --snapshot ({r.stderr})")
        c.eq([(f[0], f[1]) for f in ltx.level_files(rep, 9)], [(1, 11)], f"{mode}: L9 snapshot 1-11")
        for lvl in (1, 2, 3, 9):
            for mn, mx, path in ltx.level_files(rep, lvl):
                hb = ltx.read(path)
                c.eq(ltx.header(hb)["flags"], 0 if track else 2, f"{mode}: flags of L{lvl} {mn}-{mx}")
        # restore from the L9 snapshot alone
        only9 = os.path.join(tmp, f"{mode}-only9")
        shutil.copytree(os.path.join(rep, "ltx", "9"), os.path.join(only9, "ltx", "9"))
        c.eq(restore(only9, os.path.join(tmp, f"{mode}-r-l9.db")), want, f"{mode}: restore from L9 alone")
        c.eq(restore(rep, os.path.join(tmp, f"{mode}-r-all.db")), want, f"{mode}: restore after ladder")
        if has_verify():
            r = ltxctl("verify", rep)
            c.eq(r.returncode, 0, f"{mode}: verify after compaction ({r.stderr[-300:]})")
        # --retention: L1+ files at or below the only snapshot go, each level's newest stays
        r = ltxctl("compact", rep, "--snapshot", "--retention", "1ms")
        c.eq(r.returncode, 0, f"{mode}: compact --snapshot --retention ({r.stderr})")
        c.eq([(f[0], f[1]) for f in ltx.level_files(rep, 1)], [(10, 11)], f"{mode}: L1 after --retention")
        c.eq([(f[0], f[1]) for f in ltx.level_files(rep, 9)], [(1, 11)], f"{mode}: the newest snapshot stays")
        c.eq(restore(rep, os.path.join(tmp, f"{mode}-r-ret.db")), want, f"{mode}: restore after --retention")

        # long-running mode: picks up changes itself, idle ticks write nothing
        with harness.Proc([LTXCTL, "replicate", db, rep, "--interval", "200ms", *flags]) as p:
            deadline = time.time() + 10
            for i in range(30, 33):
                before = len(ltx.level_files(rep, 0))
                w.cmd(f"batch {i}")
                while len(ltx.level_files(rep, 0)) == before and time.time() < deadline:
                    time.sleep(0.05)
                c.ok(len(ltx.level_files(rep, 0)) == before + 1, f"{mode}: live replicate wrote batch {i}")
            n = len(ltx.level_files(rep, 0))
            time.sleep(1.0)
            c.eq(len(ltx.level_files(rep, 0)), n, f"{mode}: idle ticks write nothing")
            rc = p.stop()
            out = ltx.read(p.log_path).decode("utf-8", "replace")
            c.eq(rc, 0, f"{mode}: SIGTERM stops replicate cleanly ({out[-300:]})")
            c.ok("stopped after writing 3 file(s)" in out, f"{mode}: stop message ({out[-200:]})")
        want = byte_copy(db, w, os.path.join(tmp, f"{mode}-copy-live.db"))
        c.eq(restore(rep, os.path.join(tmp, f"{mode}-r-live.db")), want, f"{mode}: restore after live run")
    finally:
        w.close()


def errors(c, tmp):
    r = ltxctl("replicate")
    c.eq(r.returncode, 2, "replicate without args: usage, exit 2")
    r = ltxctl("replicate", os.path.join(tmp, "missing.db"), os.path.join(tmp, "r"), "--once")
    c.ok(r.returncode == 1 and "cannot open database" in r.stderr, f"missing database: {r.stderr.strip()}")
    c.ok(not os.path.exists(os.path.join(tmp, "missing.db")), "a missing database is not created")
    r = ltxctl("replicate", "a.db", "r", "--interval", "soon")
    c.ok(r.returncode == 2 and "--interval" in r.stderr, "bad --interval rejected")
    r = ltxctl("compact", os.path.join(tmp, "r"))
    c.eq(r.returncode, 2, "compact needs a mode")
    r = ltxctl("compact", os.path.join(tmp, "r"), "--level", "9")
    c.eq(r.returncode, 2, "compact --level 9 rejected (use --snapshot)")
    notdb = os.path.join(tmp, "notdb.db")
    with open(notdb, "wb") as f:
        f.write(b"hello, this is not a database" * 200)
    r = ltxctl("replicate", notdb, os.path.join(tmp, "r2"), "--once")
    c.ok(r.returncode == 1 and r.stderr.strip() != "", f"not a database: {r.stderr.strip()[:120]}")
    c.eq(ltx.level_files(os.path.join(tmp, "r2"), 0), [], "nothing written for a non-database")
    # a corrupt replica file: compaction refuses it, nothing written
    bad = os.path.join(tmp, "bad")
    empty = os.path.join(tmp, "empty.db")
    subprocess.run(["sqlite3", empty, "create table t(x); insert into t values(1);"], check=True)
    c.eq(ltxctl("replicate", empty, bad, "--once").returncode, 0, "replicate a tiny database")
    subprocess.run(["sqlite3", empty, "insert into t values(2);"], check=True)
    c.eq(ltxctl("replicate", empty, bad, "--once").returncode, 0, "second tick")
    p2 = ltx.level_files(bad, 0)[-1][2]
    b = bytearray(ltx.read(p2))
    b[len(b) - 12] ^= 0xFF  # inside the post-apply checksum, covered by the file checksum
    with open(p2, "wb") as f:
        f.write(b)
    r = ltxctl("compact", bad, "--level", "1")
    c.ok(r.returncode == 1 and "checksum" in r.stderr.lower(), f"corrupt input refused: {r.stderr.strip()[:160]}")
    c.eq(ltx.level_files(bad, 1), [], "no L1 file from a corrupt input")

    # a second writer moves the replica on under a live one: the live one
    # notices, rebuilds its state from the replica and carries on; the
    # replica stays restorable and ends equal to the live writer's database
    a, b = os.path.join(tmp, "wa.db"), os.path.join(tmp, "wb.db")
    rep = os.path.join(tmp, "rep-two")
    subprocess.run(["sqlite3", a, "create table t(x); insert into t values('a');"], check=True)
    subprocess.run(["sqlite3", b, "create table t(x); insert into t values('b'); insert into t values('b2');"], check=True)
    with harness.Proc([LTXCTL, "replicate", a, rep, "--interval", "300ms"]) as p:
        deadline = time.time() + 10
        while not ltx.level_files(rep, 0) and time.time() < deadline:
            time.sleep(0.05)
        r = ltxctl("replicate", b, rep, "--once")
        c.ok(r.returncode == 0 and f"{2:016x}" in r.stdout, f"second writer wrote TXID 2 ({r.stderr.strip()})")
        subprocess.run(["sqlite3", a, "insert into t values('a2');"], check=True)
        while len(ltx.level_files(rep, 0)) < 3 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.4)
        p.stop()
        out = ltx.read(p.log_path).decode("utf-8", "replace")
    c.ok("another writer" in out, f"live writer noticed the other writer ({out[-300:]})")
    c.eq([(f[0], f[1]) for f in ltx.level_files(rep, 0)], [(1, 1), (2, 2), (3, 3)], "no TXID written twice")
    c.eq(restore(rep, os.path.join(tmp, "two-r.db")), harness.sha256_file(a),
         "replica ends equal to the live writer's database")


def ladder_live(c, tmp):
    """The ladder as a daemon: short windows, a live writer and replicator."""
    db = os.path.join(tmp, "ladder.db")
    rep = os.path.join(tmp, "rep-ladder")
    w = Writer(db, "wal")
    try:
        w.cmd("batch 0")
        c.eq(ltxctl("replicate", db, rep, "--once").returncode, 0, "ladder: first file")
        with harness.Proc([LTXCTL, "replicate", db, rep, "--interval", "100ms"]) as rp, \
                harness.Proc([LTXCTL, "compact", rep, "--ladder", "--intervals", "1s,2s,3s",
                              "--l0-retention", "1ms"]) as cp:
            t_end = time.time() + 4.5
            i = 1
            while time.time() < t_end:
                w.cmd(f"batch {i}")
                i += 1
                time.sleep(0.3)
            time.sleep(0.3)
            c.eq(rp.stop(), 0, "ladder: replicate stopped")
            time.sleep(1.1)  # one more L1 window after the last L0 file
            c.eq(cp.stop(), 0, f"ladder: compactor stopped cleanly ({ltx.read(cp.log_path)[-300:]!r})")
        l1, l2, l3 = (ltx.level_files(rep, k) for k in (1, 2, 3))
        c.ok(len(l1) >= 3, f"ladder: several L1 files ({len(l1)})")
        c.ok(len(l2) >= 1 and len(l3) >= 1, f"ladder: L2 ({len(l2)}) and L3 ({len(l3)}) files")
        c.ok(all(l1[k + 1][0] == l1[k][1] + 1 for k in range(len(l1) - 1)), "ladder: L1 is a contiguous chain")
        l0 = ltx.level_files(rep, 0)
        c.ok(l1 and l0 and l0[0][0] > 1, f"ladder: retention removed old L0 files (first left {l0[0][0] if l0 else None})")
        r = ltxctl("compact", rep, "--ladder", "--once")
        c.eq(r.returncode, 0, "ladder: final pass")
        want = byte_copy(db, w, os.path.join(tmp, "ladder-copy.db"))
        c.eq(restore(rep, os.path.join(tmp, "ladder-r.db")), want, "ladder: restore equals the database")
        if has_verify():
            r = ltxctl("verify", rep)
            c.eq(r.returncode, 0, f"ladder: verify ({r.stderr[-300:]})")
    finally:
        w.close()


def main():
    c = harness.Checker("writer")
    tmp = tempfile.mkdtemp(prefix="ltxwriter-")
    try:
        c.ok(has_restore(), "ltxctl restore exists")
        run_mode(c, tmp, "wal", True)
        run_mode(c, tmp, "delete", False)
        errors(c, tmp)
        ladder_live(c, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    c.done()


if __name__ == "__main__":
    main()
