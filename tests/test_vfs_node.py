"""ltxhttp as the default VFS (issue 13) for a binding that cannot pass URI
filenames: Node's better-sqlite3 as shipped on npm (12.x; 13 needs a newer
Node), installed into a temporary folder at test time, loads libltxhttp.so
with LTXHTTP_DEFAULT_VFS=1 and opens a plain name ("app.db") on
LTXHTTP_SERVER, against the real ltxpaged.

Checks:
 1. with LTXHTTP_DEFAULT_VFS=1 the plain name opens the served database:
    every table equals the manifest's latest state, PRAGMA ltxhttp_txid
    answers, writes fail read-only; opened read-only and read-write alike;
 2. without it the same plain name is a local file (no such table), so the
    variable is what routes it;
 3. a bad setting in the environment fails the open with a message.
Skips (77) only when npm cannot reach its registry.
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_vfs_common as V  # noqa: E402
from test_vfs_common import harness  # noqa: E402

if harness.SANITIZE:
    V.skip("ASan build: an ASan-built libltxhttp.so cannot be loaded into node")
if not shutil.which("node") or not shutil.which("npm"):
    V.skip("node/npm not installed")

ck = harness.Checker("test_vfs_node")
work = V.tmpdir("node")
srv = None
SCRIPT = r"""
const Database = require('better-sqlite3');
const boot = new Database(':memory:');
boot.loadExtension(process.env.EXT);
boot.close();
const out = {};
try {
  const db = new Database('app.db', process.env.RO === '1' ? {readonly: true} : {});
  out.tables = {};
  for (const t of db.prepare("SELECT name, sql FROM sqlite_schema WHERE type='table' ORDER BY name").all())
    out.tables[t.name] = {sql: t.sql, rows: db.prepare(`SELECT * FROM "${t.name}"`).raw().all()};
  out.txid = db.pragma('ltxhttp_txid', {simple: true});
  try { db.exec("CREATE TABLE x(a)"); out.write = "accepted"; } catch (e) { out.write = e.message; }
  db.close();
} catch (e) {
  out.error = e.message;
}
console.log(JSON.stringify(out));
"""
try:
    ch = V.chain("main-4096")
    latest = ch["states"][-1]
    srv = V.Server(dbs={"app.db": harness.vec(ch["root"])})
    srv.wait_db("app.db")

    npm_env = dict(os.environ, npm_config_audit="false", npm_config_fund="false", npm_config_update_notifier="false")
    r = subprocess.run(["npm", "install", "--no-save", "better-sqlite3@12"], cwd=work, capture_output=True, text=True,
                       timeout=900, env=npm_env)
    if r.returncode != 0:
        ping = subprocess.run(["npm", "ping"], cwd=work, capture_output=True, text=True, timeout=120, env=npm_env)
        if ping.returncode != 0:
            V.skip(f"npm cannot reach its registry: {(ping.stderr or ping.stdout).strip()[-300:]}")
        ck.ok(False, f"npm install better-sqlite3@12 failed: {r.stderr[-1500:]}")
        ck.done()
    ver = json.load(open(os.path.join(work, "node_modules", "better-sqlite3", "package.json")))["version"]
    print(f"better-sqlite3 {ver} on node {subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}")
    with open(os.path.join(work, "t.js"), "w") as f:
        f.write(SCRIPT)

    # local rows as better-sqlite3 shows them (raw arrays; blobs as Buffer JSON)
    def want_tables():
        out = {}
        for name, sql, rows in V.state_dump(latest["source"]):
            out[name] = {"sql": sql, "rows": [[{"type": "Buffer", "data": list(v)} if isinstance(v, bytes) else v
                                               for v in row] for row in rows]}
        return out

    def run(extra, cwd):
        env = dict(os.environ, EXT=V.ext_path(), LTXHTTP_SERVER=srv.url, **extra)
        env.pop("LTXHTTP_DEFAULT_VFS", None) if "LTXHTTP_DEFAULT_VFS" not in extra else None
        p = subprocess.run(["node", os.path.join(work, "t.js")], cwd=cwd, capture_output=True, text=True, timeout=120,
                           env=env)
        try:
            return json.loads(p.stdout.strip().splitlines()[-1]), p.stderr
        except Exception:
            return {"error": f"node failed ({p.returncode}): {p.stdout[-300:]} {p.stderr[-600:]}"}, p.stderr

    want = want_tables()
    empty = os.path.join(work, "cwd")
    os.makedirs(empty)
    for ro in ("1", "0"):
        got, err = run({"LTXHTTP_DEFAULT_VFS": "1", "RO": ro}, empty)
        what = "readonly" if ro == "1" else "default options"
        ck.ok("error" not in got, f"{what}: plain name opened through ltxhttp ({got.get('error')})")
        ck.ok(got.get("tables") == want, f"{what}: every table equals the latest state")
        ck.eq(got.get("txid"), latest["txid"], f"{what}: PRAGMA ltxhttp_txid")
        ck.ok("readonly" in str(got.get("write")), f"{what}: writes refused: {got.get('write')!r}")
    ck.ok(not os.listdir(empty), f"no local file created ({os.listdir(empty)})")

    got, err = run({"RO": "0"}, empty)
    ck.ok(got.get("tables") == {} or "error" in got, f"without LTXHTTP_DEFAULT_VFS the name is a local file: {got}")
    shutil.rmtree(empty)
    os.makedirs(empty)
    got, err = run({"LTXHTTP_DEFAULT_VFS": "1", "LTXHTTP_CACHE_SIZE": "abc", "RO": "1"}, empty)
    ck.ok("error" in got and "bad cache_size 'abc'" in err, f"bad setting: {got} / {err.strip()!r}")
finally:
    harness.cleanup(work, srv)
ck.done()
