// ltxhttp browser example: sql.js-httpvfs (vendor/, see vendor.sh) runs a
// query against a database served by ltxpaged, reading pages with HTTP
// range requests from a URL pinned at one TXID.
//
// ltxpaged on another origin must allow this page's origin:
//   ltxpaged --replica file:///srv/bucket --cors-origin http://127.0.0.1:8000
// The page writes the rows into #result (JSON) and, when ?report=PATH is
// given, POSTs {state, txid, url, result} there (the test suite uses it).
/* global createDbWorker */
"use strict";

(async function main() {
    const q = new URLSearchParams(location.search);
    const server = (q.get("server") || location.origin).replace(/\/+$/, "");
    const db = q.get("db") || "app.db";
    const sql = q.get("sql") || "select name, type from sqlite_master order by name";
    const out = document.getElementById("result");
    const say = (t) => { document.getElementById("status").textContent = t; };
    let txid = q.get("txid"), url = null;
    try {
        let pageSize = 4096;
        // the current TXID (and page size) from the database's status JSON
        const st = await fetch(`${server}/${encodeURIComponent(db)}`, { cache: "no-store" });
        if (!st.ok) throw new Error(`status of ${db}: HTTP ${st.status}`);
        const status = await st.json();
        if (!txid) txid = status.txid;
        if (!txid) throw new Error(`${db} has no TXID yet (state ${status.state})`);
        if (status.page_size) pageSize = status.page_size;
        url = `${server}/${encodeURIComponent(db)}/file?txid=${encodeURIComponent(txid)}&journal=delete`;
        document.getElementById("url").textContent = url;
        say(`opening ${db} at TXID ${txid}…`);
        const worker = await createDbWorker(
            [{ from: "inline", config: { serverMode: "full", url: url, requestChunkSize: pageSize } }],
            // absolute: the worker resolves relative URLs against its own
            new URL("vendor/sqlite.worker.js", location.href).href,
            new URL("vendor/sql-wasm.wasm", location.href).href);
        const rows = await worker.db.query(sql);
        renderTable(rows);
        out.textContent = JSON.stringify(rows);
        out.dataset.state = "done";
        const read = await worker.worker.bytesRead;
        say(`${rows.length} row(s) of ${db} at TXID ${txid}` + (read ? `; ${read} bytes read by range requests` : ""));
    } catch (e) {
        out.textContent = "error: " + (e && e.message ? e.message : String(e));
        out.dataset.state = "error";
        say("failed: " + out.textContent);
    }
    const report = q.get("report");
    if (report) {
        await fetch(report, {
            method: "POST",
            body: JSON.stringify({ state: out.dataset.state, txid: txid, url: url, result: out.textContent }),
        });
    }
})();

// rows (objects) as a table; text only, never HTML
function renderTable(rows) {
    const t = document.createElement("table");
    const cols = rows.length ? Object.keys(rows[0]) : [];
    const head = t.createTHead().insertRow();
    for (const c of cols) {
        const th = document.createElement("th");
        th.textContent = c;
        head.appendChild(th);
    }
    const body = t.createTBody();
    for (const r of rows) {
        const tr = body.insertRow();
        for (const c of cols) tr.insertCell().textContent = r[c] === null ? "NULL" : String(r[c]);
    }
    document.getElementById("table").replaceChildren(t);
}
