/* wire.h - HTTP API v1 constants shared by ltxpaged and the ltxhttp VFS.
 *
 * The routes themselves are documented in ../shared/docs/DESIGN.md
 * ("HTTP API v1"); this header pins the names and limits both sides use.
 * Header-only, no dependencies (the client VFS includes it too).
 */
#ifndef LTX_WIRE_H
#define LTX_WIRE_H

/* Response headers on every page/batch/file answer. */
#define LTXW_HDR_TXID      "Ltx-Txid"   /* snapshot served, 16 hex */
#define LTXW_HDR_COMMIT    "Ltx-Commit" /* database size in pages at that TXID */
#define LTXW_HDR_PAGE_SIZE "Ltx-Page-Size"
#define LTXW_HDR_TIMESTAMP "Ltx-Timestamp" /* RFC 3339 ms of that TXID */
#define LTXW_HDR_PAGES     "Ltx-Pages"     /* batch with btree=: the pages of the body, in order ("1,4-9") */

/* Query parameters. */
#define LTXW_Q_TXID    "txid"
#define LTXW_Q_PAGES   "n"
#define LTXW_Q_JOURNAL "journal"
#define LTXW_Q_SINCE   "since"
#define LTXW_Q_WAIT    "wait"
#define LTXW_Q_TIME    "time"  /* /{db}?time=RFC3339 resolves a time to a TXID */
#define LTXW_Q_BTREE   "btree" /* /{db}/pages?n=..&btree=BYTES: add b-tree interior pages */

/* Route segments after /{db}: GET /{db} (status), /{db}/pages/{n},
 * /{db}/pages?n=..., /{db}/changes?since=...&wait=... */
#define LTXW_SEG_PAGES   "pages"
#define LTXW_SEG_CHANGES "changes"

/* JSON fields of status and /changes answers, and of error bodies. */
#define LTXW_J_TXID      "txid"   /* "16 hex" */
#define LTXW_J_COMMIT    "commit" /* pages */
#define LTXW_J_PAGE_SIZE "page_size"
#define LTXW_J_PAGES     "pages" /* /changes: changed page numbers (or "a-b" ranges) */
#define LTXW_J_RESET     "reset" /* /changes: true when the client must drop its cache */
#define LTXW_J_ERROR     "error" /* error body: human text */
#define LTXW_J_CODE      "code"  /* error body: one of LTXW_E_* */

/* Writes (issue 11; /work/coord/write-api.md): POST /{db}/ltx?base=T with
 * one LTX file as the body and the write token; admin fork and rollback. */
#define LTXW_SEG_LTX           "ltx"
#define LTXW_Q_BASE            "base"            /* TXID the uploaded file was built on */
#define LTXW_Q_TO              "to"              /* fork: the new database's name */
#define LTXW_J_HOLDER          "holder"          /* lease_held: the lease owner */
#define LTXW_J_EXPIRES         "expires"         /* lease_held: RFC 3339 ms */
#define LTXW_J_LEASE           "lease"           /* status: {holder, expires, ours, generation} */
#define LTXW_E_TXID_CONFLICT   "txid_conflict"   /* 409 base is not the current TXID; "txid" = current */
#define LTXW_E_LEASE_HELD      "lease_held"      /* 409 another process holds the lease */
#define LTXW_E_BAD_LTX         "bad_ltx"         /* 400 body is not a valid LTX file */
#define LTXW_E_BODY_TOO_LARGE  "body_too_large"  /* 413 */
#define LTXW_E_LENGTH_REQUIRED "length_required" /* 411 */
#define LTXW_E_WRITES_DISABLED "writes_disabled" /* 403 no --write-token */
#define LTXW_E_DB_EXISTS       "db_exists"       /* 409 fork target exists */

/* Limits. */
#define LTXW_MAX_BATCH_PAGES  1024          /* pages in one /pages?n= request */
#define LTXW_MAX_WAIT_SECONDS 60            /* /changes long-poll cap */
#define LTXW_MAX_URL          2048          /* longer request targets get 414 */
#define LTXW_MAX_BTREE_BYTES  (1024 * 1024) /* btree= budget cap */
#define LTXW_MAX_BTREE_PAGES  256           /* pages btree= adds at most */
#define LTXW_MAX_DB_NAME      200

/* Reserved first path segments (never database names). */
#define LTXW_RESERVED_NAMES                           \
    {                                                 \
        "admin", "metrics", "healthz", "readyz", NULL \
    }

/* Error codes in {"error": "...", "code": "..."} bodies, with their status. */
#define LTXW_E_BAD_REQUEST     "bad_request"           /* 400 */
#define LTXW_E_BAD_PAGE        "bad_page"              /* 400 non-numeric or zero page */
#define LTXW_E_BAD_TXID        "bad_txid"              /* 400 */
#define LTXW_E_BAD_NAME        "bad_name"              /* 400 reserved / traversal name */
#define LTXW_E_UNAUTHORIZED    "unauthorized"          /* 401 */
#define LTXW_E_NO_SUCH_DB      "no_such_db"            /* 404 */
#define LTXW_E_PAGE_RANGE      "page_out_of_range"     /* 404 page beyond commit */
#define LTXW_E_NOT_FOUND       "not_found"             /* 404 unknown route */
#define LTXW_E_METHOD          "method_not_allowed"    /* 405 */
#define LTXW_E_TXID_AHEAD      "txid_ahead"            /* 409 TXID newer than the server has */
#define LTXW_E_TXID_GONE       "txid_gone"             /* 410 TXID no longer restorable */
#define LTXW_E_BATCH_TOO_LARGE "batch_too_large"       /* 413 */
#define LTXW_E_URI_TOO_LONG    "uri_too_long"          /* 414 */
#define LTXW_E_RANGE           "range_not_satisfiable" /* 416 */
#define LTXW_E_PRECONDITION    "precondition_failed"   /* 412 If-Match names another ETag */
#define LTXW_E_UNAVAILABLE     "unavailable"           /* 503 database waiting / not ready */
#define LTXW_E_UPSTREAM        "upstream_error"        /* 502 object store failed */
#define LTXW_E_INTERNAL        "internal"              /* 500 */

#endif /* LTX_WIRE_H */
