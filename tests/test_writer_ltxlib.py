"""Small, independent LTX helpers for the writer tests (stdlib only): header,
trailer and page-index parsing (no LZ4 needed), CRC-64/ISO as Go computes
it, and the LTX database checksum of a SQLite file (LTX-FORMAT.md §1.7-1.8).
"""
import os
import re
import struct

_POLY = 0xD800000000000000
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)

NAME_RE = re.compile(r"^[0-9a-f]{16}-[0-9a-f]{16}\.ltx$")


def crc64(data, crc=0):
    crc ^= 0xFFFFFFFFFFFFFFFF
    t = _TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


def page_checksum(pgno, page):
    return crc64(page, crc64(struct.pack(">I", pgno))) | (1 << 63)


def lock_pgno(page_size):
    return 0x40000000 // page_size + 1


def db_checksum(image, page_size):
    ck = 0
    lock = lock_pgno(page_size)
    for p in range(1, len(image) // page_size + 1):
        if p != lock:
            ck ^= page_checksum(p, image[(p - 1) * page_size:p * page_size])
    return ck | (1 << 63)


def header(buf):
    (magic, flags, ps, commit, mn, mx, ts, pre, walo, wals, s1, s2, node) = struct.unpack(
        ">4sIIIQQqQqqIIQ", buf[:80])
    return {"magic": magic, "flags": flags, "page_size": 65536 if ps == 1 else ps, "commit": commit,
            "min_txid": mn, "max_txid": mx, "timestamp_ms": ts, "pre_apply": pre, "wal_offset": walo,
            "wal_size": wals, "wal_salt1": s1, "wal_salt2": s2, "node_id": node}


def trailer(buf):
    post, fck = struct.unpack(">QQ", buf[-16:])
    return {"post_apply": post, "file_checksum": fck}


def _uvarint(buf, i):
    x = 0
    s = 0
    while True:
        b = buf[i]
        i += 1
        x |= (b & 0x7F) << s
        if b < 0x80:
            return x, i
        s += 7


def page_index(buf):
    """[(pgno, offset, size)] from the tail, as a remote reader finds it."""
    n = len(buf)
    idx_len = struct.unpack(">Q", buf[n - 24:n - 16])[0]
    i = n - 24 - idx_len
    out = []
    while True:
        pgno, i = _uvarint(buf, i)
        if pgno == 0:
            return out
        off, i = _uvarint(buf, i)
        size, i = _uvarint(buf, i)
        out.append((pgno, off, size))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def level_files(replica, level):
    """Sorted [(min, max, path)] of a file replica's level."""
    d = os.path.join(replica, "ltx", str(level))
    if not os.path.isdir(d):
        return []
    out = []
    for fn in os.listdir(d):
        if NAME_RE.match(fn):
            out.append((int(fn[:16], 16), int(fn[17:33], 16), os.path.join(d, fn)))
    return sorted(out)
