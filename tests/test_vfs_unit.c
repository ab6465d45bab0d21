/* test_vfs_unit.c - cmocka unit tests of the ltxhttp VFS internals (pure
 * parts: parsing, rendezvous order, page-1 presentation, the TXID-ranged
 * cache and how /changes answers update it). Links ltxhttp_static and calls
 * the lh_* module functions; no server, no threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "lh_cache.h"
#include "lh_file.h"
#include "lh_http.h"
#include "lh_settings.h"
#include "lh_watch.h"
#include "ltxhttp.h"
#include "strparse.h"

#include <curl/curl.h>

#include <jansson.h>
#include <sqlite3.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_hex(void **st) {
  (void)st;
  uint64_t v = 0;
  assert_int_equal(lh_http_parse_hex64("0000000000000009", 16, &v), 0);
  assert_true(v == 9);
  assert_int_equal(lh_http_parse_hex64("ff", 2, &v), 0);
  assert_true(v == 255);
  assert_int_equal(lh_http_parse_hex64("0xA1", 4, &v), 0);
  assert_true(v == 0xa1);
  assert_int_equal(lh_http_parse_hex64("ffffffffffffffff", 16, &v), 0);
  assert_true(v == UINT64_MAX);
  assert_int_equal(lh_http_parse_hex64("10000000000000000", 17, &v), -1); /* 17 digits */
  assert_int_equal(lh_http_parse_hex64("", 0, &v), -1);
  assert_int_equal(lh_http_parse_hex64("0x", 2, &v), -1);
  assert_int_equal(lh_http_parse_hex64("12g4", 4, &v), -1);
}

static void test_sizes(void **st) {
  (void)st;
  long v = 0;
  assert_int_equal(lh_settings_parse_size("1024", &v), 0);
  assert_int_equal(v, 1024);
  assert_int_equal(lh_settings_parse_size("64K", &v), 0);
  assert_int_equal(v, 65536);
  assert_int_equal(lh_settings_parse_size("2m", &v), 0);
  assert_int_equal(v, 2 * 1024 * 1024);
  assert_int_equal(lh_settings_parse_size("1GB", &v), 0);
  assert_int_equal(v, 1024L * 1024 * 1024);
  assert_int_equal(lh_settings_parse_size("lots", &v), -1);
  assert_int_equal(lh_settings_parse_size("-1", &v), -1);
  assert_int_equal(lh_settings_parse_size("5T", &v), -1);
  assert_int_equal(strparse_long("10", 1, 60, &v), 0);
  assert_int_equal(strparse_long("61", 1, 60, &v), -1);
  assert_int_equal(strparse_long("1x", 1, 60, &v), -1);
}

static void parse_list(lh_settings *c, const char *list, const char *db) {
  memset(c, 0, sizeof *c);
  c->server_list = strdup(list);
  c->db = strdup(db);
}

/* The rendezvous score before ltxcommon (FNV-1a from 1469598103934665603,
 * "\n" between URL and database, splitmix64 finish): the order must not
 * change, or every database would move to another server on upgrade. */
static uint64_t old_score(const char *a, const char *b) {
  uint64_t h = 1469598103934665603ULL;
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

static void test_servers(void **st) {
  (void)st;
  char err[256];
  lh_settings a, b;
  parse_list(&a, "http://a:1,http://b:2/,https://c:3", "app.db");
  assert_int_equal(lh_settings_parse_servers(&a, err, sizeof err), 0);
  assert_int_equal(a.nservers, 3);
  parse_list(&b, "https://c:3/ , http://b:2,http://a:1", "app.db");
  assert_int_equal(lh_settings_parse_servers(&b, err, sizeof err), 0);
  assert_int_equal(b.nservers, 3);
  for (int i = 0; i < 3; i++) assert_string_equal(a.servers[i], b.servers[i]); /* order-independent */
  assert_ptr_equal(a.server, a.servers[0]);
  for (int i = 0; i < 3; i++) assert_null(strchr(a.servers[i] + 8, '/')); /* trailing slash gone */
  /* Different databases spread over the servers: over many names each
   * server is preferred at least once. */
  int firsts[3] = {0, 0, 0};
  for (int d = 0; d < 60; d++) {
    char name[32];
    snprintf(name, sizeof name, "db%d.db", d);
    lh_settings c;
    parse_list(&c, "http://a:1,http://b:2,https://c:3", name);
    assert_int_equal(lh_settings_parse_servers(&c, err, sizeof err), 0);
    for (int i = 0; i < 3; i++)
      if (strcmp(c.servers[0], a.servers[i]) == 0) firsts[i]++;
    for (int i = 0; i + 1 < 3; i++) /* same order as before */
      assert_true(old_score(c.servers[i], name) >= old_score(c.servers[i + 1], name));
    lh_settings_free(&c);
  }
  assert_true(firsts[0] > 0 && firsts[1] > 0 && firsts[2] > 0);
  assert_int_equal(firsts[0] + firsts[1] + firsts[2], 60);
  lh_settings_free(&a);
  lh_settings_free(&b);

  parse_list(&a, "ftp://x", "app.db");
  assert_int_equal(lh_settings_parse_servers(&a, err, sizeof err), -1);
  assert_non_null(strstr(err, "must start with http"));
  lh_settings_free(&a);
  parse_list(&a, " , ", "app.db");
  assert_int_equal(lh_settings_parse_servers(&a, err, sizeof err), -1);
  assert_non_null(strstr(err, "no server URL"));
  lh_settings_free(&a);
  char many[40 * 20] = "";
  for (int i = 0; i < 33; i++) strcat(many, "http://h:1,");
  parse_list(&a, many, "app.db");
  assert_int_equal(lh_settings_parse_servers(&a, err, sizeof err), -1);
  lh_settings_free(&a);
}

static void test_page1(void **st) {
  (void)st;
  unsigned char p[4096];
  for (int i = 0; i < 4096; i++) p[i] = (unsigned char)(i * 7);
  p[18] = 2;
  p[19] = 2; /* WAL mode as replicated */
  unsigned char orig[4096];
  memcpy(orig, p, sizeof p);
  lh_file_patch_page1(p, 4096, 0x0000000123456789ULL, 77);
  assert_int_equal(p[18], 1);
  assert_int_equal(p[19], 1);
  const unsigned char cc[4] = {0x23, 0x45, 0x67, 0x89}; /* low 32 bits, big-endian */
  assert_memory_equal(p + 24, cc, 4);
  assert_memory_equal(p + 92, cc, 4);
  const unsigned char n[4] = {0, 0, 0, 77};
  assert_memory_equal(p + 28, n, 4);
  /* nothing else changes */
  for (int i = 0; i < 4096; i++)
    if (!(i == 18 || i == 19 || (i >= 24 && i < 32) || (i >= 92 && i < 96))) assert_int_equal(p[i], orig[i]);
  /* another TXID gives another counter */
  unsigned char q[4096];
  memcpy(q, orig, sizeof q);
  lh_file_patch_page1(q, 4096, 0x0000000123456790ULL, 77);
  assert_memory_not_equal(p + 24, q + 24, 4);
}

static lh_watch *fake_shared(uint32_t ps, size_t maxpages, uint64_t known, uint32_t commit) {
  lh_watch *sh = calloc(1, sizeof *sh);
  assert_non_null(sh);
  pthread_mutex_init(&sh->mu, NULL);
  pthread_cond_init(&sh->cv, NULL);
  lh_cache_init(&sh->cache, ps, 0);
  sh->cache.maxpages = maxpages;
  sh->known = known;
  sh->commit = commit;
  return sh;
}

/* The cache of sh, at sh's newest TXID. */
static void cache_put(lh_watch *sh, uint32_t pgno, uint64_t txid, const unsigned char *data) {
  lh_cache_put(&sh->cache, pgno, txid, sh->known, data);
}

static lh_cache_entry *cache_find(lh_watch *sh, uint32_t pgno, uint64_t txid) {
  return lh_cache_find(&sh->cache, pgno, txid, sh->known);
}

static void free_shared(lh_watch *sh) {
  lh_cache_clear(&sh->cache);
  pthread_mutex_destroy(&sh->mu);
  pthread_cond_destroy(&sh->cv);
  free(sh);
}

static void changes(lh_watch *sh, uint64_t since, const char *js) {
  json_t *j = json_loads(js, 0, NULL);
  assert_non_null(j);
  lh_watch_apply_changes(sh, since, j);
  json_decref(j);
}

static void test_cache_ranges(void **st) {
  (void)st;
  unsigned char pg[512];
  lh_watch *sh = fake_shared(512, 100, 5, 10);
  memset(pg, 'a', sizeof pg);
  cache_put(sh, 3, 5, pg); /* fetched at the newest TXID: open-ended */
  memset(pg, 'b', sizeof pg);
  cache_put(sh, 4, 5, pg);
  cache_put(sh, 9, 2, pg); /* fetched in the past: exactly [2,2] */
  assert_non_null(cache_find(sh, 3, 5));
  assert_null(cache_find(sh, 3, 4)); /* not known before it was fetched */
  assert_null(cache_find(sh, 3, 6)); /* not known beyond the newest TXID */
  assert_non_null(cache_find(sh, 9, 2));
  assert_null(cache_find(sh, 9, 3));

  /* TXIDs 6..7 changed page 3 only: 4 stays valid up to 7, 3 only up to 5. */
  changes(sh, 5, "{\"txid\":\"0000000000000007\",\"commit\":10,\"page_size\":512,\"pages\":[3]}");
  assert_true(sh->known == 7);
  assert_non_null(cache_find(sh, 4, 7));
  assert_null(cache_find(sh, 3, 7));
  lh_cache_entry *e = cache_find(sh, 3, 5);
  assert_non_null(e);
  assert_int_equal(e->data[0], 'a');
  /* a new version of page 3 at 7 coexists with the old one */
  memset(pg, 'c', sizeof pg);
  cache_put(sh, 3, 7, pg);
  assert_int_equal(cache_find(sh, 3, 7)->data[0], 'c');
  assert_int_equal(cache_find(sh, 3, 5)->data[0], 'a');

  /* long-poll timeout: same TXID, nothing changes */
  uint64_t upd = sh->updates;
  changes(sh, 7, "{\"txid\":\"0000000000000007\",\"commit\":10,\"page_size\":512,\"pages\":[]}");
  assert_true(sh->updates == upd);

  /* shrink to 3 pages: page 4 is gone after 7 even if not listed */
  changes(sh, 7, "{\"txid\":\"0000000000000008\",\"commit\":3,\"page_size\":512,\"pages\":[1]}");
  assert_null(cache_find(sh, 4, 8));
  assert_non_null(cache_find(sh, 4, 7));
  assert_non_null(cache_find(sh, 3, 8));
  assert_int_equal(sh->commit, 3);

  /* string ranges are tolerated */
  changes(sh, 8, "{\"txid\":\"0000000000000009\",\"commit\":3,\"page_size\":512,\"pages\":[\"2-3\"]}");
  assert_null(cache_find(sh, 3, 9));

  /* stale answer (since != known): treated as a reset, everything dropped */
  changes(sh, 5, "{\"txid\":\"000000000000000a\",\"commit\":3,\"page_size\":512,\"pages\":[]}");
  assert_int_equal(sh->cache.npages, 0);
  assert_true(sh->known == 10);
  assert_true(sh->resets == 1);

  /* explicit reset */
  cache_put(sh, 1, 10, pg);
  changes(sh, 10, "{\"reset\":true,\"txid\":\"000000000000000b\",\"commit\":3,\"page_size\":512}");
  assert_int_equal(sh->cache.npages, 0);
  assert_true(sh->known == 11);
  /* bad JSON shapes change nothing */
  changes(sh, 11, "{\"txid\":\"zz\"}");
  assert_true(sh->known == 11);
  /* a state without a TXID (a server still indexing, as its status says
   * while waiting) is never applied: no empty database, cache kept */
  cache_put(sh, 1, 11, pg);
  changes(sh, 11, "{\"reset\":true,\"state\":\"waiting\",\"txid\":null,\"commit\":null,\"page_size\":null}");
  changes(sh, 11, "{\"reset\":true,\"txid\":\"000000000000000c\",\"commit\":0,\"page_size\":512}");
  assert_true(sh->known == 11);
  assert_int_equal(sh->commit, 3);
  assert_int_equal(sh->cache.npages, 1);
  free_shared(sh);
}

static void test_cache_lru(void **st) {
  (void)st;
  unsigned char pg[512];
  lh_watch *sh = fake_shared(512, 16, 1, 100);
  for (uint32_t p = 1; p <= 16; p++) {
    memset(pg, (int)p, sizeof pg);
    cache_put(sh, p, 1, pg);
  }
  assert_int_equal(sh->cache.npages, 16);
  /* touch page 1 so that page 2 is the least recently used */
  lh_cache_entry *e = cache_find(sh, 1, 1);
  lh_cache_touch(&sh->cache, e);
  cache_put(sh, 17, 1, pg);
  assert_int_equal(sh->cache.npages, 16);
  assert_true(sh->cache.evictions == 1);
  assert_null(cache_find(sh, 2, 1));
  assert_non_null(cache_find(sh, 1, 1));
  assert_non_null(cache_find(sh, 17, 1));
  /* putting a page that is already valid is a no-op */
  cache_put(sh, 17, 1, pg);
  assert_int_equal(sh->cache.npages, 16);
  /* many pages colliding in buckets still all findable */
  free_shared(sh);
  sh = fake_shared(512, 10000, 1, 100000);
  for (uint32_t p = 1; p <= 9000; p++) cache_put(sh, p * LH_CACHE_NBUCKETS / 7 + 1, 1, pg);
  for (uint32_t p = 1; p <= 9000; p++) assert_non_null(cache_find(sh, p * LH_CACHE_NBUCKETS / 7 + 1, 1));
  free_shared(sh);
}

/* The HTTP seam: a fake server behind lh_http_set_fault. Server URLs
 * starting with fake.down answer down_status (or fail to connect when
 * down_status is 0); others answer 503 `flaky` times, then 200 "ok". */
struct fake_net {
  const char *down;
  long down_status;
  int flaky;
  int calls;
  char last[256];
};

static int fake_answer(void *ud, const char *url, lh_http_resp *r) {
  struct fake_net *n = ud;
  n->calls++;
  snprintf(n->last, sizeof n->last, "%s", url);
  if (n->down && strncmp(url, n->down, strlen(n->down)) == 0) {
    if (n->down_status)
      r->status = n->down_status;
    else
      r->cc = CURLE_COULDNT_CONNECT;
    return 1;
  }
  if (n->flaky > 0) {
    n->flaky--;
    r->status = 503;
    return 1;
  }
  r->status = 200;
  assert_int_equal(lh_http_resp_append(r, "ok", 2), 0);
  return 1;
}

static void test_http_seam(void **st) {
  (void)st;
  char err[256];
  lh_settings c;
  parse_list(&c, "http://a:1,http://b:2", "app.db");
  assert_int_equal(lh_settings_parse_servers(&c, err, sizeof err), 0);
  c.timeout_ms = 1000;
  c.connect_timeout_ms = 1000;
  c.retry_ms = 0; /* one attempt per server */
  struct fake_net net = {.down = c.servers[0], .down_status = 503};
  lh_http_set_fault(fake_answer, &net);
  lh_http_conn *h = lh_http_open(&c, 0);
  assert_non_null(h);
  lh_http_resp r;
  lh_http_resp_init(&r, 1024);
  unsigned nreq = 0;

  /* the preferred server is down (503): the next one answers and stays in use */
  char *want = strdup(c.servers[1]);
  assert_int_equal(lh_http_get(h, &c, "/app.db", &r, &nreq, 0), 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(nreq, 2);
  assert_int_equal(c.cur, 1);
  assert_string_equal(c.server, want);
  assert_true(r.body.n == 2 && memcmp(r.body.p, "ok", 2) == 0);
  assert_non_null(strstr(net.last, "/app.db"));

  /* every server refuses connections: a transport error, described */
  net.down = "http://";
  net.down_status = 0;
  nreq = 0;
  assert_int_equal(lh_http_get(h, &c, "/app.db", &r, &nreq, 0), -1);
  assert_int_equal(nreq, 2);
  char d[256];
  lh_http_describe(&r, d, sizeof d);
  assert_true(d[0] != 0);

  /* a 404 that is not no_such_db is an answer: no failover */
  net.down_status = 404;
  nreq = 0;
  assert_int_equal(lh_http_get(h, &c, "/app.db", &r, &nreq, 0), 0);
  assert_int_equal(r.status, 404);
  assert_int_equal(nreq, 1);

  /* one server, transient 503s are retried within retry_ms */
  lh_settings one;
  parse_list(&one, "http://solo:1", "app.db");
  assert_int_equal(lh_settings_parse_servers(&one, err, sizeof err), 0);
  one.timeout_ms = 1000;
  one.retry_ms = 2000;
  net.down = NULL;
  net.flaky = 2;
  nreq = 0;
  assert_int_equal(lh_http_get(h, &one, "/app.db", &r, &nreq, 0), 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(nreq, 3);

  lh_http_set_fault(NULL, NULL);
  lh_http_resp_free(&r);
  lh_http_close(h);
  free(want);
  lh_settings_free(&one);
  lh_settings_free(&c);
}

/* The settings of /tmp/app.db with these n URI parameters (name, value
 * pairs) are refused with a message that contains want. */
static void settings_refused(const char **params, int n, const char *want) {
  char err[256];
  lh_settings c;
  sqlite3_filename z = sqlite3_create_filename("/tmp/app.db", "", "", n, params);
  assert_int_equal(lh_settings_load(&c, z, err, sizeof err), -1);
  assert_non_null(strstr(err, want));
  lh_settings_free(&c);
  sqlite3_free_filename(z);
}

/* Settings from a SQLite filename's URI parameters, then the environment,
 * then the defaults. */
static void test_settings_load(void **st) {
  (void)st;
  char err[256];
  lh_settings c;
  const char *vars[] = {"LTXHTTP_SERVER", "LTXHTTP_TOKEN", "LTXHTTP_CACHE_SIZE", "LTXHTTP_TIMEOUT_MS",
                        "LTXHTTP_CONNECT_TIMEOUT_MS", "LTXHTTP_READAHEAD", "LTXHTTP_MAX_STALE_MS", "LTXHTTP_LOG"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]); /* defaults below */
  setenv("LTXHTTP_WAIT", "7", 1);
  setenv("LTXHTTP_RETRY_MS", "900", 1);
  const char *ok[] = {"server", "http://a:1/", "cache_size", "1.5M", "log", "off", "retry_ms", "0", "db", "x.db"};
  sqlite3_filename z = sqlite3_create_filename("/tmp/app.db", "", "", 5, ok);
  assert_non_null(z);
  assert_int_equal(lh_settings_load(&c, z, err, sizeof err), 0);
  assert_string_equal(c.server, "http://a:1");
  assert_string_equal(c.db, "x.db");
  assert_int_equal(c.cache_bytes, 1536 * 1024);
  assert_int_equal(c.log, 0);
  assert_int_equal(c.retry_ms, 0);  /* URI wins over the environment */
  assert_int_equal(c.wait_s, 7);    /* environment over the default */
  assert_int_equal(c.timeout_ms, 10000); /* defaults */
  assert_int_equal(c.readahead, 64);
  assert_int_equal(c.max_stale_ms, 30000);
  assert_null(c.token);
  lh_settings_free(&c);
  sqlite3_free_filename(z);

  const char *bad[] = {"server", "http://a:1", "readahead", "5000"};
  settings_refused(bad, 2, "bad readahead '5000' (want an integer 0..1023)");

  const char *big[] = {"server", "http://a:1", "cache_size", "2T"};
  settings_refused(big, 2, "bad cache_size '2T'");

  const char *none[] = {"cache_size", "1M"};
  settings_refused(none, 1, "no server");
  unsetenv("LTXHTTP_WAIT");
  unsetenv("LTXHTTP_RETRY_MS");
}

/* A fake for the strict checks: answers 200 naming txid `give` (0: no
 * Ltx-Txid header), or the status and JSON body set, counting calls per
 * server ("http://a" or "http://b" prefix). */
struct strict_net {
  uint64_t give;
  long status;
  const char *body;
  long retry_after_ms;
  int refuse_a; /* http://a refuses connections */
  int calls_a, calls_b;
};

static int strict_answer(void *ud, const char *url, lh_http_resp *r) {
  struct strict_net *n = ud;
  int is_a = strncmp(url, "http://a", 8) == 0;
  if (is_a) n->calls_a++; else n->calls_b++;
  if (is_a && n->refuse_a) {
    r->cc = CURLE_COULDNT_CONNECT;
    return 1;
  }
  r->status = n->status ? n->status : 200;
  r->retry_after_ms = n->retry_after_ms;
  if (n->body) assert_int_equal(lh_http_resp_append(r, n->body, strlen(n->body)), 0);
  if (!n->status && n->give) {
    r->has_txid = 1;
    r->txid = n->give;
  }
  return 1;
}

static void test_http_strict(void **st) {
  (void)st;
  char err[256], d[512];
  lh_settings one;
  parse_list(&one, "http://a:1", "app.db");
  assert_int_equal(lh_settings_parse_servers(&one, err, sizeof err), 0);
  one.timeout_ms = 1000;
  one.retry_ms = 120;
  struct strict_net net = {.give = 7};
  lh_http_set_fault(strict_answer, &net);
  lh_http_conn *h = lh_http_open(&one, 0);
  lh_http_resp r;
  lh_http_resp_init(&r, 1024);
  unsigned nreq = 0;

  /* the asked TXID: accepted; another or none: refused and retried */
  r.want_txid = 7;
  assert_int_equal(lh_http_get(h, &one, "/app.db/pages/1?txid=7", &r, &nreq, 0), 0);
  assert_int_equal(r.bad_txid, 0);
  assert_int_equal(nreq, 1);
  net.give = 6;
  nreq = 0;
  lh_http_get(h, &one, "/app.db/pages/1?txid=7", &r, &nreq, 0);
  assert_int_equal(r.bad_txid, 1);
  assert_true(nreq >= 2);
  lh_http_describe(&r, d, sizeof d);
  assert_non_null(strstr(d, "answer for TXID 0000000000000006 instead of 0000000000000007"));
  net.give = 0;
  lh_http_get(h, &one, "/app.db/pages/1?txid=7", &r, &nreq, 0);
  assert_int_equal(r.bad_txid, 1);
  lh_http_describe(&r, d, sizeof d);
  assert_non_null(strstr(d, "without an Ltx-Txid header (asked for TXID 0000000000000007)"));
  /* a page out of range within the TXID's size: refused too */
  net.status = 404;
  net.body = "{\"error\":\"page 9 is beyond the database size (4 pages)\",\"code\":\"page_out_of_range\"}";
  lh_http_get(h, &one, "/app.db/pages/9?txid=7", &r, &nreq, 0);
  assert_int_equal(r.bad_txid, 2);
  /* no TXID asked (status requests): no check */
  r.want_txid = 0;
  net.status = 0;
  net.body = NULL;
  assert_int_equal(lh_http_get(h, &one, "/app.db", &r, &nreq, 0), 0);
  assert_int_equal(r.bad_txid, 0);

  /* a message prefixed at several layers is shown with its prefix once */
  net.status = 502;
  net.body = "{\"error\":\"page 1: page 1: page 1: boom\",\"code\":\"upstream\"}";
  one.retry_ms = 0;
  lh_http_get(h, &one, "/app.db/pages/1?txid=7", &r, &nreq, 0);
  lh_http_describe(&r, d, sizeof d);
  assert_string_equal(d, "HTTP 502 upstream: page 1: boom");

  /* 503 with LH_HTTP_NO_WAIT_503: back at once, Retry-After parsed */
  net.status = 503;
  net.body = NULL;
  net.retry_after_ms = 1000;
  one.retry_ms = 5000;
  nreq = 0;
  int64_t t0 = lh_http_now_ms();
  lh_http_get(h, &one, "/app.db", &r, &nreq, LH_HTTP_NO_WAIT_503);
  assert_int_equal(nreq, 1);
  assert_true(lh_http_now_ms() - t0 < 500);
  /* without it, Retry-After beyond the budget: no pointless wait */
  one.retry_ms = 300;
  nreq = 0;
  t0 = lh_http_now_ms();
  lh_http_get(h, &one, "/app.db", &r, &nreq, 0);
  assert_int_equal(nreq, 1);
  assert_true(lh_http_now_ms() - t0 < 250);

  /* two servers: one refusing connections costs one attempt, then is
   * skipped (marked down) by the next requests */
  lh_settings two;
  parse_list(&two, "http://a:1,http://b:2", "app.db");
  assert_int_equal(lh_settings_parse_servers(&two, err, sizeof err), 0);
  two.timeout_ms = 1000;
  two.retry_ms = 3000;
  for (int i = 0; i < two.nservers; i++)
    if (strncmp(two.servers[i], "http://a", 8) == 0) lh_http_use_server(&two, i);
  memset(&net, 0, sizeof net);
  net.refuse_a = 1;
  t0 = lh_http_now_ms();
  assert_int_equal(lh_http_get(h, &two, "/app.db", &r, &nreq, 0), 0);
  assert_int_equal(net.calls_a, 1);
  assert_int_equal(net.calls_b, 1);
  assert_true(lh_http_now_ms() - t0 < 200);
  for (int i = 0; i < two.nservers; i++)
    if (strncmp(two.servers[i], "http://a", 8) == 0) {
      lh_http_use_server(&two, i); /* in use but marked down (as after a failover) */
      two.down_until[i] = lh_http_now_ms() + 5000;
    }
  assert_int_equal(lh_http_get(h, &two, "/app.db", &r, &nreq, 0), 0);
  assert_int_equal(net.calls_a, 1); /* skipped while down */
  assert_int_equal(net.calls_b, 2);

  lh_http_set_fault(NULL, NULL);
  lh_http_resp_free(&r);
  lh_http_close(h);
  lh_settings_free(&two);
  lh_settings_free(&one);
}

/* ltxhttp_register_v2(1) makes ltxhttp the default VFS; the original
 * ltxhttp_register() still registers it without. */
static void test_register_default(void **st) {
  (void)st;
  sqlite3_vfs *unix_vfs = sqlite3_vfs_find(NULL);
  assert_int_equal(ltxhttp_register(), SQLITE_OK);
  assert_ptr_equal(sqlite3_vfs_find(NULL), unix_vfs);
  assert_non_null(sqlite3_vfs_find(LTXHTTP_VFS_NAME));
  assert_int_equal(ltxhttp_register_v2(1), SQLITE_OK);
  assert_string_equal(sqlite3_vfs_find(NULL)->zName, LTXHTTP_VFS_NAME);
  assert_int_equal(sqlite3_vfs_register(unix_vfs, 1), SQLITE_OK);
}

/* Open against a fake server whose status says "waiting" (no TXID) for the
 * first `waiting` asks: the open waits (never an empty database), or fails
 * with SQLITE_BUSY and a message after open_timeout_ms. */
struct waiting_net {
  pthread_mutex_t mu;
  int waiting, status_calls;
};

static int waiting_answer(void *ud, const char *url, lh_http_resp *r) {
  struct waiting_net *n = ud;
  const char *body;
  pthread_mutex_lock(&n->mu);
  if (strstr(url, "/changes")) { /* the watcher: nothing indexed yet */
    pthread_mutex_unlock(&n->mu);
    r->status = 503;
    return 1;
  }
  n->status_calls++;
  if (n->waiting > 0) { /* the open answer (page 1 at the latest TXID): not indexed yet */
    n->waiting--;
    pthread_mutex_unlock(&n->mu);
    body = "{\"error\":\"waiting\",\"code\":\"unavailable\"}";
    r->status = 503;
    assert_int_equal(lh_http_resp_append(r, body, strlen(body)), 0);
    return 1;
  }
  pthread_mutex_unlock(&n->mu);
  static unsigned char page[4096];
  r->status = 200;
  r->has_txid = 1;
  r->txid = 5;
  r->commit = 3;
  r->page_size = 4096;
  assert_int_equal(lh_http_resp_append(r, page, sizeof page), 0);
  return 1;
}

static void test_open_waits(void **st) {
  (void)st;
  struct waiting_net net = {.waiting = 2};
  pthread_mutex_init(&net.mu, NULL);
  lh_http_set_fault(waiting_answer, &net);
  const char *p[] = {"server", "http://fake:1", "open_timeout_ms", "3000", "log", "0"};
  sqlite3_filename z = sqlite3_create_filename("/tmp/app.db", "", "", 3, p);
  lh_file *f = calloc(1, sizeof *f);
  int64_t t0 = lh_http_now_ms();
  assert_int_equal(lh_file_open(f, z), SQLITE_OK);
  assert_true(lh_http_now_ms() - t0 >= 400); /* two waits of 250 ms */
  assert_int_equal(net.status_calls, 3);
  assert_int_equal(lh_file_size(f), 3 * 4096);
  lh_file_close(f);
  sqlite3_free_filename(z);

  /* always waiting: SQLITE_BUSY after open_timeout_ms */
  net.waiting = 1000;
  const char *q[] = {"server", "http://fake:1", "open_timeout_ms", "300", "log", "0"};
  z = sqlite3_create_filename("/tmp/app.db", "", "", 3, q);
  memset(f, 0, sizeof *f);
  t0 = lh_http_now_ms();
  assert_int_equal(lh_file_open(f, z), SQLITE_BUSY);
  int64_t took = lh_http_now_ms() - t0;
  assert_true(took >= 300 && took < 1500);
  lh_file_close(f);
  sqlite3_free_filename(z);
  free(f);
  lh_http_set_fault(NULL, NULL);
  pthread_mutex_destroy(&net.mu);
}

/* The plain-http transport against a raw socket server: a chunked body on
 * a keep-alive connection, then a Content-Length body on the same
 * connection (pooled), then a body up to the end of a closed connection;
 * Ltx-* headers parsed in each. */
struct raw_srv {
  int lfd, accepts;
};

static void raw_read_head(int fd) {
  char b[4096];
  size_t n = 0;
  while (n < sizeof b - 1) {
    ssize_t k = recv(fd, b + n, 1, 0);
    if (k <= 0) return;
    n += (size_t)k;
    if (n >= 4 && memcmp(b + n - 4, "\r\n\r\n", 4) == 0) return;
  }
}

static void *raw_main(void *ud) {
  struct raw_srv *s = ud;
  const char *a1 = "HTTP/1.1 200 OK\r\nLtx-Txid: 00000000000000a1\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n6;x=1\r\n world\r\n0\r\nTrailer: 1\r\n\r\n";
  const char *a2 = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nLtx-Commit: 7\r\n\r\nabc";
  const char *a3 = "HTTP/1.1 200 OK\r\nConnection: close\r\nLtx-Page-Size: 4096\r\n\r\nuntil the end";
  int fd = accept(s->lfd, NULL, NULL);
  s->accepts++;
  raw_read_head(fd);
  send(fd, a1, strlen(a1), 0);
  raw_read_head(fd);
  send(fd, a2, strlen(a2), 0);
  raw_read_head(fd);
  send(fd, a3, strlen(a3), 0);
  close(fd);
  return NULL;
}

static void test_http_plain(void **st) {
  (void)st;
  struct raw_srv s = {0};
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  s.lfd = socket(AF_INET, SOCK_STREAM, 0);
  socklen_t al = sizeof a;
  assert_int_equal(bind(s.lfd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(s.lfd, 4), 0);
  getsockname(s.lfd, (struct sockaddr *)&a, &al);
  pthread_t th;
  pthread_create(&th, NULL, raw_main, &s);
  char err[256], srv[64];
  snprintf(srv, sizeof srv, "http://127.0.0.1:%d", ntohs(a.sin_port));
  lh_settings c;
  parse_list(&c, srv, "app.db");
  assert_int_equal(lh_settings_parse_servers(&c, err, sizeof err), 0);
  c.timeout_ms = 2000;
  c.connect_timeout_ms = 1000;
  c.retry_ms = 0;
  lh_http_conn *h = lh_http_open(&c, 0);
  lh_http_resp r;
  lh_http_resp_init(&r, 1 << 20);
  unsigned nreq = 0;
  assert_int_equal(lh_http_get(h, &c, "/one", &r, &nreq, 0), 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.body.n, 11);
  assert_memory_equal(r.body.p, "hello world", 11);
  assert_true(r.has_txid && r.txid == 0xa1);
  assert_int_equal(lh_http_get(h, &c, "/two", &r, &nreq, 0), 0);
  assert_int_equal(r.status, 404);
  assert_int_equal(r.commit, 7);
  assert_memory_equal(r.body.p, "abc", 3);
  assert_int_equal(lh_http_get(h, &c, "/three", &r, &nreq, 0), 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.page_size, 4096);
  assert_int_equal(r.body.n, 13);
  assert_memory_equal(r.body.p, "until the end", 13);
  pthread_join(th, NULL);
  assert_int_equal(s.accepts, 1); /* one connection for all three */
  close(s.lfd);
  /* nobody listens now: connection refused */
  assert_int_equal(lh_http_get(h, &c, "/four", &r, &nreq, 0), -1);
  assert_int_equal(r.cc, CURLE_COULDNT_CONNECT);
  lh_http_resp_free(&r);
  lh_http_close(h);
  lh_settings_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hex),          cmocka_unit_test(test_sizes),      cmocka_unit_test(test_servers),
      cmocka_unit_test(test_page1),        cmocka_unit_test(test_cache_ranges), cmocka_unit_test(test_cache_lru),
      cmocka_unit_test(test_http_seam),
      cmocka_unit_test(test_settings_load),
      cmocka_unit_test(test_http_strict),
      cmocka_unit_test(test_register_default),
      cmocka_unit_test(test_open_waits),
      cmocka_unit_test(test_http_plain),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
