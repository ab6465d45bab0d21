#!/usr/bin/env python3
"""`ltxctl replicate --once` on the vectors' source databases (states/a01.db
... as the chains were written) must produce what the reference library
produced: for every TXID the same commit, the same page list, and, with
checksums tracked, pre/post-apply checksums equal to the manifest's
db_checksum of the previous/current state (main-4096-checksummed, ps512,
ps65536, random-4096); with --no-checksum flags 2 and zero checksums
(main-4096). Every file restores (ltxctl restore --txid) to the state's
SHA-256, and a compaction of the whole chain restores to the last state.
Expected values come from manifest.json.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_writer_ltxlib as ltx  # noqa: E402

LTXCTL = harness.binary("ltxctl")


def run(*args):
    return subprocess.run([LTXCTL, *args], capture_output=True, text=True, timeout=60)


def chain_case(c, tmp, chain, track):
    name = chain["name"]
    work = os.path.join(tmp, name + ".db")
    rep = os.path.join(tmp, name + "-rep")
    flags = [] if track else ["--no-checksum"]
    ref_l0 = [f for f in chain["files"] if f["level"] == 0]
    states = chain["states"]
    c.eq(len(ref_l0), len(states), f"{name}: one L0 file per state in the manifest")
    for st in states:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(work + suffix):
                os.remove(work + suffix)
        shutil.copyfile(harness.vec(os.path.join("states", st["source"])), work)
        r = run("replicate", work, rep, "--once", *flags)
        txid = int(st["txid"], 16)
        c.ok(r.returncode == 0 and f"{txid:016x}-{txid:016x}" in r.stdout,
             f"{name}: state {st['source']} written as TXID {txid} ({r.stderr.strip()})")
    ours = ltx.level_files(rep, 0)
    c.eq([(a, b) for a, b, _ in ours], [(int(f["min_txid"], 16), int(f["max_txid"], 16)) for f in ref_l0],
         f"{name}: same TXIDs as the reference")
    prev_ck = None
    for (mn, mx, path), ref, st in zip(ours, ref_l0, states):
        b = ltx.read(path)
        h, t = ltx.header(b), ltx.trailer(b)
        pages = [e[0] for e in ltx.page_index(b)]
        rh = ref["header"]
        c.eq(h["commit"], rh["commit"], f"{name} TXID {mn}: commit")
        c.eq(h["page_size"], rh["page_size"], f"{name} TXID {mn}: page size")
        c.eq(pages, ref["pages"], f"{name} TXID {mn}: page list")
        if track:
            c.eq(h["flags"], 0, f"{name} TXID {mn}: checksums tracked")
            c.eq(t["post_apply"], int(st["db_checksum"], 16), f"{name} TXID {mn}: post-apply = db_checksum")
            c.eq(h["pre_apply"], 0 if mn == 1 else prev_ck, f"{name} TXID {mn}: pre-apply = previous db_checksum")
            if chain["flags"] == 0:
                c.eq((h["pre_apply"], t["post_apply"]),
                     (int(rh["pre_apply_checksum"], 16), int(ref["trailer"]["post_apply_checksum"], 16)),
                     f"{name} TXID {mn}: pre/post equal the reference file's")
        else:
            c.eq((h["flags"], h["pre_apply"], t["post_apply"]), (2, 0, 0), f"{name} TXID {mn}: NoChecksum")
        prev_ck = int(st["db_checksum"], 16)
        out = os.path.join(tmp, f"{name}-{mn}.db")
        r = run("restore", rep, out, "--txid", f"{mn:x}")
        c.ok(r.returncode == 0 and harness.sha256_file(out) == st["sha256"],
             f"{name} TXID {mn}: restore equals {st['source']} ({r.stderr.strip()})")
    r = run("verify", rep)
    c.eq(r.returncode, 0, f"{name}: ltxctl verify ({r.stdout[-200:]}{r.stderr[-200:]})")
    r = run("compact", rep, "--level", "1")
    c.eq(r.returncode, 0, f"{name}: compact --level 1 ({r.stderr.strip()})")
    l1 = ltx.level_files(rep, 1)
    c.eq([(a, b) for a, b, _ in l1], [(1, len(states))], f"{name}: one L1 file over the chain")
    if l1:
        b = ltx.read(l1[0][2])
        if track:
            c.eq(ltx.trailer(b)["post_apply"], int(states[-1]["db_checksum"], 16), f"{name}: L1 post-apply")
        shutil.rmtree(os.path.join(rep, "ltx", "0"))
        out = os.path.join(tmp, f"{name}-l1.db")
        r = run("restore", rep, out)
        c.ok(r.returncode == 0 and harness.sha256_file(out) == states[-1]["sha256"],
             f"{name}: restore from L1 alone equals the last state ({r.stderr.strip()})")


def main():
    c = harness.Checker("writer_states")
    m = harness.manifest()
    chains = {ch["name"]: ch for ch in m["chains"]}
    tmp = tempfile.mkdtemp(prefix="ltxwstates-")
    try:
        for name, track in (("main-4096-checksummed", True), ("main-4096", False), ("ps512", True),
                            ("ps65536", True), ("random-4096", True)):
            chain_case(c, tmp, chains[name], track)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    c.done()


if __name__ == "__main__":
    main()
