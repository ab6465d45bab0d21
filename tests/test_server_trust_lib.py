"""Helpers of the trust tests (issue 10, database layer): replicas written
by ltxctl, damage that only a checksum catches, restores to compare with."""
import os
import shutil
import sqlite3
import subprocess
import time

from test_server_common import H

LTXCTL = H.binary("ltxctl")


def ltxctl(*args):
    r = subprocess.run([LTXCTL] + [str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"ltxctl {' '.join(map(str, args))}: {r.stdout}{r.stderr}")
    return r.stdout


class Writer:
    """A SQLite database in WAL mode replicated with `ltxctl replicate
    --once` after every commit: one L0 file per commit, TXID = commit no."""

    def __init__(self, path, rep, seed="a"):
        self.path, self.rep, self.seed, self.n = path, rep, seed, 0
        self.c = sqlite3.connect(path)
        self.c.execute("pragma journal_mode=wal")
        self.c.execute("create table t(k integer primary key, v text)")
        self.c.commit()
        self._rep()

    def _rep(self):
        ltxctl("replicate", self.path, self.rep, "--once")
        self.n += 1

    def commit(self, k=1):
        for _ in range(k):
            i = self.n
            self.c.execute("insert or replace into t values (?, ?)", (i % 7, f"{self.seed} version {i} " + "x" * 300))
            self.c.execute("insert into t(v) values (?)", (f"{self.seed} row {i} " + "y" * (200 + i),))
            self.c.commit()
            self._rep()
        return self.n

    def close(self):
        self.c.close()


def history(tmp, name, commits=0, seed=None):
    """A Writer of tmp/<name>.sqlite replicated to tmp/p<name> (its .rep),
    seeded with seed (name when None), after `commits` more commits."""
    w = Writer(os.path.join(tmp, name + ".sqlite"), os.path.join(tmp, "p" + name), seed or name)
    w.commit(commits)
    return w


def l0_name(t):
    return f"{t:016x}-{t:016x}.ltx"


def files(rep, level):
    d = os.path.join(rep, "ltx", str(level))
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def restore(rep, tmp, txid=None):
    """Bytes of `ltxctl restore` of rep at txid (latest when None)."""
    out = os.path.join(tmp, f"restore-{time.monotonic_ns()}.db")
    args = ["restore", rep, out, "--force"] + (["--txid", f"{txid:x}"] if txid else [])
    ltxctl(*args)
    with open(out, "rb") as f:
        b = f.read()
    os.remove(out)
    return b


def flip_literal(path):
    """Flip one bit inside an LZ4 literal of the first page frame: the
    frame still decodes (to other bytes), only the file checksum tells."""
    with open(path, "rb") as f:
        data = f.read()
    write_new(path, flipped_literal(data, path))


def damaged_l0(tmp, dst):
    """a.db: TXIDs 1..10 as L0 files, copied to dst with L0 7 damaged.
    Returns the Writer of the undamaged source replica (its .rep)."""
    wa = history(tmp, "a", 9)  # TXIDs 1..10
    shutil.copytree(wa.rep, dst)
    flip_literal(path_of(dst, 0, l0_name(7)))
    return wa


def damaged_l2(tmp, dst):
    """b.db: L1 1-10 and 11-20 under one L2 file, no L0, copied to dst
    with the (first) L2 file damaged. Returns (source replica, dst's L2
    names)."""
    wb = history(tmp, "b", 9)
    pb = wb.rep
    ltxctl("compact", pb, "--level", 1)
    wb.commit(10)
    ltxctl("compact", pb, "--level", 1)
    ltxctl("compact", pb, "--level", 2)
    os.makedirs(os.path.join(dst, "ltx"))
    copy_level(pb, dst, 1)
    copy_level(pb, dst, 2)
    l2 = files(dst, 2)
    flip_literal(path_of(dst, 2, l2[0]))
    return pb, l2


def leveled(tmp, name):
    """TXIDs 1..12: L0 files, L1 1-10 and an L9 snapshot of 1-10 (L0 1..12
    kept). Returns the replica."""
    w = history(tmp, name, 9)
    rep = w.rep
    ltxctl("compact", rep, "--level", 1)
    ltxctl("compact", rep, "--snapshot")
    w.commit(2)
    return rep


def damaged_level_copy(src_rep, dst_rep, keep, drop):
    """Copy src_rep to dst_rep without level `drop` and with the first
    file of level `keep` damaged. Returns dst_rep's names at `keep`."""
    shutil.copytree(src_rep, dst_rep)
    shutil.rmtree(os.path.join(dst_rep, "ltx", str(drop)))
    names = files(dst_rep, keep)
    flip_literal(path_of(dst_rep, keep, names[0]))
    return names


def retain_under_l1(w, dst_rep, commits=1):
    """Retention in dst_rep: `commits` more commits by w, w's replica
    compacted to L1, that L1 copied to dst_rep and its L0 files removed."""
    w.commit(commits)
    ltxctl("compact", w.rep, "--level", 1)
    copy_level(w.rep, dst_rep, 1)
    shutil.rmtree(os.path.join(dst_rep, "ltx", "0"))


def place_damaged(src_rep, dst_rep, level, name):
    """Put a damaged copy of src_rep's file into dst_rep in one rename: the
    server never lists the good bytes under that name first (copying and
    then flipping in place would let a poll apply the good file and then
    see it replaced, another scenario)."""
    with open(path_of(src_rep, level, name), "rb") as f:
        data = f.read()
    os.makedirs(os.path.join(dst_rep, "ltx", str(level)), exist_ok=True)
    write_new(path_of(dst_rep, level, name), flipped_literal(data, name))


def flipped_literal(data, what):
    """data with the bit flip_literal flips flipped."""
    b = bytearray(data)
    off = 100
    flags = int.from_bytes(b[off + 4:off + 6], "big")
    if flags & 1:
        tok = off + 6 + 4  # page header, u32 block size, then the LZ4 block
    else:
        raise RuntimeError("expected the LZ4 block layout (page flags 1)")
    lit = b[tok] >> 4
    p = tok + 1
    if lit == 15:
        while b[p] == 255:
            lit += 255
            p += 1
        lit += b[p]
        p += 1
    if lit < 2:
        raise RuntimeError(f"first sequence of {what} has no literal to flip")
    b[p + lit // 2] ^= 0x01
    return bytes(b)


def frames(path):
    """[(pgno, offset)] of the page frames of an LTX file (LZ4 block layout)."""
    with open(path, "rb") as f:
        b = f.read()
    out, off = [], 100
    while off + 6 <= len(b):
        pgno = int.from_bytes(b[off:off + 4], "big")
        flags = int.from_bytes(b[off + 4:off + 6], "big")
        if pgno == 0 or not flags & 1:
            break
        out.append((pgno, off))
        off += 6 + 4 + int.from_bytes(b[off + 6:off + 10], "big")
    return out


def write_new(path, data):
    """Replace a file (new mtime, like an object written again)."""
    time.sleep(0.02)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def copy_level(src_rep, dst_rep, level, names=None):
    s = os.path.join(src_rep, "ltx", str(level))
    d = os.path.join(dst_rep, "ltx", str(level))
    os.makedirs(d, exist_ok=True)
    for fn in names if names is not None else sorted(os.listdir(s)):
        shutil.copy2(os.path.join(s, fn), os.path.join(d, fn + ".tmp"))  # keeps the writer's mtime
        os.replace(os.path.join(d, fn + ".tmp"), os.path.join(d, fn))


def path_of(rep, level, name):
    return os.path.join(rep, "ltx", str(level), name)
