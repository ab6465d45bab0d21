/* ltxhttp.c - the `ltxhttp` SQLite VFS (see ltxhttp.h and docs/vfs.md).
 *
 * Model (DESIGN.md, "Client VFS model"):
 *  - the main database file is virtual: its pages come from ltxpaged over
 *    HTTP; journals, WAL and temp files go to the default VFS (and never
 *    exist for the main file, which is opened read-only);
 *  - xLock(SHARED) pins a TXID, every read of that transaction asks for it;
 *  - page 1 is shown in rollback-journal mode with a TXID-derived change
 *    counter, so SQLite drops its page cache exactly when the data changed;
 *  - one bounded page cache per (server, db, token) shared by all the
 *    connections of the process; each entry is valid for a TXID range; a
 *    watcher thread long-polls /changes and closes the ranges of changed
 *    pages (or drops everything on reset);
 *  - misses are fetched with read-ahead through the batch route; transient
 *    errors are retried with backoff within a bounded time.
 */
#if defined(LTXHTTP_LOADABLE)
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1
#else
#include <sqlite3.h>
#endif

#include "ltxhttp.h"
#include "../proto/wire.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Error messages are cut to fixed buffers on purpose. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

/* ---------------------------------------------------------------- defaults */

#define LH_DEFAULT_CACHE_BYTES (32L * 1024 * 1024)
#define LH_DEFAULT_TIMEOUT_MS 10000L
#define LH_DEFAULT_CONNECT_TIMEOUT_MS 2000L
#define LH_DEFAULT_RETRY_MS 3000L
#define LH_DEFAULT_READAHEAD 64
#define LH_DEFAULT_WAIT_S 25
/* Never silently stale: once the watcher has heard nothing for this long,
 * new read transactions fail instead of pinning the last TXID known. */
#define LH_DEFAULT_MAX_STALE_MS 30000L
#define LH_MIN_CACHE_PAGES 16
#define LH_NBUCKETS 4096
#define LH_MAX_JSON_BODY (16u * 1024 * 1024)
#define LH_URL_BUDGET (LTXW_MAX_URL - 256)
#define LH_ERRLEN 512
#define LH_MAX_PAGE 65536

/* ------------------------------------------------------------------ config */

typedef struct lh_cfg {
  char *server;            /* servers[cur] (not owned) */
  char *server_list;       /* as configured (part of the shared-cache key) */
  char **servers;          /* base URLs without trailing slash, rendezvous order */
  int nservers;
  int cur;                 /* server in use */
  int64_t failover_ms;     /* when we moved off servers[0] */
  size_t max_server_len;
  char *token;             /* bearer token or NULL */
  char *db;                /* database name on the server */
  long cache_bytes;
  long timeout_ms;
  long connect_timeout_ms;
  long retry_ms;
  int readahead;
  int wait_s;
  long max_stale_ms;       /* 0: off; else refuse to pin while the watcher fails longer (default 30 s) */
  int log;                 /* print errors to stderr */
} lh_cfg;

static void lh_cfg_free(lh_cfg *c) {
  for (int i = 0; i < c->nservers; i++) free(c->servers[i]);
  free(c->servers);
  free(c->server_list);
  free(c->token);
  free(c->db);
  memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------ HTTP helpers */

typedef struct lh_buf {
  unsigned char *p;
  size_t n, cap, max;
  int overflow;
} lh_buf;

typedef struct lh_resp {
  long status;
  CURLcode cc;
  uint64_t txid;
  int has_txid;
  int64_t commit;          /* -1 if absent */
  int64_t page_size;       /* -1 if absent */
  lh_buf body;
  char cerr[CURL_ERROR_SIZE];
} lh_resp;

static void lh_resp_init(lh_resp *r, size_t max) {
  memset(r, 0, sizeof *r);
  r->body.max = max;
  r->commit = -1;
  r->page_size = -1;
}

static void lh_resp_free(lh_resp *r) {
  free(r->body.p);
  r->body.p = NULL;
  r->body.n = r->body.cap = 0;
}

static void lh_resp_reset(lh_resp *r) {
  r->status = 0;
  r->cc = CURLE_OK;
  r->has_txid = 0;
  r->txid = 0;
  r->commit = -1;
  r->page_size = -1;
  r->body.n = 0;
  r->body.overflow = 0;
  r->cerr[0] = 0;
}

static size_t lh_write_cb(char *ptr, size_t sz, size_t nm, void *ud) {
  lh_buf *b = ud;
  size_t len = sz * nm;
  if (len > b->max - b->n) {
    b->overflow = 1;
    return 0;
  }
  if (b->n + len > b->cap) {
    size_t nc = b->cap ? b->cap : 16384;
    while (nc < b->n + len) nc *= 2;
    if (nc > b->max) nc = b->max;
    unsigned char *np = realloc(b->p, nc);
    if (!np) return 0;
    b->p = np;
    b->cap = nc;
  }
  memcpy(b->p + b->n, ptr, len);
  b->n += len;
  return len;
}

static int lh_parse_hex64(const char *s, size_t len, uint64_t *out) {
  if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s += 2;
    len -= 2;
  }
  if (len == 0 || len > 16) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    int d;
    if (ch >= '0' && ch <= '9') d = ch - '0';
    else if (ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
    else if (ch >= 'A' && ch <= 'F') d = ch - 'A' + 10;
    else return -1;
    v = (v << 4) | (uint64_t)d;
  }
  *out = v;
  return 0;
}

static size_t lh_header_cb(char *ptr, size_t sz, size_t nm, void *ud) {
  lh_resp *r = ud;
  size_t len = sz * nm;
  const char *colon = memchr(ptr, ':', len);
  if (!colon) return len;
  size_t nlen = (size_t)(colon - ptr);
  const char *v = colon + 1;
  const char *end = ptr + len;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
  size_t vlen = (size_t)(end - v);
  char num[32];
  if (nlen == strlen(LTXW_HDR_TXID) && strncasecmp(ptr, LTXW_HDR_TXID, nlen) == 0) {
    if (lh_parse_hex64(v, vlen, &r->txid) == 0) r->has_txid = 1;
  } else if ((nlen == strlen(LTXW_HDR_COMMIT) && strncasecmp(ptr, LTXW_HDR_COMMIT, nlen) == 0) ||
             (nlen == strlen(LTXW_HDR_PAGE_SIZE) && strncasecmp(ptr, LTXW_HDR_PAGE_SIZE, nlen) == 0)) {
    if (vlen == 0 || vlen >= sizeof num) return len;
    memcpy(num, v, vlen);
    num[vlen] = 0;
    char *e;
    errno = 0;
    long long x = strtoll(num, &e, 10);
    if (*e || errno || x < 0) return len;
    if (nlen == strlen(LTXW_HDR_COMMIT) && strncasecmp(ptr, LTXW_HDR_COMMIT, nlen) == 0) r->commit = x;
    else r->page_size = x;
  }
  return len;
}

static void lh_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int64_t lh_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pthread_once_t lh_curl_once = PTHREAD_ONCE_INIT;
static void lh_curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* A CURL easy handle with our fixed options; headers list is owned by caller. */
static CURL *lh_curl_new(const lh_cfg *c, struct curl_slist **hdrs) {
  pthread_once(&lh_curl_once, lh_curl_init);
  CURL *h = curl_easy_init();
  if (!h) return NULL;
  *hdrs = NULL;
  if (c->token && *c->token) {
    size_t n = strlen(c->token) + 32;
    char *line = malloc(n);
    if (!line) {
      curl_easy_cleanup(h);
      return NULL;
    }
    snprintf(line, n, "Authorization: Bearer %s", c->token);
    *hdrs = curl_slist_append(NULL, line);
    free(line);
    if (!*hdrs) {
      curl_easy_cleanup(h);
      return NULL;
    }
  }
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "ltxhttp-vfs/0.1");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, lh_write_cb);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, lh_header_cb);
  if (*hdrs) curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
  return h;
}

/* Point handle h at url, answer into r (emptied first). */
static void lh_http_prepare(CURL *h, const char *url, long timeout_ms, lh_resp *r) {
  lh_resp_reset(r);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->cerr);
}

/* One attempt. */
static void lh_http_once(CURL *h, const char *url, long timeout_ms, lh_resp *r) {
  lh_http_prepare(h, url, timeout_ms, r);
  r->cc = curl_easy_perform(h);
  if (r->cc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
}

static int lh_transient(const lh_resp *r) {
  switch (r->cc) {
  case CURLE_OK:
    return r->status == 500 || r->status == 502 || r->status == 503 || r->status == 504;
  case CURLE_COULDNT_CONNECT:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
    return 1;
  default:
    return 0;
  }
}

static int lh_resp_code_is(const lh_resp *r, const char *code);

#define LH_FAILBACK_MS 10000   /* retry the preferred server after this long */
#define LH_RETRY_409 1         /* a lagging server (409 txid_ahead) may catch up: retry */

static void lh_cfg_use(lh_cfg *c, int i) {
  if (i != c->cur && i != 0) c->failover_ms = lh_now_ms();
  c->cur = i;
  c->server = c->servers[i];
}

/* Before a request: go back to the preferred server some time after a
 * failover. Returns 1 if this request probes it. */
static int lh_cfg_failback(lh_cfg *c) {
  if (c->nservers > 1 && c->cur != 0 && lh_now_ms() - c->failover_ms > LH_FAILBACK_MS) {
    lh_cfg_use(c, 0);
    return 1;
  }
  return 0;
}

/* An answer that another server may not give: try the next one. */
static int lh_should_failover(const lh_resp *r, int flags) {
  if (lh_transient(r)) return 1;
  if (r->cc != CURLE_OK) return r->cc == CURLE_OPERATION_TIMEDOUT || r->cc == CURLE_COULDNT_RESOLVE_HOST;
  if ((flags & LH_RETRY_409) && r->status == 409) return 1;
  return r->status == 404 && lh_resp_code_is(r, LTXW_E_NO_SUCH_DB);
}

/* GET path (starting with '/') from the configured servers, in rendezvous
 * order starting at the one in use, retrying transient failures with backoff
 * within cfg->retry_ms (split between servers). The server that answered
 * stays in use. Returns 0 when an HTTP answer arrived (any status), -1 on
 * transport error. */
static int lh_http_get(CURL *h, lh_cfg *c, const char *path, lh_resp *r, unsigned *nreq, int flags) {
  int probe = lh_cfg_failback(c);
  long budget = c->nservers > 1 ? c->retry_ms / c->nservers : c->retry_ms;
  size_t cap = c->max_server_len + strlen(path) + 1;
  char *url = malloc(cap);
  if (!url) {
    lh_resp_reset(r);
    r->cc = CURLE_OUT_OF_MEMORY;
    return -1;
  }
  int start_idx = c->cur;
  for (int k = 0; k < c->nservers; k++) {
    int idx = (start_idx + k) % c->nservers;
    snprintf(url, cap, "%s%s", c->servers[idx], path);
    int64_t start = lh_now_ms();
    long backoff = 50;
    long my_budget = (probe && k == 0) ? 0 : budget;
    for (;;) {
      lh_http_once(h, url, c->timeout_ms, r);
      if (nreq) (*nreq)++;
      int again = lh_transient(r) || ((flags & LH_RETRY_409) && r->cc == CURLE_OK && r->status == 409);
      if (!again) break;
      if (lh_now_ms() - start + backoff > my_budget) break;
      lh_sleep_ms(backoff);
      backoff = backoff * 2 > 1000 ? 1000 : backoff * 2;
    }
    if (k == c->nservers - 1 || !lh_should_failover(r, flags)) {
      lh_cfg_use(c, idx);
      break;
    }
  }
  free(url);
  return r->cc == CURLE_OK ? 0 : -1;
}

/* "HTTP 404 no_such_db: ..." or the transport error text. */
static void lh_describe(const lh_resp *r, char *out, size_t n) {
  if (r->cc != CURLE_OK) {
    if (r->body.overflow)
      snprintf(out, n, "response too large");
    else
      snprintf(out, n, "%s", r->cerr[0] ? r->cerr : curl_easy_strerror(r->cc));
    return;
  }
  const char *code = NULL, *msg = NULL;
  json_t *j = NULL;
  if (r->body.n > 0 && r->body.n < 65536) j = json_loadb((const char *)r->body.p, r->body.n, 0, NULL);
  if (j && json_is_object(j)) {
    code = json_string_value(json_object_get(j, "code"));
    msg = json_string_value(json_object_get(j, "error"));
  }
  snprintf(out, n, "HTTP %ld%s%s%s%s", r->status, code ? " " : "", code ? code : "", msg ? ": " : "",
           msg ? msg : "");
  json_decref(j);
}

static int lh_resp_code_is(const lh_resp *r, const char *code) {
  if (r->body.n == 0 || r->body.n >= 65536) return 0;
  json_t *j = json_loadb((const char *)r->body.p, r->body.n, 0, NULL);
  const char *c = j ? json_string_value(json_object_get(j, "code")) : NULL;
  int eq = c && strcmp(c, code) == 0;
  json_decref(j);
  return eq;
}

/* Parse {"txid":"..","commit":N,"page_size":N,...}. */
static int lh_parse_state(json_t *j, uint64_t *txid, uint32_t *commit, uint32_t *ps) {
  if (!json_is_object(j)) return -1;
  const char *t = json_string_value(json_object_get(j, "txid"));
  json_t *cm = json_object_get(j, "commit");
  json_t *p = json_object_get(j, "page_size");
  *txid = 0;
  if (t && lh_parse_hex64(t, strlen(t), txid) != 0) return -1;
  if (!t && json_is_integer(json_object_get(j, "txid"))) *txid = (uint64_t)json_integer_value(json_object_get(j, "txid"));
  *commit = json_is_integer(cm) && json_integer_value(cm) >= 0 && json_integer_value(cm) <= UINT32_MAX
                ? (uint32_t)json_integer_value(cm) : 0;
  if (ps) {
    *ps = 0;
    if (json_is_integer(p)) {
      json_int_t v = json_integer_value(p);
      if (v >= 512 && v <= 65536 && (v & (v - 1)) == 0) *ps = (uint32_t)v;
    }
  }
  return 0;
}

/* --------------------------------------------------------- shared state */

typedef struct lh_entry {
  struct lh_entry *hnext, *lprev, *lnext;
  uint32_t pgno;
  int open;                /* valid from lo up to the shared known TXID */
  uint64_t lo, hi;
  unsigned char data[];
} lh_entry;

typedef struct lh_shared {
  struct lh_shared *next;
  int refs;
  char *key;
  lh_cfg cfg;              /* copy used by the watcher */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t known;          /* newest TXID the cache knows about */
  uint32_t commit;         /* its commit */
  uint32_t page_size;
  int ps_known;            /* 0 while the database had no TXID yet (4096 assumed) */
  lh_entry *buckets[LH_NBUCKETS];
  lh_entry lru;            /* sentinel: lnext = most recent */
  size_t npages, maxpages;
  uint64_t updates, resets, evictions;
  int stop;
  int th_ok;
  pthread_t th;
  CURLM *multi;
  char werr[LH_ERRLEN];
  int werr_logged;
  int64_t fail_since_ms;   /* watcher failing since (0: healthy) */
} lh_shared;

static pthread_mutex_t lh_reg_mu = PTHREAD_MUTEX_INITIALIZER;
static lh_shared *lh_reg;

static unsigned lh_bucket(uint32_t pgno) { return (pgno * 2654435761u) % LH_NBUCKETS; }

static void lh_lru_unlink(lh_entry *e) {
  e->lprev->lnext = e->lnext;
  e->lnext->lprev = e->lprev;
}

static void lh_lru_front(lh_shared *sh, lh_entry *e) {
  e->lnext = sh->lru.lnext;
  e->lprev = &sh->lru;
  sh->lru.lnext->lprev = e;
  sh->lru.lnext = e;
}

static void lh_entry_remove(lh_shared *sh, lh_entry *e) {
  lh_entry **pp = &sh->buckets[lh_bucket(e->pgno)];
  while (*pp && *pp != e) pp = &(*pp)->hnext;
  if (*pp) *pp = e->hnext;
  lh_lru_unlink(e);
  sh->npages--;
  free(e);
}

static void lh_cache_clear(lh_shared *sh) {
  while (sh->lru.lnext != &sh->lru) lh_entry_remove(sh, sh->lru.lnext);
}

/* Caller holds sh->mu. */
static lh_entry *lh_cache_find(lh_shared *sh, uint32_t pgno, uint64_t txid) {
  for (lh_entry *e = sh->buckets[lh_bucket(pgno)]; e; e = e->hnext) {
    if (e->pgno != pgno || txid < e->lo) continue;
    if (txid <= (e->open ? sh->known : e->hi)) return e;
  }
  return NULL;
}

/* Caller holds sh->mu. The page was read at txid. */
static void lh_cache_put(lh_shared *sh, uint32_t pgno, uint64_t txid, const unsigned char *data) {
  if (lh_cache_find(sh, pgno, txid)) return;
  while (sh->npages >= sh->maxpages && sh->lru.lprev != &sh->lru) {
    lh_entry_remove(sh, sh->lru.lprev);
    sh->evictions++;
  }
  lh_entry *e = malloc(sizeof *e + sh->page_size);
  if (!e) return;
  e->pgno = pgno;
  e->lo = e->hi = txid;
  e->open = (txid == sh->known);
  memcpy(e->data, data, sh->page_size);
  unsigned b = lh_bucket(pgno);
  e->hnext = sh->buckets[b];
  sh->buckets[b] = e;
  lh_lru_front(sh, e);
  sh->npages++;
}

/* Caller holds sh->mu: pgno changed after txid `upto`. */
static void lh_cache_close(lh_shared *sh, uint32_t pgno, uint64_t upto) {
  for (lh_entry *e = sh->buckets[lh_bucket(pgno)]; e; e = e->hnext)
    if (e->pgno == pgno && e->open) {
      e->open = 0;
      e->hi = upto;
    }
}

static void lh_log(int log, int rc, const char *msg) {
  sqlite3_log(rc, "ltxhttp: %s", msg);
  if (log) fprintf(stderr, "ltxhttp: %s\n", msg);
}

/* Apply a /changes answer (or a status after a reset). Caller holds mu.
 * Returns 1 if anything changed. */
static int lh_apply_changes(lh_shared *sh, uint64_t since, json_t *j) {
  uint64_t txid;
  uint32_t commit, ps;
  if (lh_parse_state(j, &txid, &commit, &ps) != 0) return 0;
  json_t *reset = json_object_get(j, "reset");
  int is_reset = json_is_true(reset) || since != sh->known || txid < since;
  if (!is_reset && txid == since) return 0; /* long-poll timed out, nothing new */
  if (is_reset) {
    lh_cache_clear(sh);
    sh->resets++;
  } else {
    json_t *pages = json_object_get(j, "pages");
    size_t i;
    json_t *v;
    if (!json_is_array(pages)) {
      lh_cache_clear(sh);
      sh->resets++;
    } else {
      json_array_foreach(pages, i, v) {
        if (json_is_integer(v)) {
          json_int_t p = json_integer_value(v);
          if (p > 0 && p <= UINT32_MAX) lh_cache_close(sh, (uint32_t)p, since);
        } else if (json_is_string(v)) { /* "a-b" range, tolerated */
          unsigned long a, b;
          if (sscanf(json_string_value(v), "%lu-%lu", &a, &b) == 2 && a > 0 && b >= a && b - a < 1000000)
            for (unsigned long p = a; p <= b; p++) lh_cache_close(sh, (uint32_t)p, since);
        }
      }
      if (commit < sh->commit) /* shrink: pages beyond the new end are gone */
        for (lh_entry *e = sh->lru.lnext; e != &sh->lru; e = e->lnext)
          if (e->open && e->pgno > commit) {
            e->open = 0;
            e->hi = since;
          }
    }
  }
  sh->known = txid;
  sh->commit = commit;
  /* The page size is fixed once known; a database that was empty (state
   * "waiting") when the first connection opened learns it now. */
  if (!sh->ps_known && ps && commit > 0 && sh->npages == 0) {
    sh->page_size = ps;
    sh->maxpages = (size_t)sh->cfg.cache_bytes / ps;
    if (sh->maxpages < LH_MIN_CACHE_PAGES) sh->maxpages = LH_MIN_CACHE_PAGES;
    sh->ps_known = 1;
  }
  sh->updates++;
  pthread_cond_broadcast(&sh->cv);
  return 1;
}

/* Run one request on the watcher's multi handle; returns -1 if stopped. */
static int lh_watch_perform(lh_shared *sh, CURL *h, const char *url, long timeout_ms, lh_resp *r) {
  lh_http_prepare(h, url, timeout_ms, r);
  if (curl_multi_add_handle(sh->multi, h) != CURLM_OK) {
    r->cc = CURLE_FAILED_INIT;
    return 0;
  }
  int running = 1, stopped = 0, connected = 0;
  r->cc = CURLE_OK;
  for (;;) {
    if (curl_multi_perform(sh->multi, &running) != CURLM_OK) {
      r->cc = CURLE_FAILED_INIT;
      break;
    }
    if (!running) break;
    /* A long poll that got connected means the server is back: the watcher
     * is healthy while it waits (for max_stale_ms and ltxhttp_error). */
    curl_off_t ct = 0;
    int now_connected = !connected && curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &ct) == CURLE_OK && ct > 0;
    pthread_mutex_lock(&sh->mu);
    if (now_connected) {
      connected = 1;
      sh->fail_since_ms = 0;
      sh->werr[0] = 0;
      sh->werr_logged = 0;
    }
    stopped = sh->stop;
    pthread_mutex_unlock(&sh->mu);
    if (stopped) break;
    if (curl_multi_poll(sh->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
      r->cc = CURLE_FAILED_INIT;
      break;
    }
  }
  CURLMsg *m;
  int q;
  while ((m = curl_multi_info_read(sh->multi, &q)))
    if (m->msg == CURLMSG_DONE) r->cc = m->data.result;
  curl_multi_remove_handle(sh->multi, h);
  if (stopped) return -1;
  if (r->cc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
  return 0;
}

/* Wait up to ms unless stopped; returns 1 if stopped. Caller holds mu. */
static int lh_watch_pause(lh_shared *sh, long ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  while (!sh->stop)
    if (pthread_cond_timedwait(&sh->cv, &sh->mu, &ts) == ETIMEDOUT) break;
  return sh->stop;
}

static void *lh_watcher(void *arg) {
  lh_shared *sh = arg;
  struct curl_slist *hdrs = NULL;
  CURL *h = lh_curl_new(&sh->cfg, &hdrs);
  char *edb = h ? curl_easy_escape(h, sh->cfg.db, 0) : NULL;
  size_t ulen = sh->cfg.max_server_len + (edb ? strlen(edb) : 0) + 128;
  char *url = malloc(ulen);
  lh_resp r;
  lh_resp_init(&r, LH_MAX_JSON_BODY);
  long backoff = 100;
  if (!h || !edb || !url) {
    pthread_mutex_lock(&sh->mu);
    snprintf(sh->werr, sizeof sh->werr, "watcher for %s: out of memory", sh->cfg.db);
    pthread_mutex_unlock(&sh->mu);
    goto out;
  }
  for (;;) {
    pthread_mutex_lock(&sh->mu);
    uint64_t since = sh->known;
    int stop = sh->stop;
    pthread_mutex_unlock(&sh->mu);
    if (stop) break;
    lh_cfg_failback(&sh->cfg);
    snprintf(url, ulen, "%s/%s/changes?%s=%016" PRIx64 "&%s=%d", sh->cfg.server, edb, LTXW_Q_SINCE, since, LTXW_Q_WAIT,
             sh->cfg.wait_s);
    int64_t t0 = lh_now_ms();
    if (lh_watch_perform(sh, h, url, (sh->cfg.wait_s + 15) * 1000L, &r) < 0) break;
    int ok = 0;
    if (r.cc == CURLE_OK && r.status == 200) {
      json_t *j = json_loadb((const char *)r.body.p, r.body.n, 0, NULL);
      if (j && json_is_object(j)) {
        pthread_mutex_lock(&sh->mu);
        int changed = lh_apply_changes(sh, since, j);
        sh->werr[0] = 0;
        sh->werr_logged = 0;
        sh->fail_since_ms = 0;
        /* Nothing new and no long poll (a server that does not wait): don't spin. */
        int stopped = !changed && lh_now_ms() - t0 < 100 && lh_watch_pause(sh, 250);
        pthread_mutex_unlock(&sh->mu);
        if (stopped) {
          json_decref(j);
          break;
        }
        ok = 1;
      }
      json_decref(j);
    } else if (r.cc == CURLE_OK && (r.status == 410 || (r.status == 409 && sh->cfg.nservers == 1))) {
      /* The server forgot our TXID, or (the only server) is behind us, e.g.
       * restarted on an older replica: start over from its state. With
       * several servers a 409 is a lagging one: try the next, below. */
      snprintf(url, ulen, "%s/%s", sh->cfg.server, edb);
      if (lh_watch_perform(sh, h, url, sh->cfg.timeout_ms, &r) < 0) break;
      if (r.cc == CURLE_OK && r.status == 200) {
        json_t *j = json_loadb((const char *)r.body.p, r.body.n, 0, NULL);
        if (j && json_is_object(j)) {
          json_object_set_new(j, "reset", json_true());
          pthread_mutex_lock(&sh->mu);
          lh_apply_changes(sh, since, j);
          sh->fail_since_ms = 0;
          pthread_mutex_unlock(&sh->mu);
          ok = 1;
        }
        json_decref(j);
      }
    }
    if (ok) {
      backoff = 100;
      continue;
    }
    char msg[LH_ERRLEN], full[LH_ERRLEN + 256];
    lh_describe(&r, msg, sizeof msg);
    if (sh->cfg.nservers > 1 && (lh_should_failover(&r, LH_RETRY_409) || r.cc != CURLE_OK)) {
      pthread_mutex_lock(&sh->mu);
      lh_cfg_use(&sh->cfg, (sh->cfg.cur + 1) % sh->cfg.nservers);
      pthread_mutex_unlock(&sh->mu);
    }
    snprintf(full, sizeof full, "watching %s/%s: %s (retrying)", sh->cfg.server, sh->cfg.db, msg);
    pthread_mutex_lock(&sh->mu);
    snprintf(sh->werr, sizeof sh->werr, "%s", full);
    if (!sh->fail_since_ms) sh->fail_since_ms = lh_now_ms();
    int log_now = !sh->werr_logged;
    sh->werr_logged = 1;
    pthread_mutex_unlock(&sh->mu);
    if (log_now) sqlite3_log(SQLITE_WARNING, "ltxhttp: %s", full);
    pthread_mutex_lock(&sh->mu);
    int stopped = lh_watch_pause(sh, backoff);
    pthread_mutex_unlock(&sh->mu);
    if (stopped) break;
    backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
  }
out:
  lh_resp_free(&r);
  free(url);
  if (edb) curl_free(edb);
  if (h) curl_easy_cleanup(h);
  curl_slist_free_all(hdrs);
  return NULL;
}

static char *lh_strdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static int lh_cfg_copy(lh_cfg *d, const lh_cfg *c) {
  *d = *c;
  d->servers = NULL;
  d->nservers = 0;
  d->server_list = lh_strdup(c->server_list);
  d->db = lh_strdup(c->db);
  d->token = lh_strdup(c->token);
  d->servers = calloc((size_t)c->nservers, sizeof *d->servers);
  if (!d->server_list || !d->db || (c->token && !d->token) || !d->servers) return -1;
  for (int i = 0; i < c->nservers; i++) {
    if (!(d->servers[i] = lh_strdup(c->servers[i]))) return -1;
    d->nservers = i + 1;
  }
  d->server = d->servers[c->cur];
  return 0;
}

static void lh_shared_destroy(lh_shared *sh) {
  if (sh->th_ok) {
    pthread_mutex_lock(&sh->mu);
    sh->stop = 1;
    if (sh->multi) curl_multi_wakeup(sh->multi);
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
    pthread_join(sh->th, NULL);
  }
  if (sh->multi) curl_multi_cleanup(sh->multi);
  lh_cache_clear(sh);
  pthread_mutex_destroy(&sh->mu);
  pthread_cond_destroy(&sh->cv);
  lh_cfg_free(&sh->cfg);
  free(sh->key);
  free(sh);
}

/* Find or create the shared state; a new one starts at the given state. */
static lh_shared *lh_shared_acquire(const lh_cfg *c, uint64_t txid, uint32_t commit, uint32_t ps) {
  size_t klen = strlen(c->server_list) + strlen(c->db) + (c->token ? strlen(c->token) : 0) + 4;
  char *key = malloc(klen);
  if (!key) return NULL;
  snprintf(key, klen, "%s\n%s\n%s", c->server_list, c->db, c->token ? c->token : "");
  pthread_mutex_lock(&lh_reg_mu);
  for (lh_shared *s = lh_reg; s; s = s->next)
    if (strcmp(s->key, key) == 0) {
      s->refs++;
      pthread_mutex_unlock(&lh_reg_mu);
      free(key);
      return s;
    }
  lh_shared *sh = calloc(1, sizeof *sh);
  if (!sh) goto fail;
  sh->key = key;
  key = NULL;
  sh->refs = 1;
  pthread_mutex_init(&sh->mu, NULL);
  pthread_cond_init(&sh->cv, NULL);
  sh->lru.lnext = sh->lru.lprev = &sh->lru;
  if (lh_cfg_copy(&sh->cfg, c) != 0) {
    lh_shared_destroy(sh);
    sh = NULL;
    goto fail;
  }
  sh->known = txid;
  sh->commit = commit;
  sh->page_size = ps ? ps : 4096;
  sh->ps_known = ps != 0;
  sh->maxpages = (size_t)c->cache_bytes / sh->page_size;
  if (sh->maxpages < LH_MIN_CACHE_PAGES) sh->maxpages = LH_MIN_CACHE_PAGES;
  sh->multi = curl_multi_init();
  if (!sh->multi) {
    lh_shared_destroy(sh);
    sh = NULL;
    goto fail;
  }
  if (pthread_create(&sh->th, NULL, lh_watcher, sh) != 0) {
    lh_shared_destroy(sh);
    sh = NULL;
    goto fail;
  }
  sh->th_ok = 1;
  sh->next = lh_reg;
  lh_reg = sh;
  pthread_mutex_unlock(&lh_reg_mu);
  return sh;
fail:
  pthread_mutex_unlock(&lh_reg_mu);
  free(key);
  return NULL;
}

static void lh_shared_release(lh_shared *sh) {
  pthread_mutex_lock(&lh_reg_mu);
  if (--sh->refs > 0) {
    pthread_mutex_unlock(&lh_reg_mu);
    return;
  }
  for (lh_shared **pp = &lh_reg; *pp; pp = &(*pp)->next)
    if (*pp == sh) {
      *pp = sh->next;
      break;
    }
  pthread_mutex_unlock(&lh_reg_mu);
  lh_shared_destroy(sh);
}

/* -------------------------------------------------------------- the file */

typedef struct lh_file {
  sqlite3_file base;
  lh_shared *sh;
  lh_cfg cfg;
  CURL *h;
  struct curl_slist *hdrs;
  char *edb;               /* URL-escaped db name */
  char *url;
  size_t urlcap;
  lh_resp resp;
  int lock;
  pid_t pid;               /* process that opened it (no use across fork) */
  uint64_t pin_txid;       /* valid while lock >= SHARED */
  uint32_t pin_commit;
  int fixed;               /* time travel: next transactions use fixed_txid */
  uint64_t fixed_txid;
  uint32_t fixed_commit;
  char *fixed_time;        /* as given to ltxhttp_time, or NULL */
  uint32_t last_pgno;
  int run;                 /* consecutive sequential page reads */
  unsigned char *page;     /* one page scratch */
  uint64_t hits, misses, requests, bytes, readahead, errors;
  char err[LH_ERRLEN];
} lh_file;

static sqlite3_vfs lh_vfs;
static sqlite3_vfs *lh_base;   /* the default VFS we delegate to */

static int lh_fail(lh_file *f, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->err, sizeof f->err, fmt, ap);
  va_end(ap);
  f->errors++;
  lh_log(f->cfg.log && rc != SQLITE_ERROR, rc, f->err); /* SQLITE_ERROR: message returned to SQL */
  return rc;
}

static const char *lh_build_url(lh_file *f, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(f->url, f->urlcap, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    if ((size_t)n < f->urlcap) return f->url;
    size_t nc = (size_t)n + 64;
    char *np = realloc(f->url, nc);
    if (!np) return NULL;
    f->url = np;
    f->urlcap = nc;
  }
}

static void lh_view(lh_file *f, uint64_t *txid, uint32_t *commit, uint32_t *ps) {
  pthread_mutex_lock(&f->sh->mu);
  if (f->lock >= SQLITE_LOCK_SHARED) {
    *txid = f->pin_txid;
    *commit = f->pin_commit;
  } else if (f->fixed) {
    *txid = f->fixed_txid;
    *commit = f->fixed_commit;
  } else {
    *txid = f->sh->known;
    *commit = f->sh->commit;
  }
  if (ps) *ps = f->sh->page_size;
  pthread_mutex_unlock(&f->sh->mu);
}

static void lh_put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

/* Page 1 as SQLite must see it: rollback-journal mode, change counter and
 * version-valid-for derived from the TXID, in-header size = commit. */
static void lh_patch_page1(unsigned char *p, uint32_t ps, uint64_t txid, uint32_t commit) {
  if (ps < 100) return;
  p[18] = 1;
  p[19] = 1;
  lh_put_be32(p + 24, (uint32_t)txid);
  lh_put_be32(p + 28, commit);
  lh_put_be32(p + 92, (uint32_t)txid);
}

/* One GET into f->resp (body capped at max bytes), counted in the file's
 * request and byte totals. Returns 1 when a 200 arrived. */
static int lh_file_get(lh_file *f, const char *url, size_t max, int flags) {
  f->resp.body.max = max;
  unsigned nreq = 0;
  lh_http_get(f->h, &f->cfg, url, &f->resp, &nreq, flags);
  f->requests += nreq;
  f->bytes += f->resp.body.n;
  return f->resp.cc == CURLE_OK && f->resp.status == 200;
}

static int lh_status_error(lh_file *f, const lh_resp *r, uint64_t txid, const char *what) {
  char d[LH_ERRLEN];
  lh_describe(r, d, sizeof d);
  if (r->cc == CURLE_OK && r->status == 410)
    return lh_fail(f, LTXHTTP_IOERR_TXID_GONE,
                   "snapshot TXID %016" PRIx64 " of %s is no longer served by %s (%s); reopen or use a newer TXID",
                   txid, f->cfg.db, f->cfg.server, d);
  if (r->cc == CURLE_OK && r->status == 409)
    return lh_fail(f, LTXHTTP_IOERR_TXID_AHEAD, "snapshot TXID %016" PRIx64 " of %s is newer than %s has (%s)", txid,
                   f->cfg.db, f->cfg.server, d);
  return lh_fail(f, LTXHTTP_IOERR_SERVER, "%s of %s at TXID %016" PRIx64 " from %s failed: %s", what, f->cfg.db, txid,
                 f->cfg.server, d);
}

/* Fetch page pgno at txid into f->page, with read-ahead. */
static int lh_get_page(lh_file *f, uint64_t txid, uint32_t commit, uint32_t ps, uint32_t pgno) {
  lh_shared *sh = f->sh;
  if (pgno == f->last_pgno + 1) f->run++;
  else if (pgno != f->last_pgno) f->run = 0;
  f->last_pgno = pgno;

  pthread_mutex_lock(&sh->mu);
  if (sh->page_size != ps) {
    pthread_mutex_unlock(&sh->mu);
    return lh_fail(f, LTXHTTP_IOERR_SERVER, "page size of %s changed during a transaction; retry it", f->cfg.db);
  }
  lh_entry *e = lh_cache_find(sh, pgno, txid);
  if (e) {
    memcpy(f->page, e->data, ps);
    lh_lru_unlink(e);
    lh_lru_front(sh, e);
    pthread_mutex_unlock(&sh->mu);
    f->hits++;
    return SQLITE_OK;
  }
  /* Miss: this page plus up to `ra` following uncached pages. */
  int ra = 0;
  if (f->run >= 1 && f->cfg.readahead > 0) {
    int sh_ = f->run + 1 > 10 ? 10 : f->run + 1;
    ra = 1 << sh_;
    if (ra > f->cfg.readahead) ra = f->cfg.readahead;
  }
  /* Page 1 is read first by every new view: the schema and the roots of
   * small tables usually follow it, so fetch them in the same request. */
  if (pgno == 1) ra = f->cfg.readahead;
  if (ra > LTXW_MAX_BATCH_PAGES - 1) ra = LTXW_MAX_BATCH_PAGES - 1;
  uint32_t list[LTXW_MAX_BATCH_PAGES];
  int n = 0;
  list[n++] = pgno;
  uint32_t scan_end = commit;   /* look at most 4*ra pages ahead for uncached ones */
  if ((uint64_t)pgno + 4u * (uint32_t)ra < scan_end) scan_end = pgno + 4u * (uint32_t)ra;
  for (uint32_t p = pgno + 1; n <= ra && p <= scan_end && p > pgno; p++)
    if (!lh_cache_find(sh, p, txid)) list[n++] = p;
  pthread_mutex_unlock(&sh->mu);
  f->misses++;

  /* Request target: /db/pages/N or /db/pages?n=a-b,c,... (runs as ranges). */
  const char *url;
  if (n == 1) {
    url = lh_build_url(f, "/%s/pages/%" PRIu32 "?%s=%016" PRIx64, f->edb, pgno, LTXW_Q_TXID, txid);
  } else {
    char nlist[LH_URL_BUDGET];
    size_t len = 0;
    int used = 0;
    for (int i = 0; i < n;) {
      int j = i;
      while (j + 1 < n && list[j + 1] == list[j] + 1) j++;
      char piece[32];
      int pl = j > i ? snprintf(piece, sizeof piece, "%s%" PRIu32 "-%" PRIu32, len ? "," : "", list[i], list[j])
                     : snprintf(piece, sizeof piece, "%s%" PRIu32, len ? "," : "", list[i]);
      if (len + (size_t)pl + f->cfg.max_server_len + strlen(f->edb) + 64 >= sizeof nlist) break;
      memcpy(nlist + len, piece, (size_t)pl);
      len += (size_t)pl;
      used = j + 1;
      i = j + 1;
    }
    nlist[len] = 0;
    n = used;
    url = lh_build_url(f, "/%s/pages?%s=%s&%s=%016" PRIx64, f->edb, LTXW_Q_PAGES, nlist, LTXW_Q_TXID,
                       txid);
  }
  if (!url) return SQLITE_IOERR_NOMEM;
  if (!lh_file_get(f, url, (size_t)n * ps + 1, LH_RETRY_409)) {
    if (f->resp.cc == CURLE_OK && f->resp.status == 404 && lh_resp_code_is(&f->resp, LTXW_E_PAGE_RANGE) && n == 1) {
      memset(f->page, 0, ps);
      return SQLITE_IOERR_SHORT_READ;
    }
    return lh_status_error(f, &f->resp, txid, "reading pages");
  }
  if (f->resp.body.n != (size_t)n * ps)
    return lh_fail(f, LTXHTTP_IOERR_SERVER, "reading %d page(s) of %s at TXID %016" PRIx64 ": got %zu bytes, want %zu",
                   n, f->cfg.db, txid, f->resp.body.n, (size_t)n * ps);
  if (f->resp.has_txid && f->resp.txid != txid)
    return lh_fail(f, LTXHTTP_IOERR_SERVER, "asked %s for TXID %016" PRIx64 " but got %016" PRIx64, f->cfg.server, txid,
                   f->resp.txid);
  if (f->resp.page_size > 0 && (uint32_t)f->resp.page_size != ps)
    return lh_fail(f, LTXHTTP_IOERR_SERVER, "page size of %s changed from %u to %" PRId64, f->cfg.db, ps,
                   f->resp.page_size);
  pthread_mutex_lock(&sh->mu);
  if (sh->page_size == ps)
    for (int i = 0; i < n; i++) lh_cache_put(sh, list[i], txid, f->resp.body.p + (size_t)i * ps);
  pthread_mutex_unlock(&sh->mu);
  f->readahead += (uint64_t)(n - 1);
  memcpy(f->page, f->resp.body.p, ps);
  return SQLITE_OK;
}

static int lhClose(sqlite3_file *pf) {
  lh_file *f = (lh_file *)pf;
  if (f->sh) lh_shared_release(f->sh);
  if (f->h) curl_easy_cleanup(f->h);
  curl_slist_free_all(f->hdrs);
  if (f->edb) curl_free(f->edb);
  lh_resp_free(&f->resp);
  free(f->url);
  free(f->page);
  free(f->fixed_time);
  lh_cfg_free(&f->cfg);
  f->base.pMethods = NULL;
  return SQLITE_OK;
}

static int lhRead(sqlite3_file *pf, void *buf, int amt, sqlite3_int64 off) {
  lh_file *f = (lh_file *)pf;
  uint64_t txid;
  uint32_t commit, ps;
  lh_view(f, &txid, &commit, &ps);
  unsigned char *out = buf;
  if (amt < 0 || off < 0) return SQLITE_IOERR_READ;
  sqlite3_int64 end = off + amt, pos = off;
  while (pos < end) {
    uint64_t pg = (uint64_t)(pos / ps) + 1;
    size_t in = (size_t)(pos % ps);
    size_t take = ps - in;
    if ((sqlite3_int64)take > end - pos) take = (size_t)(end - pos);
    if (pg > commit) {
      memset(out + (pos - off), 0, (size_t)(end - pos));
      return SQLITE_IOERR_SHORT_READ;
    }
    int rc = lh_get_page(f, txid, commit, ps, (uint32_t)pg);
    if (rc == SQLITE_IOERR_SHORT_READ) {
      memset(out + (pos - off), 0, (size_t)(end - pos));
      return rc;
    }
    if (rc != SQLITE_OK) return rc;
    if (pg == 1) lh_patch_page1(f->page, ps, txid, commit);
    memcpy(out + (pos - off), f->page + in, take);
    pos += (sqlite3_int64)take;
  }
  return SQLITE_OK;
}

static int lhWrite(sqlite3_file *pf, const void *b, int n, sqlite3_int64 o) {
  (void)pf, (void)b, (void)n, (void)o;
  return SQLITE_READONLY;
}
static int lhTruncate(sqlite3_file *pf, sqlite3_int64 size) {
  (void)pf, (void)size;
  return SQLITE_READONLY;
}
static int lhSync(sqlite3_file *pf, int flags) {
  (void)pf, (void)flags;
  return SQLITE_OK;
}

static int lhFileSize(sqlite3_file *pf, sqlite3_int64 *size) {
  lh_file *f = (lh_file *)pf;
  uint64_t txid;
  uint32_t commit, ps;
  lh_view(f, &txid, &commit, &ps);
  *size = (sqlite3_int64)commit * ps;
  return SQLITE_OK;
}

static int lhLock(sqlite3_file *pf, int level) {
  lh_file *f = (lh_file *)pf;
  if (level > SQLITE_LOCK_SHARED) return SQLITE_READONLY;
  if (f->pid != getpid()) /* the watcher thread did not survive fork(): data would go stale */
    return lh_fail(f, SQLITE_IOERR_LOCK, "connection to %s opened in process %ld used in process %ld after fork(); open "
                   "it again in this process", f->cfg.db, (long)f->pid, (long)getpid());
  if (level == SQLITE_LOCK_SHARED && f->lock < SQLITE_LOCK_SHARED) {
    if (f->fixed) {
      f->pin_txid = f->fixed_txid;
      f->pin_commit = f->fixed_commit;
    } else {
      pthread_mutex_lock(&f->sh->mu);
      int64_t failing = f->sh->fail_since_ms ? lh_now_ms() - f->sh->fail_since_ms : 0;
      if (f->cfg.max_stale_ms > 0 && failing > f->cfg.max_stale_ms) {
        char w[LH_ERRLEN];
        snprintf(w, sizeof w, "%s", f->sh->werr);
        pthread_mutex_unlock(&f->sh->mu);
        return lh_fail(f, SQLITE_IOERR_LOCK,
                       "no news about %s for %lld ms (max_stale_ms=%ld): not starting a possibly stale read; %s",
                       f->cfg.db, (long long)failing, f->cfg.max_stale_ms, w);
      }
      f->pin_txid = f->sh->known;
      f->pin_commit = f->sh->commit;
      pthread_mutex_unlock(&f->sh->mu);
    }
    f->lock = SQLITE_LOCK_SHARED;
  }
  return SQLITE_OK;
}

static int lhUnlock(sqlite3_file *pf, int level) {
  lh_file *f = (lh_file *)pf;
  if (level < f->lock) f->lock = level;
  return SQLITE_OK;
}

static int lhCheckReservedLock(sqlite3_file *pf, int *res) {
  (void)pf;
  *res = 0;
  return SQLITE_OK;
}

/* Resolve a TXID on the server (page 1 at that TXID gives its commit). */
static int lh_resolve_txid(lh_file *f, uint64_t txid, uint32_t *commit) {
  const char *url = lh_build_url(f, "/%s/pages/1?%s=%016" PRIx64, f->edb, LTXW_Q_TXID, txid);
  if (!url) return SQLITE_NOMEM;
  pthread_mutex_lock(&f->sh->mu);
  uint32_t ps = f->sh->page_size;
  pthread_mutex_unlock(&f->sh->mu);
  if (!lh_file_get(f, url, (size_t)ps + 1, 0)) {
    char d[LH_ERRLEN];
    lh_describe(&f->resp, d, sizeof d);
    if (f->resp.cc == CURLE_OK && f->resp.status == 410)
      return lh_fail(f, SQLITE_ERROR, "TXID %016" PRIx64 " of %s is not served by %s (%s)", txid, f->cfg.db,
                     f->cfg.server, d);
    if (f->resp.cc == CURLE_OK && f->resp.status == 409)
      return lh_fail(f, SQLITE_ERROR, "TXID %016" PRIx64 " of %s is newer than %s has (%s)", txid, f->cfg.db,
                     f->cfg.server, d);
    return lh_fail(f, SQLITE_ERROR, "resolving TXID %016" PRIx64 " of %s on %s: %s", txid, f->cfg.db, f->cfg.server,
                   d);
  }
  if (f->resp.commit < 0 || f->resp.commit > UINT32_MAX || f->resp.body.n != ps)
    return lh_fail(f, SQLITE_ERROR, "resolving TXID %016" PRIx64 " of %s: answer lacks %s or has a wrong size", txid,
                   f->cfg.db, LTXW_HDR_COMMIT);
  *commit = (uint32_t)f->resp.commit;
  pthread_mutex_lock(&f->sh->mu);
  if (f->sh->page_size == ps) lh_cache_put(f->sh, 1, txid, f->resp.body.p);
  pthread_mutex_unlock(&f->sh->mu);
  return SQLITE_OK;
}

static int lh_resolve_time(lh_file *f, const char *when, uint64_t *txid, uint32_t *commit) {
  char *ew = curl_easy_escape(f->h, when, 0);
  if (!ew) return SQLITE_NOMEM;
  const char *url = lh_build_url(f, "/%s?%s=%s", f->edb, LTXW_Q_TIME, ew);
  curl_free(ew);
  if (!url) return SQLITE_NOMEM;
  if (!lh_file_get(f, url, LH_MAX_JSON_BODY, 0)) {
    char d[LH_ERRLEN];
    lh_describe(&f->resp, d, sizeof d);
    if (f->resp.cc == CURLE_OK && f->resp.status == 410)
      return lh_fail(f, SQLITE_ERROR, "no TXID of %s at or before %s can be served by %s (%s)", f->cfg.db, when,
                     f->cfg.server, d);
    return lh_fail(f, SQLITE_ERROR, "resolving time %s of %s on %s: %s", when, f->cfg.db, f->cfg.server, d);
  }
  json_t *j = json_loadb((const char *)f->resp.body.p, f->resp.body.n, 0, NULL);
  int bad = lh_parse_state(j, txid, commit, NULL) != 0 || *txid == 0;
  json_decref(j);
  if (bad) return lh_fail(f, SQLITE_ERROR, "resolving time %s of %s: unexpected answer", when, f->cfg.db);
  return SQLITE_OK;
}

static int lh_is_latest(const char *v) {
  return !v || !*v || strcasecmp(v, "latest") == 0 || strcmp(v, "0") == 0 || strcasecmp(v, "now") == 0;
}

static int lh_set_txid(lh_file *f, const char *v) {
  if (lh_is_latest(v)) {
    f->fixed = 0;
    free(f->fixed_time);
    f->fixed_time = NULL;
    return SQLITE_OK;
  }
  uint64_t t;
  if (lh_parse_hex64(v, strlen(v), &t) != 0)
    return lh_fail(f, SQLITE_ERROR, "bad TXID '%s': want up to 16 hex digits (quote it), or 'latest'", v);
  if (t == 0) {
    f->fixed = 0;
    return SQLITE_OK;
  }
  uint32_t commit;
  int rc = lh_resolve_txid(f, t, &commit);
  if (rc != SQLITE_OK) return rc;
  f->fixed = 1;
  f->fixed_txid = t;
  f->fixed_commit = commit;
  free(f->fixed_time);
  f->fixed_time = NULL;
  return SQLITE_OK;
}

static int lh_set_time(lh_file *f, const char *v) {
  if (lh_is_latest(v)) return lh_set_txid(f, NULL);
  uint64_t t;
  uint32_t commit;
  int rc = lh_resolve_time(f, v, &t, &commit);
  if (rc != SQLITE_OK) return rc;
  f->fixed = 1;
  f->fixed_txid = t;
  f->fixed_commit = commit;
  free(f->fixed_time);
  f->fixed_time = lh_strdup(v);
  return SQLITE_OK;
}

/* PRAGMA answer with the TXID this connection reads now; if set is given, it
 * first applies val (failure: the error text is the answer, SQLITE_ERROR). */
static int lh_pragma_txid(lh_file *f, char **az, int (*set)(lh_file *, const char *), const char *val) {
  uint64_t txid;
  uint32_t commit;
  if (set) {
    int rc = set(f, val);
    if (rc != SQLITE_OK) {
      az[0] = sqlite3_mprintf("ltxhttp: %s", f->err);
      return SQLITE_ERROR;
    }
  }
  lh_view(f, &txid, &commit, NULL);
  az[0] = sqlite3_mprintf("%016llx", (unsigned long long)txid);
  return SQLITE_OK;
}

static int lh_pragma(lh_file *f, char **az) {
  const char *name = az[1], *val = az[2];
  uint64_t txid;
  uint32_t commit;
  if (strcasecmp(name, "ltxhttp_txid") == 0)
    return lh_pragma_txid(f, az, val ? lh_set_txid : NULL, val);
  if (strcasecmp(name, "ltxhttp_time") == 0) {
    if (val)
      return lh_pragma_txid(f, az, lh_set_time, val);
    az[0] = sqlite3_mprintf("%s", f->fixed_time ? f->fixed_time : (f->fixed ? "txid" : "latest"));
    return SQLITE_OK;
  }
  if (strcasecmp(name, "ltxhttp_stats") == 0) {
    lh_shared *sh = f->sh;
    lh_view(f, &txid, &commit, NULL);
    pthread_mutex_lock(&sh->mu);
    az[0] = sqlite3_mprintf(
        "{\"txid\":\"%016llx\",\"commit\":%u,\"page_size\":%u,\"hits\":%llu,\"misses\":%llu,\"requests\":%llu,"
        "\"bytes\":%llu,\"readahead_pages\":%llu,\"errors\":%llu,\"cache_pages\":%llu,\"cache_max_pages\":%llu,"
        "\"evictions\":%llu,\"latest_txid\":\"%016llx\",\"watch_updates\":%llu,\"watch_resets\":%llu,"
        "\"connections\":%d}",
        (unsigned long long)txid, commit, sh->page_size, (unsigned long long)f->hits, (unsigned long long)f->misses,
        (unsigned long long)f->requests, (unsigned long long)f->bytes, (unsigned long long)f->readahead,
        (unsigned long long)f->errors, (unsigned long long)sh->npages, (unsigned long long)sh->maxpages,
        (unsigned long long)sh->evictions, (unsigned long long)sh->known, (unsigned long long)sh->updates,
        (unsigned long long)sh->resets, sh->refs);
    pthread_mutex_unlock(&sh->mu);
    return SQLITE_OK;
  }
  if (strcasecmp(name, "ltxhttp_error") == 0) {
    char w[LH_ERRLEN];
    pthread_mutex_lock(&f->sh->mu);
    snprintf(w, sizeof w, "%s", f->sh->werr);
    pthread_mutex_unlock(&f->sh->mu);
    az[0] = sqlite3_mprintf("%s", f->err[0] ? f->err : w);
    return SQLITE_OK;
  }
  if (strcasecmp(name, "ltxhttp_server") == 0) {
    az[0] = sqlite3_mprintf("%s/%s", f->cfg.server, f->cfg.db);
    return SQLITE_OK;
  }
  return SQLITE_NOTFOUND;
}

static int lhFileControl(sqlite3_file *pf, int op, void *arg) {
  lh_file *f = (lh_file *)pf;
  switch (op) {
  case SQLITE_FCNTL_PRAGMA:
    return lh_pragma(f, (char **)arg);
  case SQLITE_FCNTL_VFSNAME:
    *(char **)arg = sqlite3_mprintf("%s", LTXHTTP_VFS_NAME);
    return SQLITE_OK;
  default:
    return SQLITE_NOTFOUND;
  }
}

static int lhSectorSize(sqlite3_file *pf) {
  (void)pf;
  return 512;
}

static int lhDeviceCharacteristics(sqlite3_file *pf) {
  (void)pf;
  return 0;
}

static const sqlite3_io_methods lh_io = {
    1, lhClose, lhRead, lhWrite, lhTruncate, lhSync, lhFileSize, lhLock, lhUnlock,
    lhCheckReservedLock, lhFileControl, lhSectorSize, lhDeviceCharacteristics,
    NULL, NULL, NULL, NULL, NULL, NULL};

/* ---------------------------------------------------------------- the VFS */

static const char *lh_param(const char *zName, const char *uri, const char *env) {
  const char *v = zName ? sqlite3_uri_parameter(zName, uri) : NULL;
  if (!v || !*v) v = getenv(env);
  return v && *v ? v : NULL;
}

/* Size with optional K/M/G suffix. */
static int lh_parse_size(const char *s, long *out) {
  char *e;
  errno = 0;
  long long v = strtoll(s, &e, 10);
  if (e == s || errno || v < 0) return -1;
  long long mul = 1;
  if (*e == 'k' || *e == 'K') mul = 1024, e++;
  else if (*e == 'm' || *e == 'M') mul = 1024 * 1024, e++;
  else if (*e == 'g' || *e == 'G') mul = 1024LL * 1024 * 1024, e++;
  if (*e == 'b' || *e == 'B') e++;
  if (*e || v > (1LL << 40) / mul) return -1;
  *out = (long)(v * mul);
  return 0;
}

static int lh_parse_long(const char *s, long lo, long hi, long *out) {
  char *e;
  errno = 0;
  long v = strtol(s, &e, 10);
  if (e == s || *e || errno || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static uint64_t lh_hash(const char *a, const char *b) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a, then a splitmix64 finish */
  for (const char *p = a; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  h = (h ^ '\n') * 1099511628211ULL;
  for (const char *p = b; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

/* server_list "URL[,URL...]" -> servers[] in rendezvous order for db. */
static int lh_parse_servers(lh_cfg *c, char *err, size_t errn) {
  size_t cnt = 1;
  for (const char *p = c->server_list; *p; p++) cnt += *p == ',';
  if (cnt > 32) {
    snprintf(err, errn, "too many servers (at most 32)");
    return -1;
  }
  c->servers = calloc(cnt, sizeof *c->servers);
  uint64_t score[32];
  if (!c->servers) goto nomem;
  const char *p = c->server_list;
  while (p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    while (len && (*p == ' ')) p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '/')) len--;
    if (len) {
      char *u = malloc(len + 1);
      if (!u) goto nomem;
      memcpy(u, p, len);
      u[len] = 0;
      if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
        snprintf(err, errn, "server '%s' must start with http:// or https://", u);
        free(u);
        return -1;
      }
      /* insert sorted by descending score (ties: by URL) */
      uint64_t sc = lh_hash(u, c->db);
      int i = c->nservers;
      while (i > 0 && (score[i - 1] < sc || (score[i - 1] == sc && strcmp(c->servers[i - 1], u) > 0))) {
        c->servers[i] = c->servers[i - 1];
        score[i] = score[i - 1];
        i--;
      }
      c->servers[i] = u;
      score[i] = sc;
      c->nservers++;
      if (len > c->max_server_len) c->max_server_len = len;
    }
    p = comma ? comma + 1 : NULL;
  }
  if (c->nservers == 0) {
    snprintf(err, errn, "no server URL in '%s'", c->server_list);
    return -1;
  }
  c->cur = 0;
  c->server = c->servers[0];
  return 0;
nomem:
  snprintf(err, errn, "out of memory");
  return -1;
}

static int lh_cfg_load(lh_cfg *c, const char *zName, char *err, size_t errn) {
  memset(c, 0, sizeof *c);
  c->cache_bytes = LH_DEFAULT_CACHE_BYTES;
  c->timeout_ms = LH_DEFAULT_TIMEOUT_MS;
  c->connect_timeout_ms = LH_DEFAULT_CONNECT_TIMEOUT_MS;
  c->retry_ms = LH_DEFAULT_RETRY_MS;
  c->readahead = LH_DEFAULT_READAHEAD;
  c->wait_s = LH_DEFAULT_WAIT_S;
  c->max_stale_ms = LH_DEFAULT_MAX_STALE_MS;
  c->log = 1;
  const char *v;
  long x;
  v = lh_param(zName, "server", "LTXHTTP_SERVER");
  if (!v) {
    snprintf(err, errn, "no server: add server=http://HOST:PORT to the URI or set LTXHTTP_SERVER");
    return -1;
  }
  if (!(c->server_list = lh_strdup(v))) goto nomem;
  v = zName ? sqlite3_uri_parameter(zName, "db") : NULL;
  if (!v || !*v) {
    const char *slash = zName ? strrchr(zName, '/') : NULL;
    v = slash ? slash + 1 : zName;
  }
  if (!v || !*v || strlen(v) > LTXW_MAX_DB_NAME) {
    snprintf(err, errn, "no database name (use the file name or db=NAME, at most %d bytes)", LTXW_MAX_DB_NAME);
    return -1;
  }
  if (!(c->db = lh_strdup(v))) goto nomem;
  if (lh_parse_servers(c, err, errn) != 0) return -1;
  v = lh_param(zName, "token", "LTXHTTP_TOKEN");
  if (v && !(c->token = lh_strdup(v))) goto nomem;
#define LH_NUM(uri, env, lo, hi, field)                                                                     \
  if ((v = lh_param(zName, uri, env)) != NULL) {                                                          \
    if (lh_parse_long(v, lo, hi, &x) != 0) {                                                              \
      snprintf(err, errn, "bad %s '%s' (want an integer %ld..%ld)", uri, v, (long)(lo), (long)(hi));      \
      return -1;                                                                                          \
    }                                                                                                     \
    c->field = x;                                                                                         \
  }
  LH_NUM("timeout_ms", "LTXHTTP_TIMEOUT_MS", 100, 3600000, timeout_ms)
  LH_NUM("connect_timeout_ms", "LTXHTTP_CONNECT_TIMEOUT_MS", 10, 600000, connect_timeout_ms)
  LH_NUM("retry_ms", "LTXHTTP_RETRY_MS", 0, 3600000, retry_ms)
  LH_NUM("readahead", "LTXHTTP_READAHEAD", 0, LTXW_MAX_BATCH_PAGES - 1, readahead)
  LH_NUM("wait", "LTXHTTP_WAIT", 1, LTXW_MAX_WAIT_SECONDS, wait_s)
  LH_NUM("max_stale_ms", "LTXHTTP_MAX_STALE_MS", 0, 86400000L, max_stale_ms)
  LH_NUM("log", "LTXHTTP_LOG", 0, 1, log)
#undef LH_NUM
  if ((v = lh_param(zName, "cache_size", "LTXHTTP_CACHE_SIZE")) != NULL) {
    if (lh_parse_size(v, &x) != 0) {
      snprintf(err, errn, "bad cache_size '%s' (bytes, optional K/M/G suffix)", v);
      return -1;
    }
    c->cache_bytes = x;
  }
  return 0;
nomem:
  snprintf(err, errn, "out of memory");
  return -1;
}

static int lhOpen(sqlite3_vfs *vfs, sqlite3_filename zName, sqlite3_file *pf, int flags, int *pOutFlags) {
  (void)vfs;
  if (!(flags & SQLITE_OPEN_MAIN_DB)) return lh_base->xOpen(lh_base, zName, pf, flags, pOutFlags);
  lh_file *f = (lh_file *)pf;
  memset(f, 0, sizeof *f);
  char err[LH_ERRLEN];
  err[0] = 0;
  int rc = SQLITE_CANTOPEN;
  lh_resp_init(&f->resp, LH_MAX_JSON_BODY);
  if (lh_cfg_load(&f->cfg, zName, err, sizeof err) != 0) goto fail;
  if (sqlite3_uri_boolean(zName, "nolock", 0) || sqlite3_uri_boolean(zName, "immutable", 0)) {
    snprintf(err, sizeof err, "nolock/immutable would read without a pinned snapshot (TXIDs could mix); remove them");
    goto fail;
  }
  f->h = lh_curl_new(&f->cfg, &f->hdrs);
  if (!f->h || !(f->edb = curl_easy_escape(f->h, f->cfg.db, 0))) {
    snprintf(err, sizeof err, "out of memory");
    goto fail;
  }
  const char *url = lh_build_url(f, "/%s", f->edb);
  if (!url) {
    snprintf(err, sizeof err, "out of memory");
    goto fail;
  }
  unsigned nreq = 0;
  lh_http_get(f->h, &f->cfg, url, &f->resp, &nreq, 0);
  f->requests += nreq;
  if (f->resp.cc != CURLE_OK) {
    char d[LH_ERRLEN];
    lh_describe(&f->resp, d, sizeof d);
    snprintf(err, sizeof err, "cannot reach server %s for %s: %s", f->cfg.server_list, f->cfg.db, d);
    goto fail;
  }
  if (f->resp.status != 200) {
    char d[LH_ERRLEN];
    lh_describe(&f->resp, d, sizeof d);
    if (f->resp.status == 401 || f->resp.status == 403) rc = SQLITE_AUTH;
    if (f->resp.status == 404)
      snprintf(err, sizeof err, "no database %s on %s (%s)", f->cfg.db, f->cfg.server, d);
    else
      snprintf(err, sizeof err, "opening %s on %s: %s", f->cfg.db, f->cfg.server, d);
    goto fail;
  }
  uint64_t txid;
  uint32_t commit, ps;
  json_t *j = json_loadb((const char *)f->resp.body.p, f->resp.body.n, 0, NULL);
  int bad = lh_parse_state(j, &txid, &commit, &ps) != 0;
  json_decref(j);
  if (bad) {
    snprintf(err, sizeof err, "opening %s on %s: status answer is not the expected JSON", f->cfg.db, f->cfg.server);
    goto fail;
  }
  f->sh = lh_shared_acquire(&f->cfg, txid, commit, ps);
  if (!f->sh) {
    snprintf(err, sizeof err, "opening %s: cannot start the change watcher", f->cfg.db);
    goto fail;
  }
  pthread_mutex_lock(&f->sh->mu);
  uint32_t shps = f->sh->page_size;
  int shknown = f->sh->ps_known;
  pthread_mutex_unlock(&f->sh->mu);
  if (ps && shknown && ps != shps) {
    snprintf(err, sizeof err, "opening %s: page size %u differs from the shared cache's %u", f->cfg.db, ps, shps);
    goto fail;
  }
  f->page = malloc(LH_MAX_PAGE);
  if (!f->page) {
    snprintf(err, sizeof err, "out of memory");
    goto fail;
  }
  /* Open in the past: txid=T or time=RFC3339 in the URI. */
  const char *tv = sqlite3_uri_parameter(zName, "txid");
  const char *tm = sqlite3_uri_parameter(zName, "time");
  if ((tv && lh_set_txid(f, tv) != SQLITE_OK) || (!tv && tm && lh_set_time(f, tm) != SQLITE_OK)) {
    snprintf(err, sizeof err, "%s", f->err);
    goto fail;
  }
  if (pOutFlags) *pOutFlags = (flags & ~(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_READONLY;
  f->pid = getpid();
  f->base.pMethods = &lh_io;
  return SQLITE_OK;
fail:
  lh_log(f->cfg.log, rc, err);
  lhClose(pf);
  return rc;
}

static int lhDelete(sqlite3_vfs *vfs, const char *zName, int syncDir) {
  (void)vfs;
  return lh_base->xDelete(lh_base, zName, syncDir);
}

static int lh_ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcmp(s + a - b, suf) == 0;
}

static int lhAccess(sqlite3_vfs *vfs, const char *zName, int flags, int *res) {
  (void)vfs;
  /* The main file is remote and read-only: it never has a journal or WAL. */
  if (lh_ends_with(zName, "-journal") || lh_ends_with(zName, "-wal") || lh_ends_with(zName, "-shm")) {
    *res = 0;
    return SQLITE_OK;
  }
  return lh_base->xAccess(lh_base, zName, flags, res);
}

static int lhFullPathname(sqlite3_vfs *vfs, const char *zName, int n, char *out) {
  (void)vfs;
  return lh_base->xFullPathname(lh_base, zName, n, out);
}
static void *lhDlOpen(sqlite3_vfs *vfs, const char *z) {
  (void)vfs;
  return lh_base->xDlOpen(lh_base, z);
}
static void lhDlError(sqlite3_vfs *vfs, int n, char *z) {
  (void)vfs;
  lh_base->xDlError(lh_base, n, z);
}
static void (*lhDlSym(sqlite3_vfs *vfs, void *h, const char *z))(void) {
  (void)vfs;
  return lh_base->xDlSym(lh_base, h, z);
}
static void lhDlClose(sqlite3_vfs *vfs, void *h) {
  (void)vfs;
  lh_base->xDlClose(lh_base, h);
}
static int lhRandomness(sqlite3_vfs *vfs, int n, char *z) {
  (void)vfs;
  return lh_base->xRandomness(lh_base, n, z);
}
static int lhSleep(sqlite3_vfs *vfs, int us) {
  (void)vfs;
  return lh_base->xSleep(lh_base, us);
}
static int lhCurrentTime(sqlite3_vfs *vfs, double *t) {
  (void)vfs;
  return lh_base->xCurrentTime(lh_base, t);
}
static int lhGetLastError(sqlite3_vfs *vfs, int n, char *z) {
  (void)vfs;
  return lh_base->xGetLastError ? lh_base->xGetLastError(lh_base, n, z) : 0;
}
static int lhCurrentTimeInt64(sqlite3_vfs *vfs, sqlite3_int64 *t) {
  (void)vfs;
  return lh_base->xCurrentTimeInt64(lh_base, t);
}

static int lh_register_vfs(void) {
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  int rc = SQLITE_OK;
  pthread_mutex_lock(&mu);
  if (!lh_base) {
    sqlite3_vfs *base = sqlite3_vfs_find(NULL);
    if (!base) {
      pthread_mutex_unlock(&mu);
      return SQLITE_ERROR;
    }
    if (strcmp(base->zName, LTXHTTP_VFS_NAME) == 0) { /* never wrap ourselves */
      pthread_mutex_unlock(&mu);
      return SQLITE_ERROR;
    }
    lh_vfs.iVersion = base->iVersion >= 2 && base->xCurrentTimeInt64 ? 2 : 1;
    lh_vfs.szOsFile = base->szOsFile > (int)sizeof(lh_file) ? base->szOsFile : (int)sizeof(lh_file);
    lh_vfs.mxPathname = base->mxPathname;
    lh_vfs.zName = LTXHTTP_VFS_NAME;
    lh_vfs.xOpen = lhOpen;
    lh_vfs.xDelete = lhDelete;
    lh_vfs.xAccess = lhAccess;
    lh_vfs.xFullPathname = lhFullPathname;
    lh_vfs.xDlOpen = lhDlOpen;
    lh_vfs.xDlError = lhDlError;
    lh_vfs.xDlSym = lhDlSym;
    lh_vfs.xDlClose = lhDlClose;
    lh_vfs.xRandomness = lhRandomness;
    lh_vfs.xSleep = lhSleep;
    lh_vfs.xCurrentTime = lhCurrentTime;
    lh_vfs.xGetLastError = lhGetLastError;
    lh_vfs.xCurrentTimeInt64 = lhCurrentTimeInt64;
    lh_base = base;
    rc = sqlite3_vfs_register(&lh_vfs, 0);
    if (rc != SQLITE_OK) lh_base = NULL;
  }
  pthread_mutex_unlock(&mu);
  return rc;
}

#if defined(LTXHTTP_LOADABLE)
#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_ltxhttp_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
  (void)db;
  SQLITE_EXTENSION_INIT2(pApi);
  int rc = lh_register_vfs();
  if (rc != SQLITE_OK) {
    if (pzErrMsg) *pzErrMsg = sqlite3_mprintf("ltxhttp: cannot register the VFS (%d)", rc);
    return rc;
  }
  return SQLITE_OK_LOAD_PERMANENTLY;
}
#else
int ltxhttp_register(void) { return lh_register_vfs(); }
#endif
