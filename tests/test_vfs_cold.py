"""Cold readers: the one-round-trip open (issue 12, client side).

Checks, on a database whose table and index have three-level b-trees:
 1. GET /{db}/pages?n=1&btree=B answers page 1, the schema b-tree, every
    table's and index's root and interior pages, no leaf below a root, each
    byte-equal to the local file, listed in Ltx-Pages in body order; a small
    budget caps what is added; without btree= no Ltx-Pages; btree=abc is 400;
 2. through the VFS, a new connection doing one rowid lookup or one index
    lookup makes 2 HTTP requests (open, leaf) and reads the right row;
    with open_btree=0 the same lookup needs more;
 3. the extension does not load libcurl for http:// (/proc/self/maps of a
    python3 that opened a database through it).
"""
import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_vfs_common as V  # noqa: E402
from test_vfs_common import harness  # noqa: E402

V.load_extension()
ck = harness.Checker("test_vfs_cold")
work = V.tmpdir("cold")
srv = None


def runs(text):
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


try:
    db = os.path.join(work, "c.db")
    src = sqlite3.connect(db)
    src.executescript("PRAGMA page_size=4096; CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB, k TEXT);"
                      "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<40000) "
                      "INSERT INTO t SELECT i, randomblob(150), printf('key%08d', i) FROM c;"
                      "CREATE INDEX tk ON t(k);")
    src.commit()
    roots = {n: r for n, r in src.execute("SELECT name, rootpage FROM sqlite_schema WHERE rootpage > 0")}
    src.close()
    rep = os.path.join(work, "rep", "c.db")
    subprocess.run([harness.binary("ltxctl"), "snapshot", db, rep], check=True, capture_output=True)
    srv = V.Server(dbs={"c.db": rep})
    srv.wait_db("c.db")
    with open(db, "rb") as f:
        local = f.read()
    ps = 4096

    def page(n):
        return local[(n - 1) * ps:n * ps]

    # ---- 1: the route
    st, hd, body = harness.http_get(f"{srv.url}/c.db/pages?n=1&btree=262144")
    ck.eq(st, 200, "btree= answer")
    pages = runs(hd.get("ltx-pages", "0"))
    ck.eq(len(body), len(pages) * ps, f"body holds the {len(pages)} pages listed")
    ck.eq(pages[0], 1, "page 1 first")
    for name, r in roots.items():
        ck.ok(r in pages, f"root of {name} (page {r}) sent")
    ck.ok(all(body[i * ps:(i + 1) * ps] == page(p) for i, p in enumerate(pages)), "pages equal the local file")
    leaves = [p for p in pages if p != 1 and p not in roots.values() and page(p)[0] not in (2, 5)]
    ck.eq(leaves, [], "no leaf page below a root")
    interior = [p for p in pages if p not in roots.values() and p != 1]
    ck.ok(len(interior) >= 2, f"interior pages below the roots sent ({len(interior)})")
    st, hd, body = harness.http_get(f"{srv.url}/c.db/pages?n=1&btree=8192")
    ck.ok(st == 200 and len(runs(hd.get("ltx-pages", "0"))) <= 3 and len(body) <= 3 * ps,
          f"btree=8192 adds at most 2 pages ({hd.get('ltx-pages')})")
    st, hd, body = harness.http_get(f"{srv.url}/c.db/pages?n=1")
    ck.ok(st == 200 and "ltx-pages" not in hd and len(body) == ps, "without btree=: page 1 alone, no Ltx-Pages")
    st, hd, body = harness.http_get(f"{srv.url}/c.db/pages?n=1&btree=abc")
    ck.eq(st, 400, "btree=abc is a bad request")

    # ---- 2: through the VFS
    def lookup(sql, arg, **params):
        c = V.connect(srv.url, "c.db", **params)
        got = c.execute(sql, (arg,)).fetchone()
        stats = c.execute("PRAGMA ltxhttp_stats").fetchone()[0]
        c.close()
        import json
        return got, json.loads(stats)["requests"]

    got, n = lookup("SELECT k FROM t WHERE id=?", 31234)
    ck.eq(got, ("key00031234",), "rowid lookup answer")
    ck.eq(n, 2, "rowid lookup on a new connection: 2 requests")
    got, n = lookup("SELECT id FROM t WHERE k=?", "key00012345")
    ck.eq(got, (12345,), "index lookup answer")
    ck.eq(n, 2, "index lookup on a new connection: 2 requests")
    got, n = lookup("SELECT k FROM t WHERE id=?", 31234, open_btree=0)
    ck.ok(got == ("key00031234",) and n > 2, f"open_btree=0: same answer, more requests ({n})")

    # ---- 3: no libcurl for http://
    code = (f"c = sqlite3.connect('file:c.db?vfs=ltxhttp&server={srv.url}', uri=True); "
            "c.execute('SELECT count(*) FROM sqlite_schema').fetchone(); "
            "print(any('libcurl' in l for l in open('/proc/self/maps')))")
    r = V.run_python(code)
    ck.eq(r.stdout.strip(), "False", f"libcurl not loaded for http:// ({r.stderr[-300:]})")
finally:
    if srv:
        srv.stop()
ck.done()
