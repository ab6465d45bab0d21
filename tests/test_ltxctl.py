#!/usr/bin/env python3
"""ltxctl inspect / verify / restore against the reference vectors (real binary).

- restore: every chain, every TXID (--txid), every state time (--time), and
  every manifest restore_plans entry give the manifest's SHA-256 or a clear
  error; --dry-run --json gives the manifest plan.
- verify: passes on every vector replica; fails naming the file and problem
  on a flipped byte, a truncated file, a missing L0 file (gap).
- inspect --json: equals the manifest's header/trailer/index/pages/frames.
- overwrite refusal, --force, usage errors, no temp files left behind.
- restore/verify from S3 (moto) when the store's S3 backend is built.
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402

C = harness.Checker("test_ltxctl")
M = harness.manifest()
LTXCTL = harness.binary("ltxctl")
BASE = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)


def run(*args, env=None):
    full = dict(os.environ)
    if harness.SANITIZE:
        full.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    if env:
        full.update(env)
    p = subprocess.run([LTXCTL, *args], capture_output=True, text=True, env=full, timeout=60)
    return p.returncode, p.stdout, p.stderr


def rfc3339(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def leftovers(d):
    return [f for f in os.listdir(d) if "ltxctl-tmp" in f]


def restore_chains(tmp):
    for ch in M["chains"]:
        rep = os.path.join(tmp, "r-" + ch["name"])
        harness.copy_replica(ch["root"], rep)
        states = ch["states"]
        for st in states:
            out = os.path.join(tmp, "out-%s-%s.db" % (ch["name"], st["txid"]))
            rc, so, se = run("restore", rep, out, "--txid", st["txid"])
            if C.eq(rc, 0, f"{ch['name']} restore --txid {st['txid']} exit ({se.strip()})"):
                C.eq(harness.sha256_file(out), st["sha256"], f"{ch['name']} txid {st['txid']} sha256")
                C.eq(os.path.getsize(out), st["size"], f"{ch['name']} txid {st['txid']} size")
            os.unlink(out) if os.path.exists(out) else None
            # the same, streaming every file by ranged reads
            rc, so, se = run("restore", rep, out, "--txid", st["txid"], "--buffer-limit", "0")
            if C.eq(rc, 0, f"{ch['name']} streamed restore --txid {st['txid']} exit ({se.strip()})"):
                C.eq(harness.sha256_file(out), st["sha256"], f"{ch['name']} streamed txid {st['txid']} sha256")
            os.unlink(out) if os.path.exists(out) else None
            # by time: just after the state's own timestamp -> that state
            out = os.path.join(tmp, "time-%s-%s.db" % (ch["name"], st["txid"]))
            rc, so, se = run("restore", rep, out, "--time", rfc3339(st["timestamp_ms"] + 1))
            if C.eq(rc, 0, f"{ch['name']} restore --time {st['timestamp']}+1ms exit ({se.strip()})"):
                C.eq(harness.sha256_file(out), st["sha256"], f"{ch['name']} time {st['timestamp']}+1ms sha256")
            os.unlink(out) if os.path.exists(out) else None
        # latest
        out = os.path.join(tmp, "latest-%s.db" % ch["name"])
        rc, so, se = run("restore", rep, out)
        if C.eq(rc, 0, f"{ch['name']} restore latest ({se.strip()})"):
            C.eq(harness.sha256_file(out), states[-1]["sha256"], f"{ch['name']} latest sha256")
            C.ok(f"TXID {states[-1]['txid']}" in so, f"{ch['name']} latest reports TXID: {so.strip()}")
        C.eq(leftovers(tmp), [], f"{ch['name']}: no temporary files left")
        shutil.rmtree(rep)

    # CreatedAt < T strictly: exactly at state k's time gives state k-1
    ch = M["chains"][0]
    rep = os.path.join(tmp, "strict")
    harness.copy_replica(ch["root"], rep)
    for k in range(1, len(ch["states"])):
        st, prev = ch["states"][k], ch["states"][k - 1]
        out = os.path.join(tmp, "strict-%d.db" % k)
        rc, so, se = run("restore", rep, out, "--time", st["timestamp"])
        if C.eq(rc, 0, f"strict time {st['timestamp']} exit ({se.strip()})"):
            C.eq(harness.sha256_file(out), prev["sha256"], f"strict time {st['timestamp']} gives state {prev['txid']}")
        if os.path.exists(out):
            os.unlink(out)
    rc, so, se = run("restore", rep, os.path.join(tmp, "none.db"), "--time", ch["states"][0]["timestamp"])
    C.eq(rc, 1, "time at the very first file: exit 1")
    C.ok("transaction not available" in se, f"time before everything: clear error ({se.strip()})")
    C.ok(not os.path.exists(os.path.join(tmp, "none.db")), "failed restore creates no output")
    # Without mtimes from headers (plain copy), --time-source header still works.
    rep2 = os.path.join(tmp, "nomtime")
    harness.copy_replica(ch["root"], rep2, set_mtimes=False)
    for f in os.listdir(os.path.join(rep2, "ltx", "0")):
        os.utime(os.path.join(rep2, "ltx", "0", f), (1e9, 1e9))  # 2001
    st = ch["states"][3]
    out = os.path.join(tmp, "hdrtime.db")
    rc, so, se = run("restore", rep2, out, "--time", rfc3339(st["timestamp_ms"] + 1), "--time-source", "header")
    if C.eq(rc, 0, f"--time-source header exit ({se.strip()})"):
        C.eq(harness.sha256_file(out), st["sha256"], "--time-source header picks the header timestamps")
    shutil.rmtree(rep)
    shutil.rmtree(rep2)


def target_args(target):
    if target == "latest":
        return []
    if target.startswith("txid="):
        return ["--txid", target[5:]]
    if target.startswith("ts="):
        h, m, s = (int(x) for x in target[3:].split(":"))
        t = BASE + datetime.timedelta(hours=h, minutes=m, seconds=s)
        return ["--time", t.strftime("%Y-%m-%dT%H:%M:%SZ")]
    raise ValueError(target)


def restore_plans(tmp):
    for i, rp in enumerate(M["restore_plans"]):
        rep = os.path.join(tmp, "plan-%d" % i)
        harness.copy_replica(rp["replica_root"], rep)
        args = target_args(rp["target"])
        what = f"restore_plans[{i}] {rp['replica']} {rp['target']}"
        out = os.path.join(tmp, "plan-%d.db" % i)
        rc, so, se = run("restore", rep, out, *args)
        rcp, sop, sep = run("restore", rep, "--dry-run", "--json", *args)
        if "error" in rp:
            C.eq(rc, 1, f"{what}: exit status")
            C.ok("transaction not available" in se, f"{what}: clear error, got {se.strip()!r}")
            C.ok(not os.path.exists(out), f"{what}: no output file")
            C.eq(rcp, 1, f"{what}: dry-run exit status")
        else:
            if C.eq(rc, 0, f"{what}: exit ({se.strip()})"):
                C.eq(harness.sha256_file(out), rp["restored_sha256"], f"{what}: sha256")
            if C.eq(rcp, 0, f"{what}: dry-run exit ({sep.strip()})"):
                j = json.loads(sop)
                C.eq([p["file"] for p in j["plan"]], rp["plan"], f"{what}: plan")
                C.eq(j["txid"], rp["restored_txid"], f"{what}: plan txid")
        C.eq(leftovers(tmp), [], f"{what}: no temporary files left")
        shutil.rmtree(rep)


def verify_vectors(tmp):
    roots = [ch["root"] for ch in M["chains"]] + [M["pruned_replica"]["root"]]
    for root in roots:
        rep = os.path.join(tmp, "v-" + root.replace("/", "_"))
        harness.copy_replica(root, rep)
        rc, so, se = run("verify", rep)
        C.eq(rc, 0, f"verify {root} ({so.strip()} {se.strip()})")
        C.ok("warning" not in so, f"verify {root}: no warnings with header mtimes ({so.strip()})")
        rc, so, se = run("verify", rep, "--buffer-limit=0", "-v")
        C.eq(rc, 0, f"verify --buffer-limit=0 {root} ({so.strip()})")
        C.ok("streamed" in so, f"verify --buffer-limit=0 streams ({root})")
        rc, so, se = run("verify", rep, "--json")
        if C.eq(rc, 0, f"verify --json {root}"):
            j = json.loads(so)
            t = j["targets"][0]
            C.ok(j["ok"] and t["ok"], f"verify --json {root}: ok")
            n = sum(len(fs) for _, _, fs in os.walk(os.path.join(rep, "ltx")))
            C.eq(t["file_count"], n, f"verify --json {root}: file count")
        shutil.rmtree(rep)
    # in place (git mtimes): still ok, but warns about mtimes
    rc, so, se = run("verify", harness.vec(M["chains"][0]["root"]))
    C.eq(rc, 0, "verify vectors in place")
    # single files, both layouts
    files = [harness.vec(f["path"]) for ch in M["chains"] for f in ch["files"]]
    rc, so, se = run("verify", *files)
    C.eq(rc, 0, f"verify {len(files)} single files ({se.strip()[:300]})")
    C.eq(so.count("ok: "), len(files), "verify prints one ok line per file")
    # legacy v1 file: refused with a reason
    leg = harness.vec(M["legacy"][0]["path"])
    rc, so, se = run("verify", leg)
    C.eq(rc, 1, "verify legacy v1 file fails")
    C.ok("unsupported_version" in so and os.path.basename(leg) in so, f"legacy: reason named ({so.strip()})")
    rc, so, se = run("inspect", leg, "--json")
    C.eq(rc, 1, "inspect legacy v1 file fails")
    j = json.loads(so)
    C.ok(j["error_code"] == "unsupported_version" and not j["checksum_ok"], f"inspect legacy: error code ({j.get('error_code')})")
    C.eq(j["size"], M["legacy"][0]["size"], "inspect legacy: size")


def corrupt_cases(tmp):
    ch = M["chains"][0]
    target = "0000000000000005-0000000000000005.ltx"
    # a) flipped byte inside a frame
    rep = os.path.join(tmp, "flip")
    harness.copy_replica(ch["root"], rep)
    p = os.path.join(rep, "ltx", "0", target)
    b = bytearray(open(p, "rb").read())
    b[len(b) // 2] ^= 0x40
    open(p, "wb").write(bytes(b))
    harness.set_mtime_from_header(p)
    rc, so, se = run("verify", rep)
    C.eq(rc, 1, "verify flipped byte: exit 1")
    C.ok(any(target in ln and ln.startswith("error:") for ln in so.splitlines()),
         f"flipped byte: error names the file ({so.strip()})")
    C.ok("FAILED" in so and "FAILED" in se, "flipped byte: FAILED summary")
    rc, so, se = run("verify", rep, "--buffer-limit=0")
    C.eq(rc, 1, "streamed verify flipped byte: exit 1")
    C.ok(any(target in ln and ln.startswith("error:") for ln in so.splitlines()),
         f"streamed: flipped byte names the file ({so.strip()})")
    rc, so, se = run("verify", p)
    C.eq(rc, 1, "verify single flipped file: exit 1")
    rc, so, se = run("verify", rep, "--json")
    j = json.loads(so)
    bad = [f for f in j["targets"][0]["files"] if not f["ok"]]
    C.eq([os.path.basename(f["path"]) for f in bad], [target], "verify --json lists exactly the damaged file")
    C.ok(bad and bad[0].get("error_code") in ("checksum_mismatch", "decompress", "page_size_mismatch", "bad_index"),
         f"damaged file error code: {bad[0].get('error_code') if bad else None}")
    rc, so, se = run("inspect", p, "--json")
    C.eq(rc, 1, "inspect damaged file: exit 1")
    j = json.loads(so)
    C.eq(j["checksum_ok"], False, "inspect damaged file: checksum_ok false")
    C.eq(j["header"]["min_txid"], "0000000000000005", "inspect damaged file: header still shown")
    rc, so, se = run("inspect", p)
    C.ok("FAILED" in so, "inspect text: FAILED status")
    # restore through the damaged file: refused, nothing written
    out = os.path.join(tmp, "flip.db")
    rc, so, se = run("restore", rep, out, "--txid", "5")
    # plan for txid 5 is L1 1-5 (undamaged): must succeed
    C.eq(rc, 0, f"restore txid 5 avoids the damaged L0 ({se.strip()})")
    os.path.exists(out) and os.unlink(out)
    rc, so, se = run("restore", rep, out, "--txid", "6")  # L1 1-5? no: L0 1..6 or L1 1-5 + L0 6
    C.eq(rc, 0, f"restore txid 6 ({se.strip()})")
    os.path.exists(out) and os.unlink(out)
    os.unlink(os.path.join(rep, "ltx", "1", "0000000000000001-0000000000000005.ltx"))
    rc, so, se = run("restore", rep, out, "--txid", "5")
    C.eq(rc, 1, "restore through a damaged file fails")
    C.ok(target in se and "damaged" in se, f"restore names the damaged file ({se.strip()})")
    rc, so, se = run("restore", rep, out, "--txid", "5", "--buffer-limit", "0")
    C.eq(rc, 1, "streamed restore through a damaged file fails")
    C.ok(target in se and "damaged" in se, f"streamed restore names the damaged file ({se.strip()})")
    C.ok(not os.path.exists(out), "failed restore leaves no output")
    C.eq(leftovers(tmp), [], "failed restore leaves no temporary file")
    shutil.rmtree(rep)

    # b) truncated file
    rep = os.path.join(tmp, "trunc")
    harness.copy_replica(ch["root"], rep)
    p = os.path.join(rep, "ltx", "0", target)
    b = open(p, "rb").read()
    open(p, "wb").write(b[: len(b) - 20])
    harness.set_mtime_from_header(p)
    for extra in ([], ["--buffer-limit=0"]):
        rc, so, se = run("verify", rep, *extra)
        C.eq(rc, 1, f"verify truncated file {extra}: exit 1")
        C.ok(any(target in ln and ln.startswith("error:") for ln in so.splitlines()),
             f"truncated {extra}: error names the file ({so.strip()})")
    shutil.rmtree(rep)

    # c) missing L0 file: a gap in level 0 (L1/L2 still bridge it for restore)
    rep = os.path.join(tmp, "gap")
    harness.copy_replica(ch["root"], rep)
    os.unlink(os.path.join(rep, "ltx", "0", target))
    rc, so, se = run("verify", rep)
    C.eq(rc, 1, "verify L0 gap: exit 1")
    C.ok(any("gap" in ln and "0000000000000004-0000000000000004.ltx" in ln and
             "0000000000000006-0000000000000006.ltx" in ln for ln in so.splitlines()),
         f"gap: message names both neighbours ({so.strip()})")
    # and a gap that nothing bridges: latest restore fails, non-contiguous
    for f in ("1/0000000000000001-0000000000000005.ltx", "2/0000000000000001-0000000000000008.ltx",
              "9/0000000000000001-0000000000000007.ltx", "1/0000000000000006-0000000000000008.ltx"):
        os.unlink(os.path.join(rep, "ltx", f))
    out = os.path.join(tmp, "gap.db")
    rc, so, se = run("restore", rep, out)
    C.eq(rc, 1, "latest restore over an unbridged gap fails")
    C.ok("non-contiguous" in se and "0000000000000004" in se, f"unbridged gap message ({se.strip()})")
    rc, so, se = run("verify", rep)
    C.ok(rc == 1 and "no restorable chain" in so, f"verify: no restorable chain ({so.strip()})")
    rc, so, se = run("restore", rep, out, "--txid", "4")
    C.eq(rc, 0, "restore before the gap still works")
    C.eq(harness.sha256_file(out) if rc == 0 else None, ch["states"][3]["sha256"], "restore before the gap: sha256")
    shutil.rmtree(rep)

    # d) empty / missing replica
    empty = os.path.join(tmp, "empty")
    os.makedirs(os.path.join(empty, "ltx", "0"))
    rc, so, se = run("verify", empty)
    C.ok(rc == 1 and "no LTX files" in so, f"verify empty replica ({so.strip()})")
    rc, so, se = run("restore", empty, os.path.join(tmp, "e.db"))
    C.ok(rc == 1 and "no ltx files" in se, f"restore empty replica ({se.strip()})")
    C.ok("does not exist" not in se, f"restore empty replica does not claim a missing folder ({se.strip()})")
    rc, so, se = run("verify", os.path.join(tmp, "does-not-exist"))
    C.eq(rc, 1, "verify missing path: exit 1")
    # a typo in a replica path says the folder does not exist (it still lists as empty)
    missing = os.path.join(tmp, "no-such-replica")
    rc, so, se = run("restore", missing, os.path.join(tmp, "e2.db"))
    C.ok(rc == 1 and "no ltx files" in se and f"replica folder {missing} does not exist" in se,
         f"restore from a missing folder names it ({se.strip()})")
    rc, so, se = run("verify", "file://" + missing)
    C.ok(rc == 1 and f"replica folder {missing} does not exist" in so, f"verify of a missing folder names it ({so.strip()})")
    rc, so, se = run("compact", missing, "--level", "1")
    C.ok(rc == 0 and f"replica folder {missing} does not exist" in se and "nothing new" in so,
         f"compact of a missing folder: nothing to do, and says the folder is missing ({se.strip()})")
    C.ok(not os.path.exists(missing), "compact did not create the missing folder")


def inspect_vectors():
    n = 0
    for ch in M["chains"]:
        for f in ch["files"]:
            rc, so, se = run("inspect", harness.vec(f["path"]), "--json")
            if not C.eq(rc, 0, f"inspect {f['path']} ({se.strip()})"):
                continue
            j = json.loads(so)
            for k in ("size", "sha256", "level", "min_txid", "max_txid", "header", "trailer", "page_index", "pages"):
                C.eq(j.get(k), f[k], f"inspect {f['path']}: {k}")
            C.eq(j["frames"], f["frames"], f"inspect {f['path']}: frames")
            C.eq(j["checksum_ok"], True, f"inspect {f['path']}: checksum ok")
            want_layout = "block" if ch["dir"] == "block" else "frame"
            C.eq(j["frame_layout"], want_layout, f"inspect {f['path']}: layout")
            n += 1
    C.ok(n >= 50, f"inspected {n} files")
    f = M["chains"][0]["files"][10]
    rc, so, se = run("inspect", "file://" + harness.vec(f["path"]), "--json")
    if C.eq(rc, 0, f"inspect file:// URL ({se.strip()})"):
        j = json.loads(so)
        C.eq((j["sha256"], j["header"], j["frames"]), (f["sha256"], f["header"], f["frames"]), "inspect file:// URL matches")
    rc, so, se = run("inspect", "file://" + harness.vec(f["path"]).replace(".ltx", "0.ltx"))
    C.ok(rc == 1 and "must end in" in se, f"inspect bad URL ({se.strip()})")
    p = harness.vec(M["chains"][0]["files"][1]["path"])
    rc, so, se = run("inspect", p)
    C.eq(rc, 0, "inspect text exit")
    for needle in ("page_size      4096", "file_checksum  cd42646095b6ec5b (ok)", "LZ4 block", "status       ok"):
        C.ok(needle in so, f"inspect text has {needle!r}")


def overwrite_and_usage(tmp):
    ch = M["chains"][0]
    rep = os.path.join(tmp, "ow")
    harness.copy_replica(ch["root"], rep)
    out = os.path.join(tmp, "ow.db")
    open(out, "wb").write(b"precious")
    rc, so, se = run("restore", rep, out)
    C.eq(rc, 1, "refuses to overwrite")
    C.ok("already exists" in se and "--force" in se, f"overwrite message ({se.strip()})")
    C.eq(open(out, "rb").read(), b"precious", "existing file untouched")
    open(out + "-wal", "wb").write(b"stale wal")
    rc, so, se = run("restore", rep, out, "--force", "--txid", "3")
    C.eq(rc, 0, f"--force overwrites ({se.strip()})")
    C.eq(harness.sha256_file(out), ch["states"][2]["sha256"], "--force result sha256")
    C.ok(not os.path.exists(out + "-wal"), "--force removes a stale -wal")
    rc, so, se = run("restore", rep, tmp)
    C.ok(rc == 1 and "folder" in se, f"refuses a folder as output ({se.strip()})")
    for args, what in ((["restore", rep, out, "--txid", "3", "--time", "2025-01-01T00:00:00Z"], "txid+time"),
                       (["restore", rep, out, "--txid", "xyz"], "bad txid"),
                       (["restore", rep, out, "--txid", "0"], "zero txid"),
                       (["restore", rep, out, "--time", "yesterday"], "bad time"),
                       (["restore", rep], "missing OUT"),
                       (["restore", rep, out, "--bogus"], "unknown option"),
                       (["verify"], "verify without path"),
                       (["inspect"], "inspect without file"),
                       (["inspect", "a", "b"], "inspect two files")):
        rc, so, se = run(*args)
        C.eq(rc, 2, f"usage error exit 2: {what}")
        C.ok(se.strip() != "", f"usage error message: {what}")
    # --version and per-command help from the option tables
    rc, so, se = run("--version")
    C.ok(rc == 0 and so.startswith("ltxctl ") and so.split()[1][0].isdigit(), f"--version ({so.strip()})")
    for cmd, flag in (("inspect", "--no-pages"), ("verify", "--buffer-limit"), ("restore", "--time-source"),
                      ("snapshot", "--no-checksum"), ("replicate", "--interval"), ("compact", "--l0-retention")):
        rc, so, se = run("help", cmd)
        C.ok(rc == 0 and f"ltxctl {cmd}" in so and flag in so, f"help {cmd} lists {flag}")
        rc2, so2, se2 = run(cmd, "--help")
        C.eq(so2, so, f"{cmd} --help = help {cmd}")
    rc, so, se = run("help", "nope")
    C.eq(rc, 2, "help for an unknown command: exit 2")
    rc, so, se = run("restore", rep, out, "--txid", "a", "--force")
    C.ok(rc == 1 and "reach only 0000000000000009" in se, f"txid beyond the replica ({se.strip()})")
    rc, so, se = run("restore", "file://" + os.path.abspath(rep), out, "--txid", "4", "--force")
    C.eq(rc, 0, f"file:/// replica URL ({se.strip()})")
    C.eq(harness.sha256_file(out), ch["states"][3]["sha256"], "file:/// replica URL result")
    rc, so, se = run("restore", "http://example.com/x", out, "--force")
    C.ok(rc == 1 and "unsupported" in se, f"unsupported URL scheme ({se.strip()})")
    rc, so, se = run("restore", rep, out, "--txid=0000000000000002", "--force")
    C.eq(rc, 0, "--txid=VALUE form")
    C.eq(harness.sha256_file(out), ch["states"][1]["sha256"], "--txid=VALUE result")
    shutil.rmtree(rep)


def progress_on_tty(tmp):
    """Progress goes to stderr only when it is a terminal (threshold lowered by env)."""
    import pty
    ch = M["chains"][0]
    rep = os.path.join(tmp, "prog")
    harness.copy_replica(ch["root"], rep)
    out = os.path.join(tmp, "prog.db")
    env = dict(os.environ, LTXCTL_PROGRESS_AFTER_MS="0")
    master, slave = pty.openpty()
    p = subprocess.Popen([LTXCTL, "restore", rep, out], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=slave, env=env)
    os.close(slave)
    got = harness.read_terminal(master, 10)
    p.wait(timeout=30)
    os.close(master)
    text = got.decode("utf-8", "replace")
    C.eq(p.returncode, 0, "restore with a terminal on stderr")
    C.ok("restore: file 3/3" in text, f"progress line on a terminal ({text!r})")
    os.unlink(out)
    rc, so, se = run("restore", rep, out, env={"LTXCTL_PROGRESS_AFTER_MS": "0"})
    C.ok(rc == 0 and "restore: file" not in se, f"no progress when stderr is not a terminal ({se!r})")
    shutil.rmtree(rep)


def multi_db(tmp):
    """A root holding several databases (<root>/<db>/ltx/...), as ltxpaged serves."""
    root = os.path.join(tmp, "multi")
    a, b = M["chains"][0], M["chains"][2]
    harness.copy_replica(a["root"], os.path.join(root, "app.db"))
    harness.copy_replica(b["root"], os.path.join(root, "kv.db"))
    rc, so, se = run("verify", "file://" + root)
    C.eq(rc, 0, f"verify multi-db root ({so.strip()} {se.strip()})")
    C.ok(so.count("ok: file://") == 2 and "/app.db:" in so and "/kv.db:" in so, f"both databases verified ({so.strip()})")
    out = os.path.join(tmp, "multi-kv.db")
    rc, so, se = run("restore", root, out, "--db", "kv.db")
    if C.eq(rc, 0, f"restore --db kv.db ({se.strip()})"):
        C.eq(harness.sha256_file(out), b["states"][-1]["sha256"], "restore --db kv.db sha256")
    rc, so, se = run("restore", root, out + "2", "--db", "nope.db")
    C.ok(rc == 1 and "no ltx files" in se, f"restore --db of a missing database ({se.strip()})")
    C.ok("database folder" in se and "nope.db does not exist" in se, f"restore --db names the missing folder ({se.strip()})")
    # damage one database: verify names it and still checks the other
    os.unlink(os.path.join(root, "kv.db", "ltx", "0", "0000000000000002-0000000000000002.ltx"))
    rc, so, se = run("verify", root)
    C.eq(rc, 1, "verify multi-db with one gap: exit 1")
    C.ok("ok: " + root + "/app.db" in so and "FAILED: " + root + "/kv.db" in so, f"multi-db: per-database result ({so.strip()})")
    shutil.rmtree(root)


def s3_cases(tmp):
    ch = M["chains"][0]
    try:
        moto = harness.Moto()
    except Exception as e:  # noqa: BLE001
        print(f"SKIP s3: moto not available: {e}")
        return
    try:
        env = moto.env()
        moto.upload_tree("vec", harness.vec(ch["s3_root"]), "db")
        rc, so, se = run("verify", "s3://vec/db", env=env)
        if rc != 0 and "S3 backend not built yet" in (so + se):
            print("SKIP s3: the store's S3 backend is not built yet")
            return
        C.eq(rc, 0, f"verify s3://vec/db ({so.strip()} {se.strip()})")
        for st in ch["states"]:
            out = os.path.join(tmp, "s3-%s.db" % st["txid"])
            rc, so, se = run("restore", "s3://vec/db", out, "--txid", st["txid"], env=env)
            if C.eq(rc, 0, f"s3 restore --txid {st['txid']} ({se.strip()})"):
                C.eq(harness.sha256_file(out), st["sha256"], f"s3 restore --txid {st['txid']} sha256")
        for rp in M["restore_plans"]:
            if rp["replica"] != "full":
                continue
            out = os.path.join(tmp, "s3plan.db")
            rc, so, se = run("restore", "s3://vec/db", out, "--force", *target_args(rp["target"]), env=env)
            if "error" in rp:
                C.ok(rc == 1 and "transaction not available" in se, f"s3 {rp['target']}: error ({se.strip()})")
            elif C.eq(rc, 0, f"s3 {rp['target']} ({se.strip()})"):
                C.eq(harness.sha256_file(out), rp["restored_sha256"], f"s3 {rp['target']} sha256")
        for f in ch["files"][::4]:
            url = "s3://vec/" + f["s3_copy_path"][len(ch["s3_root"]) - 2:]
            rc, so, se = run("inspect", url, "--json", env=env)
            if C.eq(rc, 0, f"inspect {url} ({se.strip()})"):
                j = json.loads(so)
                for k in ("sha256", "size", "level", "header", "trailer", "page_index", "frames"):
                    C.eq(j.get(k), f[k], f"inspect {url}: {k}")
        # damaged object
        c = moto.client()
        key = "db/0000/0000000000000005-0000000000000005.ltx"
        body = bytearray(c.get_object(Bucket="vec", Key=key)["Body"].read())
        body[len(body) // 2] ^= 0x40
        c.put_object(Bucket="vec", Key=key, Body=bytes(body))
        rc, so, se = run("verify", "s3://vec/db", env=env)
        C.ok(rc == 1 and "0000000000000005-0000000000000005.ltx" in so, f"s3 verify damaged object ({so.strip()})")
    finally:
        moto.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="ltxctl-test-")
    try:
        for name, fn in (("inspect", inspect_vectors), ("verify", lambda: verify_vectors(tmp)),
                         ("corrupt", lambda: corrupt_cases(tmp)), ("overwrite", lambda: overwrite_and_usage(tmp)),
                         ("multi-db", lambda: multi_db(tmp)), ("progress", lambda: progress_on_tty(tmp)),
                         ("restore plans", lambda: restore_plans(tmp)), ("chains", lambda: restore_chains(tmp)),
                         ("s3", lambda: s3_cases(tmp))):
            before = C.failures
            fn()
            print(f"{name}: {'ok' if C.failures == before else 'FAILED'} ({C.checks} checks so far)", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    C.done()


if __name__ == "__main__":
    main()
