"""A small LTX writer for the write-route tests (test_server_write*.py).

Builds LTX v3b files (page flags 1, literals-only LZ4 blocks, NoChecksum,
CRC-64/GO-ISO file checksum) from SQLite database images, and a Writer that
runs real SQL on a local rollback-journal database and turns each
transaction into the LTX file of the pages it changed: what the VFS write
mode sends, without the VFS."""
import json
import os
import sqlite3
import struct
import time
import urllib.error
import urllib.request

from test_writer_ltxlib import crc64  # CRC-64/ISO as Go computes it

WRITE_TOKEN = "w-secret"


def _uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _lz4_literals(data):
    n = len(data)
    out = bytearray()
    if n < 15:
        out.append(n << 4)
    else:
        out.append(0xF0)
        r = n - 15
        while r >= 255:
            out.append(255)
            r -= 255
        out.append(r)
    return bytes(out) + data


def lock_pgno(page_size):
    return 0x40000000 // page_size + 1


def encode(pages, page_size, commit, min_txid, max_txid, ts_ms=None):
    """pages: {pgno: bytes}. Returns the LTX file (NoChecksum)."""
    if ts_ms is None:
        ts_ms = int(time.time() * 1000)
    hdr = b"LTX1" + struct.pack(">IIIQQqQqqIIQ", 2, page_size, commit, min_txid, max_txid, ts_ms, 0, 0, 0, 0, 0, 0)
    hdr += b"\0" * (100 - len(hdr))
    body = bytearray(hdr)
    crc_parts = [hdr]
    index = []
    for pgno in sorted(pages):
        page = pages[pgno]
        assert len(page) == page_size
        blk = _lz4_literals(page)
        ph = struct.pack(">IH", pgno, 1) + struct.pack(">I", len(blk))
        off = len(body)
        body += ph + blk
        index.append((pgno, off, len(ph) + len(blk)))
        crc_parts.append(ph + page)
    term = b"\0" * 6
    body += term
    crc_parts.append(term)
    idx = b"".join(_uvarint(p) + _uvarint(o) + _uvarint(s) for p, o, s in index) + _uvarint(0)
    idx += struct.pack(">Q", len(idx))
    body += idx
    crc_parts.append(idx)
    post = struct.pack(">Q", 0)
    crc_parts.append(post)
    crc = 0
    for part in crc_parts:
        crc = crc64(part, crc)
    body += post + struct.pack(">Q", crc | (1 << 63))
    return bytes(body)


def pages_of(image, page_size):
    return {i + 1: image[i * page_size:(i + 1) * page_size] for i in range(len(image) // page_size)}


class Writer:
    """Real SQL on a local rollback-journal database; ltx() after each
    transaction gives the file of what changed (TXID = txid + 1)."""

    def __init__(self, path, page_size=4096):
        self.path = path
        self.page_size = page_size
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute(f"PRAGMA page_size={page_size}")
        self.db.execute("PRAGMA journal_mode=DELETE")
        self.image = b""
        self.txid = 0

    def image_now(self):
        with open(self.path, "rb") as f:
            return f.read()

    def ltx(self):
        """The next file; advances txid and the image (call after a commit)."""
        new = self.image_now()
        ps = self.page_size
        commit = len(new) // ps
        lock = lock_pgno(ps)
        if self.txid == 0:
            changed = {p: b for p, b in pages_of(new, ps).items() if p != lock}
        else:
            old = self.image
            changed = {}
            for p, b in pages_of(new, ps).items():
                if p != lock and old[(p - 1) * ps:p * ps] != b:
                    changed[p] = b
        self.txid += 1
        self.image = new
        return encode(changed, ps, commit, self.txid, self.txid)

    def churn(self, i, size, mod):
        """Transaction i of steady test traffic on table t(id, v): five rows
        of size random bytes (as hex) and an update of every mod-th row."""
        self.db.execute("BEGIN")
        for _ in range(5):
            self.db.execute("INSERT INTO t(v) VALUES (?)", (os.urandom(size).hex(),))
        self.db.execute("UPDATE t SET v = 'u' || v WHERE id % ? = ?", (mod, i % mod))
        self.db.execute("COMMIT")

    def close(self):
        self.db.close()


def post(base_url, path, body, token=WRITE_TOKEN, length=True):
    hdrs = {"Content-Type": "application/octet-stream"}
    if token:
        hdrs["Authorization"] = "Bearer " + token
    req = urllib.request.Request(base_url + path, data=body, headers=hdrs, method="POST")
    if not length:
        req = urllib.request.Request(base_url + path, data=iter([body]), headers=hdrs, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        b = e.read()
        try:
            return e.code, json.loads(b or b"null")
        except ValueError:
            return e.code, None


def levels(moto, root_dir, DB, bucket="bkt", prefix="dbs"):
    """{level: [(min, max)]} of database DB's files: on moto (s3://bucket/prefix/DB) or
    under the file replica root root_dir."""
    out = {}
    if moto:
        keys = []
        tok = None
        while True:
            kw = {"Bucket": bucket, "Prefix": f"{prefix}/{DB}/"}
            if tok:
                kw["ContinuationToken"] = tok
            r = moto.client().list_objects_v2(**kw)
            keys += [o["Key"] for o in r.get("Contents", [])]
            tok = r.get("NextContinuationToken")
            if not tok:
                break
        for k in keys:
            parts = k.split("/")
            if len(parts) == 4 and parts[3].endswith(".ltx"):
                lv = int(parts[2], 16)
                a, b = parts[3][:-4].split("-")
                out.setdefault(lv, []).append((int(a, 16), int(b, 16)))
    else:
        base = os.path.join(root_dir, DB, "ltx")
        for lv in os.listdir(base) if os.path.isdir(base) else []:
            for fn in os.listdir(os.path.join(base, lv)):
                if fn.endswith(".ltx"):
                    a, b = fn[:-4].split("-")
                    out.setdefault(int(lv), []).append((int(a, 16), int(b, 16)))
    return {k: sorted(v) for k, v in out.items()}


def churn_for(w, base_url, db, seconds, size, mod, ck, pause=0.0, after=None):
    """Post Writer.churn transactions (size, mod) to db on base_url for
    seconds, pause between them; after(w) once each file is accepted.
    False after a refused one (a failed ck check)."""
    t_end = time.time() + seconds
    i = 0
    while time.time() < t_end:
        w.churn(i, size, mod)
        st, j = post(base_url, f"/{db}/ltx?base={w.txid:x}", w.ltx())
        if not ck.eq(st, 200, f"write TXID {w.txid}: {j}"):
            return False
        if after:
            after(w)
        i += 1
        time.sleep(pause)
    return True
