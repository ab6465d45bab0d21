"""ltxhttp over https:// (issue 13): a self-signed certificate made with the
openssl CLI at test time, a TLS-terminating proxy (Python ssl, 127.0.0.1)
in front of the real ltxpaged, the VFS through the loadable extension in
/usr/bin/python3.

Checks:
 1. with cafile=<cert> (URI) the database reads exactly the latest state,
    and a TXID added afterwards arrives through the watcher's long poll over
    TLS;
 2. LTXHTTP_CAFILE in the environment works the same;
 3. without a CA file the open fails fast with a message naming the
    certificate problem (no retries, nothing read);
 4. a CA file that does not exist fails with a message too.
"""
import os
import shutil
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_vfs_common as V  # noqa: E402
from test_vfs_common import harness  # noqa: E402

V.load_extension()
if not shutil.which("openssl"):
    V.skip("the openssl CLI is not installed")
ck = harness.Checker("test_vfs_tls")
work = V.tmpdir("tls")
srv = proxy = None
try:
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       capture_output=True, text=True, timeout=60)
    ck.eq(r.returncode, 0, f"openssl made a self-signed certificate ({r.stderr.strip()[-200:]})")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    ch = V.chain("main-4096")
    states = ch["states"]
    rep = os.path.join(work, "app")
    V.build_replica(ch, rep, l0_only=True, upto_l0=V.txid_int(states[-2]["txid"]))
    srv = V.Server(dbs={"app.db": rep}, extra=["--poll-interval", "100ms"])
    srv.wait_db("app.db")
    proxy = V.Proxy(srv.url, ssl_ctx=ctx)
    ck.ok(proxy.url.startswith("https://"), f"proxy at {proxy.url}")

    # ---- 1: cafile= in the URI
    c = V.connect(proxy.url, "app.db", cafile=cert)
    ck.eq(c.execute("PRAGMA ltxhttp_txid").fetchone()[0], states[-2]["txid"], "https: TXID")
    ck.ok(V.dump(c) == V.state_dump(states[-2]["source"]), "https: contents equal the state")
    ck.eq(c.execute("PRAGMA ltxhttp_server").fetchone()[0], proxy.url + "/app.db", "https: server in use")
    t = V.txid_int(states[-1]["txid"])
    f = [f for f in ch["files"] if f["level"] == 0 and V.file_max_txid(f) == t][0]
    V.add_file(ch, f, rep)
    t0 = time.time()
    while time.time() - t0 < 5 and c.execute("PRAGMA ltxhttp_txid").fetchone()[0] != states[-1]["txid"]:
        time.sleep(0.02)
    ck.eq(c.execute("PRAGMA ltxhttp_txid").fetchone()[0], states[-1]["txid"],
          f"https: the watcher's long poll brought the new TXID ({time.time() - t0:.2f}s)")
    ck.ok(V.dump(c) == V.state_dump(states[-1]["source"]), "https: new contents")
    c.close()

    # ---- 2: LTXHTTP_CAFILE
    out = V.run_python(f"""
c = sqlite3.connect("file:app.db?vfs=ltxhttp&server={proxy.url}", uri=True)
print("posts", c.execute("SELECT count(*) FROM posts").fetchone()[0])
""", env=dict(os.environ, LTXHTTP_CAFILE=cert))
    lc = V.local_state(states[-1]["source"])
    want = lc.execute("SELECT count(*) FROM posts").fetchone()[0]
    lc.close()
    ck.eq(out.stdout.strip(), f"posts {want}", f"LTXHTTP_CAFILE ({out.stderr.strip()[-300:]})")

    # ---- 3: no CA file: certificate error, fast
    env = {k: v for k, v in os.environ.items() if k != "LTXHTTP_CAFILE"}
    t0 = time.time()
    out = V.try_open(f"file:app.db?vfs=ltxhttp&server={proxy.url}", env=env)
    el = time.time() - t0
    ck.ok(out.stdout.startswith("error:") and "certificate" in out.stderr and proxy.url in out.stderr,
          f"without cafile: {out.stdout.strip()!r} {out.stderr.strip()!r}")
    ck.ok(el < 2.5, f"certificate errors are not retried ({el:.2f}s)")
    print("without a CA file:", out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "", flush=True)

    # ---- 4: a CA file that is not there
    out = V.try_open(f"file:app.db?vfs=ltxhttp&server={proxy.url}&cafile={work}/missing.pem", env=env)
    ck.ok(out.stdout.startswith("error:") and "cannot reach server" in out.stderr,
          f"missing cafile: {out.stderr.strip()!r}")
finally:
    for x in (proxy, srv):
        if x:
            x.stop()
    shutil.rmtree(work, ignore_errors=True)
ck.done()
