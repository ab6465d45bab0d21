#!/usr/bin/env python3
"""A real browser as a foreign range reader (issues 10 case 4 and 13):
headless Chromium loads a page from another origin (a static server on
another port) that reads a database the way an HTTP-range SQLite reader
does: it asks the status JSON for the pinned file_url (with the read
token, so every request needs a CORS preflight), then fetches the file in
ranges of 64 KiB with Range and If-Range while a writer commits, and
hashes what it assembled (crypto.subtle). The page writes the result into
its DOM; --dump-dom shows it. Checked: the preflights pass, the exposed
headers are readable (ETag, Content-Range, Ltx-Txid), every range came
from one TXID, and the bytes equal that TXID's restore. Skipped (exit 0)
without chromium."""
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, l0_by_txid, states_by_txid  # noqa: E402

ck = H.Checker("test_server_browser")
exe = shutil.which("chromium") or shutil.which("chromium-browser")
if not exe:
    print("SKIP: chromium not installed")
    ck.ok(True, "skipped")
    ck.done()

tmp = tempfile.mkdtemp(prefix="ltxpaged-browser-")
c = chain("main-4096")
states = states_by_txid(c)
l0 = l0_by_txid(c)
db_dir = os.path.join(tmp, "live.db")
srv = web = None
commits = []

PAGE = """<!doctype html><html><body><pre id="out">running</pre><script>
const base = "%(base)s", hdr = {Authorization: "Bearer tok"};
async function hex(buf) {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
  return Array.from(d).map(b => b.toString(16).padStart(2, "0")).join("");
}
async function main() {
  const st = await (await fetch(base + "/live.db", {headers: hdr})).json();
  const url = base + st.file_url;
  let etag = null, total = null, txids = new Set(), parts = [], got = 0, statuses = [];
  for (let a = 0; total === null || a < total; a += 65536) {
    const h = Object.assign({Range: "bytes=" + a + "-" + (a + 65535)}, hdr);
    if (etag) h["If-Range"] = etag;
    const r = await fetch(url, {headers: h, cache: "no-store"});
    statuses.push(r.status);
    etag = r.headers.get("ETag");
    txids.add(r.headers.get("Ltx-Txid"));
    const cr = r.headers.get("Content-Range");
    total = cr ? parseInt(cr.split("/")[1]) : total;
    const b = new Uint8Array(await r.arrayBuffer());
    parts.push(b); got += b.length;
    if (a === 0) await fetch("/commit"); // the writer commits a new TXID now
  }
  const all = new Uint8Array(got); let o = 0;
  for (const p of parts) { all.set(p, o); o += p.length; }
  document.getElementById("out").textContent = "RESULT " + JSON.stringify(
    {txid: st.txid, txids: [...txids], statuses, total, got, sha: await hex(all), etag});
}
main().catch(e => { document.getElementById("out").textContent = "ERROR " + e; });
</script></body></html>"""


def put_l0(t):
    H.put_l0(db_dir, l0[t]["path"])


class Site(http.server.SimpleHTTPRequestHandler):
    """The page's origin; GET /commit makes the writer commit the next TXID
    and answers once ltxpaged serves it."""

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path != "/commit":
            return super().do_GET()
        cur = int(srv.status("live.db", {"Authorization": "Bearer tok"})["txid"], 16)
        put_l0(cur + 1)
        ok = srv.wait_for(lambda: (srv.status("live.db", {"Authorization": "Bearer tok"}) or {}).get("txid")
                          == "%016x" % (cur + 1), 10, 0.05)
        commits.append((cur + 1, ok))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


try:
    for t in range(1, 6):
        put_l0(t)
    site = os.path.join(tmp, "site")
    os.makedirs(site)
    web = http.server.ThreadingHTTPServer(("127.0.0.1", H.free_port()),
                                          lambda *a, **k: Site(*a, directory=site, **k))
    threading.Thread(target=web.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{web.server_address[1]}"
    srv = Server(["--db", "live.db=" + db_dir, "--poll-interval", "200ms", "--read-token", "tok",
                  "--cors-origin", origin])
    ck.ok(srv.wait_ready(), "ready")
    with open(os.path.join(site, "index.html"), "w") as f:
        f.write(PAGE % {"base": srv.base})

    prof = os.path.join(tmp, "profile")
    r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        f"--user-data-dir={prof}", "--virtual-time-budget=20000", "--dump-dom",
                        origin + "/index.html"], capture_output=True, text=True, timeout=90)
    out = r.stdout
    line = next((x for x in out.splitlines() if "RESULT" in x or "ERROR" in x), out[-500:])
    print("browser:", line.strip()[:400])
    m = re.search(r"RESULT (\{.*\})", line)
    ck.ok(m is not None, "the page finished (CORS preflights and exposed headers worked)")
    if m:
        res = json.loads(m.group(1).replace("&quot;", '"'))
        t = int(res["txid"], 16)
        ck.eq(res["txids"], [res["txid"]], "every range came from the pinned TXID")
        ck.ok(all(s == 206 for s in res["statuses"]), f"all ranges 206 ({res['statuses']})")
        ck.eq(res["got"], res["total"], "the whole file assembled")
        ck.eq(res["sha"], states[t]["sha256"], f"bytes equal TXID {t}'s restore")
        ck.ok(res["etag"] and res["etag"].startswith('"%016x-f' % t), "ETag readable from script")
    ck.ok(len(commits) == 1 and commits[0][1], f"the writer committed while the browser read ({commits})")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None
finally:
    if web:
        web.shutdown()
    H.cleanup(tmp, srv)
ck.done()
