#!/usr/bin/env python3
"""Writes through ltxpaged (issue 11): POST /{db}/ltx on a file replica
root (argument "s3": the same on moto, which honours conditional writes).

A local SQLite database (rollback journal) runs real SQL; after each
transaction the pages it changed go to the server as one LTX file on top
of the TXID before (tests/ltx_write_helper.py). Checks:
  - create with base=0, hundreds of inserts/updates/deletes and a VACUUM;
    after each answer the server's status already shows the new TXID (its
    poll interval is 60 s: only the write path can have indexed it) and a
    page read matches;
  - stale base -> 409 txid_conflict naming the current TXID; a bad body ->
    400 bad_ltx; wrong TXIDs -> 400 bad_txid; read token -> 401; no
    Content-Length -> 411; too large -> 413;
  - lock.json in Litestream's format; status shows the lease as ours;
  - a second server on the same root is refused with 409 lease_held naming
    the holder and expiry; after the first stops (releasing), the second
    writes;
  - every L0 TXID has exactly one file and `ltxctl restore` equals the
    local database byte for byte; `ltxctl verify` passes;
  - 48 creates, 4 at a time, while rescans run every 100 ms all stay (a
    rescan whose LISTs ran before a create's first file must not remove
    it; RACE_EACH=N in the environment runs N per thread).
"""
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, jget, write_replica, ltxctl  # noqa: E402
import ltx_write_helper as LW  # noqa: E402
from ltx_write_helper import post  # noqa: E402

BACKEND = sys.argv[1] if len(sys.argv) > 1 else "file"
ck = H.Checker(f"test_server_write[{BACKEND}]")
R, A = "r-secret", "a-secret"
W = LW.WRITE_TOKEN
DB = "app.db"
RACE_THREADS = 4
RACE_EACH = int(os.environ.get("RACE_EACH", "12"))


tmp = tempfile.mkdtemp(prefix="ltxpaged-write-")
moto = a = b = c = None
try:
    moto, env, root, root_dir = write_replica(BACKEND, tmp)
    common = ["--replica", root, "--write-token", W, "--read-token", R, "--admin-token", A,
              "--poll-interval", "60s", "--l1-interval", "60s", "--rescan-interval", "60s"]
    a = Server(common, env=env)
    rh = {"Authorization": "Bearer " + R}

    w = LW.Writer(os.path.join(tmp, "local.db"))
    w.db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
    first = w.ltx()
    st, j = post(a.base, f"/{DB}/ltx?base=0", first)
    ck.eq(st, 200, "create with base=0")
    ck.eq(j and j.get("txid"), "0000000000000001", "first TXID")
    st, j = jget(f"{a.base}/{DB}", rh)
    ck.eq(st, 200, "status of the new database")
    ck.eq(j and j.get("txid"), "0000000000000001", "status TXID right after the create")
    ck.ok(j and j.get("lease", {}).get("ours") is True, f"status shows our lease: {j and j.get('lease')}")

    # the refusals
    st, j = post(a.base, f"/{DB}/ltx?base=1", first)
    ck.eq((st, j and j.get("code")), (400, "bad_txid"), "TXIDs not base+1")
    st, j = post(a.base, f"/{DB}/ltx?base=0", first)
    ck.eq((st, j and j.get("code")), (409, "txid_conflict"), "stale base")
    ck.eq(j and j.get("txid"), "0000000000000001", "conflict names the current TXID")
    bad = bytearray(LW.encode({1: w.image[:4096]}, 4096, len(w.image) // 4096, 2, 2))
    bad[-1] ^= 0x55
    st, j = post(a.base, f"/{DB}/ltx?base=1", bytes(bad))
    ck.eq((st, j and j.get("code")), (400, "bad_ltx"), "corrupt body")
    st, j = post(a.base, f"/{DB}/ltx?base=1", first, token=R)
    ck.eq(st, 401, "read token cannot write")
    st, j = post(a.base, f"/{DB}/ltx?base=1", first, length=False)
    ck.eq(st, 411, "chunked body refused")
    st, j = post(a.base, f"/{DB}/ltx?base=1", b"x" * (65 << 20))
    ck.eq((st, j and j.get("code")), (413, "body_too_large"), "body over --write-max-body")
    st, _, body = H.http_get(f"{a.base}/{DB}/pages/1", headers={"Authorization": "Bearer " + W})
    ck.eq(st, 200, "the write token reads")

    # a lease taken by Litestream (its JSON, RFC 3339 nano) is respected;
    # an expired one is taken over with generation + 1
    def put_lock(db, obj):
        raw = json.dumps(obj).encode()
        if BACKEND == "s3":
            moto.client().put_object(Bucket="bkt", Key=f"dbs/{db}/lock.json", Body=raw)
        else:
            os.makedirs(os.path.join(root_dir, db), exist_ok=True)
            with open(os.path.join(root_dir, db, "lock.json"), "wb") as f:
                f.write(raw)

    def get_lock(db):
        if BACKEND == "s3":
            return json.loads(moto.client().get_object(Bucket="bkt", Key=f"dbs/{db}/lock.json")["Body"].read())
        with open(os.path.join(root_dir, db, "lock.json")) as f:
            return json.load(f)

    gonano = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".123456789Z"  # noqa: E731
    put_lock("ls.db", {"generation": 7, "expires_at": gonano(time.time() + 120), "owner": "litestream-host:4242"})
    w2 = LW.Writer(os.path.join(tmp, "ls.db"))
    w2.db.execute("CREATE TABLE x(a)")
    body2 = w2.ltx()
    st, j = post(a.base, "/ls.db/ltx?base=0", body2)
    ck.eq((st, j and j.get("code"), j and j.get("holder")), (409, "lease_held", "litestream-host:4242"),
          "a live Litestream lease refuses the write")
    put_lock("ls.db", {"generation": 7, "expires_at": gonano(time.time() - 5), "owner": "litestream-host:4242"})
    st, j = post(a.base, "/ls.db/ltx?base=0", body2)
    ck.eq(st, 200, f"an expired Litestream lease is taken over: {j}")
    lj = get_lock("ls.db")
    ck.eq(lj.get("generation"), 8, "taken over with generation + 1")
    ck.ok(lj.get("owner", "").endswith(f":{a.p.pid}"), f"owner now ours: {lj}")
    w2.close()

    # many transactions, each visible at once
    import random
    rnd = random.Random(11)
    lag_bad = 0
    page_bad = 0
    images = {}
    for i in range(120):
        w.db.execute("BEGIN")
        op = i % 4
        if op == 0:
            for k in range(20):
                w.db.execute("INSERT INTO t(v) VALUES (?)", ("x" * rnd.randint(10, 300),))
        elif op == 1:
            w.db.execute("UPDATE t SET v = v || 'u' WHERE id % 7 = ?", (i % 7,))
        elif op == 2:
            w.db.execute("DELETE FROM t WHERE id % 11 = ?", (i % 11,))
        else:
            w.db.execute("INSERT INTO t(v) VALUES (?)", (os.urandom(1500).hex(),))
        w.db.execute("COMMIT")
        if i == 90:
            w.db.execute("VACUUM")
            body = w.ltx()
            st, j = post(a.base, f"/{DB}/ltx?base={w.txid - 1:x}", body)
            ck.eq(st, 200, "VACUUM's file")
        base = w.txid
        body = w.ltx()
        st, j = post(a.base, f"/{DB}/ltx?base={base:016x}", body)
        if not ck.eq(st, 200, f"write {i}"):
            print(j)
            break
        images[w.txid] = w.image
        s = a.status(DB, rh)
        if not s or s.get("txid") != f"{w.txid:016x}":
            lag_bad += 1
        pg = 1 + (i % (len(w.image) // 4096))
        st, _, got = H.http_get(f"{a.base}/{DB}/pages/{pg}", headers=rh)
        if st != 200 or got != w.image[(pg - 1) * 4096:pg * 4096]:
            page_bad += 1
    ck.eq(lag_bad, 0, "writes whose TXID was not in the status right after the answer")
    ck.eq(page_bad, 0, "page reads right after a write that did not match the writer's bytes")
    final_txid = w.txid
    print(f"{final_txid} TXIDs written", flush=True)

    # fork and rollback give exactly state T
    ah = {"Authorization": "Bearer " + A}
    T = 40
    sha_t = hashlib.sha256(images[T]).hexdigest()
    st, j = post(a.base, f"/admin/dbs/{DB}/fork?txid={T:x}&to=fork.db", b"", token=A)
    ck.eq(st, 200, f"fork: {j}")
    st, j = post(a.base, f"/admin/dbs/{DB}/fork?txid={T:x}&to=fork.db", b"", token=A)
    ck.eq((st, j and j.get("code")), (409, "db_exists"), "fork onto an existing name")
    st, j = post(a.base, f"/admin/dbs/{DB}/fork?txid={T:x}&to=x.db", b"", token=W)
    ck.eq(st, 401, "fork needs the admin token")
    out = os.path.join(tmp, "fork.db")
    r = ltxctl("restore", f"{root}/fork.db", out, "--force", env=env)
    ck.eq(r.returncode, 0, f"restore of the fork: {r.stderr.strip()}")
    if r.returncode == 0:
        with open(out, "rb") as f:
            ck.eq(hashlib.sha256(f.read()).hexdigest(), sha_t, "fork restores to exactly state T")
    st, _, got = H.http_get(f"{a.base}/fork.db/file", headers=rh)
    ck.eq((st, hashlib.sha256(got).hexdigest()), (200, sha_t), "the server serves the fork as state T")
    out_now = os.path.join(tmp, "before-rollback.db")
    r = ltxctl("restore", f"{root}/{DB}", out_now, "--force", env=env)
    with open(out_now, "rb") as f:
        sha_before = hashlib.sha256(f.read()).hexdigest()
    st, j = post(a.base, f"/admin/dbs/{DB}/rollback?txid={T:x}", b"", token=A)
    ck.eq(st, 200, f"rollback: {j}")
    ck.eq(j and j.get("txid"), f"{final_txid + 1:016x}", "rollback publishes current+1")
    r = ltxctl("restore", f"{root}/{DB}", out, "--force", env=env)
    with open(out, "rb") as f:
        ck.eq(hashlib.sha256(f.read()).hexdigest(), sha_t, "after the rollback the latest state is state T")
    st, _, got = H.http_get(f"{a.base}/{DB}/file", headers=rh)
    ck.eq(hashlib.sha256(got).hexdigest(), sha_t, "readers see state T at once")
    r = ltxctl("restore", f"{root}/{DB}", out, "--force", "--txid", f"{final_txid:x}", env=env)
    with open(out, "rb") as f:
        ck.eq(hashlib.sha256(f.read()).hexdigest(), sha_before, "history kept: the state before the rollback")
    st, j = post(a.base, f"/admin/dbs/{DB}/rollback?txid={final_txid:x}", b"", token=A)
    ck.eq(st, 200, f"roll forward again: {j}")
    st, _, got = H.http_get(f"{a.base}/{DB}/file", headers=rh)
    ck.eq(hashlib.sha256(got).hexdigest(), sha_before, "rolled forward to the state before")
    final_txid += 2
    w.txid = final_txid

    # the lease object, in Litestream's format
    if BACKEND == "s3":
        obj = moto.client().get_object(Bucket="bkt", Key=f"dbs/{DB}/lock.json")["Body"].read()
    else:
        with open(os.path.join(root_dir, DB, "lock.json"), "rb") as f:
            obj = f.read()
    lj = json.loads(obj)
    ck.ok(set(lj) == {"generation", "expires_at", "owner"}, f"lock.json fields: {lj}")
    ck.ok(lj.get("owner", "").endswith(f":{a.p.pid}"), f"owner is host:pid of the holder: {lj.get('owner')}")

    # a second server on the same root
    b = Server(common[:-6] + ["--poll-interval", "200ms", "--l1-interval", "1s", "--rescan-interval", "1s"],
               env=env)
    ok = b.wait_for(lambda: (b.status(DB, rh) or {}).get("txid") == f"{final_txid:016x}", timeout=15)
    ck.ok(ok, "second server follows the bucket")
    w.db.execute("INSERT INTO t(v) VALUES ('from b')")
    body = w.ltx()
    st, j = post(b.base, f"/{DB}/ltx?base={final_txid:x}", body)
    ck.eq((st, j and j.get("code")), (409, "lease_held"), "second writer refused while the lease is held")
    ck.ok(j and j.get("holder", "").endswith(f":{a.p.pid}"), f"refusal names the holder: {j}")
    ck.ok(j and j.get("expires", "") > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
          f"refusal names a future expiry: {j and j.get('expires')}")
    ck.ok("locked by" in (j or {}).get("error", ""), f"message: {j}")
    r = ltxctl("lease", "show", f"{root}/{DB}", "--json", env=env)
    lease = (json.loads(r.stdout or "{}") or {}).get("lease") or {}
    ck.ok(r.returncode == 0 and lease.get("owner", "").endswith(f":{a.p.pid}") and lease.get("expired") is False,
          f"ltxctl lease show names the holder: {r.stdout} {r.stderr}")
    bs = b.status(DB, rh) or {}
    ck.ok(bs.get("lease", {}).get("ours") is False and bs.get("lease", {}).get("holder", "").endswith(f":{a.p.pid}"),
          f"the refused server's status shows the holder: {bs.get('lease')}")

    # a file for the next TXID appears behind the holder's back (another
    # writer ignoring the lease): the holder's create-only publish fails -> 409
    name = f"{final_txid + 1:016x}-{final_txid + 1:016x}.ltx"
    if BACKEND == "s3":
        moto.client().put_object(Bucket="bkt", Key=f"dbs/{DB}/0000/{name}", Body=body)
    else:
        with open(os.path.join(root_dir, DB, "ltx", "0", name), "wb") as f:
            f.write(body)
    st, j = post(a.base, f"/{DB}/ltx?base={final_txid:x}", body)
    if BACKEND == "s3" and st == 200:
        # the S3 store reads an object back after a 412 and counts the very
        # same bytes as its own write (a lost answer of its PUT, which libcurl
        # may have resent): still one file for the TXID, holding these bytes
        ck.eq(j and j.get("txid"), f"{final_txid + 1:016x}", "identical bytes under the name: counted as published")
    else:
        ck.eq((st, j and j.get("code"), j and j.get("txid")), (409, "txid_conflict", f"{final_txid + 1:016x}"),
              "publish onto an existing L0 name is refused")
    final_txid += 1
    w.db.execute("INSERT INTO t(v) VALUES ('from b, again')")
    body = w.ltx()
    ck.eq(a.stop(), 0, "first server stops cleanly")
    if BACKEND != "s3":
        ck.ok(not os.path.exists(os.path.join(root_dir, DB, "lock.json")), "lease released at shutdown")
    else:
        left = moto.client().list_objects_v2(Bucket="bkt", Prefix=f"dbs/{DB}/lock.json").get("KeyCount", 0)
        ck.eq(left, 0, "lease released at shutdown")
    ok = b.wait_for(lambda: (b.status(DB, rh) or {}).get("txid") == f"{final_txid:016x}", timeout=15)
    st, j = post(b.base, f"/{DB}/ltx?base={final_txid:x}", body)
    ck.eq(st, 200, f"second server writes after the release: {j}")
    final_txid = w.txid
    r = ltxctl("lease", "break", f"{root}/{DB}", env=env)
    ck.ok(r.returncode == 0 and "broken" in r.stdout, f"ltxctl lease break: {r.stdout} {r.stderr}")
    r = ltxctl("lease", "show", f"{root}/{DB}", env=env)
    ck.ok(r.returncode == 0 and "no lease" in r.stdout, f"no lease after the break: {r.stdout}")
    # the holder notices at its next renewal (TTL/2 = 15 s at most)
    ok = b.wait_for(lambda: not (b.status(DB, rh) or {}).get("lease", {}).get("ours"), timeout=20, step=0.25)
    ck.ok(ok, f"the holder noticed the break: {(b.status(DB, rh) or {}).get('lease')}")
    w.db.execute("INSERT INTO t(v) VALUES ('after the break')")
    st, j = post(b.base, f"/{DB}/ltx?base={final_txid:x}", w.ltx())
    ck.eq(st, 200, f"the holder writes again after a break (takes a new lease): {j}")
    final_txid = w.txid
    r = ltxctl("lease", "show", f"{root}/{DB}", "--json", env=env)
    lease = (json.loads(r.stdout or "{}") or {}).get("lease") or {}
    ck.ok(lease.get("owner", "").endswith(f":{b.p.pid}"), f"lease now names the second server: {lease}")
    ck.eq(b.stop(), 0, "second server stops cleanly")

    # the bucket: one file per TXID on L0, restorable, verified
    out = os.path.join(tmp, "restored.db")
    r = ltxctl("restore", f"{root}/{DB}", out, "--force", env=env)
    ck.eq(r.returncode, 0, f"ltxctl restore: {r.stderr.strip()}")
    if r.returncode == 0:
        with open(out, "rb") as f:
            got = f.read()
        ck.eq(hashlib.sha256(got).hexdigest(), hashlib.sha256(w.image_now()).hexdigest(),
              "restore equals the local database")
    r = ltxctl("verify", f"{root}/{DB}", env=env)
    ck.eq(r.returncode, 0, f"ltxctl verify: {r.stdout[-300:]} {r.stderr[-300:]}")
    if BACKEND == "s3":
        keys = [o["Key"] for o in moto.client().list_objects_v2(Bucket="bkt", Prefix=f"dbs/{DB}/0000/")
                .get("Contents", [])]
    else:
        keys = os.listdir(os.path.join(root_dir, DB, "ltx", "0"))
    names = [k.rsplit("/", 1)[-1] for k in keys if k.endswith(".ltx")]
    mins = [int(n.split("-")[0], 16) for n in names]
    ck.eq(sorted(mins), list(range(1, final_txid + 1)), "L0 holds exactly one file per TXID")

    # creates racing rescans: a rescan that does not list a database being
    # created yet, and whose own LIST of it ran before the first file
    # landed, must not remove it (CI once saw 404 right after a create)
    c = Server(common[:-6] + ["--poll-interval", "60s", "--l1-interval", "60s", "--rescan-interval", "100ms"],
               env=env)
    lost = []
    names = [f"race-{t}-{i}.db" for t in range(RACE_THREADS) for i in range(RACE_EACH)]

    def creates(t):
        for i in range(RACE_EACH):
            name = f"race-{t}-{i}.db"
            rw = LW.Writer(os.path.join(tmp, f"race-{t}-{i}.sqlite"))
            try:
                rw.db.execute("CREATE TABLE t(x)")
                st, j = post(c.base, f"/{name}/ltx?base=0", rw.ltx())
                if st != 200:
                    lost.append((name, "create", st, j))
                    continue
                rw.db.execute("INSERT INTO t VALUES (1)")
                st2, j2 = post(c.base, f"/{name}/ltx?base=1", rw.ltx())
                st3, j3 = jget(f"{c.base}/{name}", rh)
                if st2 != 200 or st3 != 200 or (j3 or {}).get("txid") != "0000000000000002":
                    lost.append((name, st2, j2, st3, j3 and j3.get("txid")))
            finally:
                rw.db.close()
    ths = [threading.Thread(target=creates, args=(t,)) for t in range(RACE_THREADS)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    time.sleep(0.5)
    for name in names:
        st3, j3 = jget(f"{c.base}/{name}", rh)
        if st3 != 200:
            lost.append((name, "later", st3))
    ck.eq(lost, [], f"{len(names)} creates ({RACE_THREADS} at a time) while rescans run every 100 ms: "
                    "each database stays, at TXID 2")
    if lost:
        c.stop_showing_log(tail=6000)
    else:
        ck.eq(c.stop(), 0, "the racing server stops cleanly")
except Exception as e:  # noqa: BLE001
    import traceback
    traceback.print_exc()
    ck.ok(False, f"exception: {e}")
finally:
    H.cleanup(tmp, a, b, c, moto, running_only=True)
ck.done()
