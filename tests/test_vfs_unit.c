/* test_vfs_unit.c - cmocka unit tests of the ltxhttp VFS internals (pure
 * parts: parsing, rendezvous order, page-1 presentation, the TXID-ranged
 * cache and how /changes answers update it). Includes the source directly
 * to reach its static functions; no server, no threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "../client-vfs/ltxhttp.c"

static void test_hex(void **st) {
  (void)st;
  uint64_t v = 0;
  assert_int_equal(lh_parse_hex64("0000000000000009", 16, &v), 0);
  assert_true(v == 9);
  assert_int_equal(lh_parse_hex64("ff", 2, &v), 0);
  assert_true(v == 255);
  assert_int_equal(lh_parse_hex64("0xA1", 4, &v), 0);
  assert_true(v == 0xa1);
  assert_int_equal(lh_parse_hex64("ffffffffffffffff", 16, &v), 0);
  assert_true(v == UINT64_MAX);
  assert_int_equal(lh_parse_hex64("10000000000000000", 17, &v), -1); /* 17 digits */
  assert_int_equal(lh_parse_hex64("", 0, &v), -1);
  assert_int_equal(lh_parse_hex64("0x", 2, &v), -1);
  assert_int_equal(lh_parse_hex64("12g4", 4, &v), -1);
}

static void test_sizes(void **st) {
  (void)st;
  long v = 0;
  assert_int_equal(lh_parse_size("1024", &v), 0);
  assert_int_equal(v, 1024);
  assert_int_equal(lh_parse_size("64K", &v), 0);
  assert_int_equal(v, 65536);
  assert_int_equal(lh_parse_size("2m", &v), 0);
  assert_int_equal(v, 2 * 1024 * 1024);
  assert_int_equal(lh_parse_size("1GB", &v), 0);
  assert_int_equal(v, 1024L * 1024 * 1024);
  assert_int_equal(lh_parse_size("lots", &v), -1);
  assert_int_equal(lh_parse_size("-1", &v), -1);
  assert_int_equal(lh_parse_size("5T", &v), -1);
  assert_int_equal(lh_parse_long("10", 1, 60, &v), 0);
  assert_int_equal(lh_parse_long("61", 1, 60, &v), -1);
  assert_int_equal(lh_parse_long("1x", 1, 60, &v), -1);
}

static void parse_list(lh_cfg *c, const char *list, const char *db) {
  memset(c, 0, sizeof *c);
  c->server_list = lh_strdup(list);
  c->db = lh_strdup(db);
}

static void test_servers(void **st) {
  (void)st;
  char err[256];
  lh_cfg a, b;
  parse_list(&a, "http://a:1,http://b:2/,https://c:3", "app.db");
  assert_int_equal(lh_parse_servers(&a, err, sizeof err), 0);
  assert_int_equal(a.nservers, 3);
  parse_list(&b, "https://c:3/ , http://b:2,http://a:1", "app.db");
  assert_int_equal(lh_parse_servers(&b, err, sizeof err), 0);
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
    lh_cfg c;
    parse_list(&c, "http://a:1,http://b:2,https://c:3", name);
    assert_int_equal(lh_parse_servers(&c, err, sizeof err), 0);
    for (int i = 0; i < 3; i++)
      if (strcmp(c.servers[0], a.servers[i]) == 0) firsts[i]++;
    lh_cfg_free(&c);
  }
  assert_true(firsts[0] > 0 && firsts[1] > 0 && firsts[2] > 0);
  assert_int_equal(firsts[0] + firsts[1] + firsts[2], 60);
  lh_cfg_free(&a);
  lh_cfg_free(&b);

  parse_list(&a, "ftp://x", "app.db");
  assert_int_equal(lh_parse_servers(&a, err, sizeof err), -1);
  assert_non_null(strstr(err, "must start with http"));
  lh_cfg_free(&a);
  parse_list(&a, " , ", "app.db");
  assert_int_equal(lh_parse_servers(&a, err, sizeof err), -1);
  assert_non_null(strstr(err, "no server URL"));
  lh_cfg_free(&a);
  char many[40 * 20] = "";
  for (int i = 0; i < 33; i++) strcat(many, "http://h:1,");
  parse_list(&a, many, "app.db");
  assert_int_equal(lh_parse_servers(&a, err, sizeof err), -1);
  lh_cfg_free(&a);
}

static void test_page1(void **st) {
  (void)st;
  unsigned char p[4096];
  for (int i = 0; i < 4096; i++) p[i] = (unsigned char)(i * 7);
  p[18] = 2;
  p[19] = 2; /* WAL mode as replicated */
  unsigned char orig[4096];
  memcpy(orig, p, sizeof p);
  lh_patch_page1(p, 4096, 0x0000000123456789ULL, 77);
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
  lh_patch_page1(q, 4096, 0x0000000123456790ULL, 77);
  assert_memory_not_equal(p + 24, q + 24, 4);
}

static lh_shared *fake_shared(uint32_t ps, size_t maxpages, uint64_t known, uint32_t commit) {
  lh_shared *sh = calloc(1, sizeof *sh);
  assert_non_null(sh);
  pthread_mutex_init(&sh->mu, NULL);
  pthread_cond_init(&sh->cv, NULL);
  sh->lru.lnext = sh->lru.lprev = &sh->lru;
  sh->page_size = ps;
  sh->maxpages = maxpages;
  sh->known = known;
  sh->commit = commit;
  return sh;
}

static void free_shared(lh_shared *sh) {
  lh_cache_clear(sh);
  pthread_mutex_destroy(&sh->mu);
  pthread_cond_destroy(&sh->cv);
  free(sh);
}

static void changes(lh_shared *sh, uint64_t since, const char *js) {
  json_t *j = json_loads(js, 0, NULL);
  assert_non_null(j);
  lh_apply_changes(sh, since, j);
  json_decref(j);
}

static void test_cache_ranges(void **st) {
  (void)st;
  unsigned char pg[512];
  lh_shared *sh = fake_shared(512, 100, 5, 10);
  memset(pg, 'a', sizeof pg);
  lh_cache_put(sh, 3, 5, pg); /* fetched at the newest TXID: open-ended */
  memset(pg, 'b', sizeof pg);
  lh_cache_put(sh, 4, 5, pg);
  lh_cache_put(sh, 9, 2, pg); /* fetched in the past: exactly [2,2] */
  assert_non_null(lh_cache_find(sh, 3, 5));
  assert_null(lh_cache_find(sh, 3, 4)); /* not known before it was fetched */
  assert_null(lh_cache_find(sh, 3, 6)); /* not known beyond the newest TXID */
  assert_non_null(lh_cache_find(sh, 9, 2));
  assert_null(lh_cache_find(sh, 9, 3));

  /* TXIDs 6..7 changed page 3 only: 4 stays valid up to 7, 3 only up to 5. */
  changes(sh, 5, "{\"txid\":\"0000000000000007\",\"commit\":10,\"page_size\":512,\"pages\":[3]}");
  assert_true(sh->known == 7);
  assert_non_null(lh_cache_find(sh, 4, 7));
  assert_null(lh_cache_find(sh, 3, 7));
  lh_entry *e = lh_cache_find(sh, 3, 5);
  assert_non_null(e);
  assert_int_equal(e->data[0], 'a');
  /* a new version of page 3 at 7 coexists with the old one */
  memset(pg, 'c', sizeof pg);
  lh_cache_put(sh, 3, 7, pg);
  assert_int_equal(lh_cache_find(sh, 3, 7)->data[0], 'c');
  assert_int_equal(lh_cache_find(sh, 3, 5)->data[0], 'a');

  /* long-poll timeout: same TXID, nothing changes */
  uint64_t upd = sh->updates;
  changes(sh, 7, "{\"txid\":\"0000000000000007\",\"commit\":10,\"page_size\":512,\"pages\":[]}");
  assert_true(sh->updates == upd);

  /* shrink to 3 pages: page 4 is gone after 7 even if not listed */
  changes(sh, 7, "{\"txid\":\"0000000000000008\",\"commit\":3,\"page_size\":512,\"pages\":[1]}");
  assert_null(lh_cache_find(sh, 4, 8));
  assert_non_null(lh_cache_find(sh, 4, 7));
  assert_non_null(lh_cache_find(sh, 3, 8));
  assert_int_equal(sh->commit, 3);

  /* string ranges are tolerated */
  changes(sh, 8, "{\"txid\":\"0000000000000009\",\"commit\":3,\"page_size\":512,\"pages\":[\"2-3\"]}");
  assert_null(lh_cache_find(sh, 3, 9));

  /* stale answer (since != known): treated as a reset, everything dropped */
  changes(sh, 5, "{\"txid\":\"000000000000000a\",\"commit\":3,\"page_size\":512,\"pages\":[]}");
  assert_int_equal(sh->npages, 0);
  assert_true(sh->known == 10);
  assert_true(sh->resets == 1);

  /* explicit reset */
  lh_cache_put(sh, 1, 10, pg);
  changes(sh, 10, "{\"reset\":true,\"txid\":\"000000000000000b\",\"commit\":3,\"page_size\":512}");
  assert_int_equal(sh->npages, 0);
  assert_true(sh->known == 11);
  /* bad JSON shapes change nothing */
  changes(sh, 11, "{\"txid\":\"zz\"}");
  assert_true(sh->known == 11);
  free_shared(sh);
}

static void test_cache_lru(void **st) {
  (void)st;
  unsigned char pg[512];
  lh_shared *sh = fake_shared(512, 16, 1, 100);
  for (uint32_t p = 1; p <= 16; p++) {
    memset(pg, (int)p, sizeof pg);
    lh_cache_put(sh, p, 1, pg);
  }
  assert_int_equal(sh->npages, 16);
  /* touch page 1 so that page 2 is the least recently used */
  lh_entry *e = lh_cache_find(sh, 1, 1);
  lh_lru_unlink(e);
  lh_lru_front(sh, e);
  lh_cache_put(sh, 17, 1, pg);
  assert_int_equal(sh->npages, 16);
  assert_true(sh->evictions == 1);
  assert_null(lh_cache_find(sh, 2, 1));
  assert_non_null(lh_cache_find(sh, 1, 1));
  assert_non_null(lh_cache_find(sh, 17, 1));
  /* putting a page that is already valid is a no-op */
  lh_cache_put(sh, 17, 1, pg);
  assert_int_equal(sh->npages, 16);
  /* many pages colliding in buckets still all findable */
  free_shared(sh);
  sh = fake_shared(512, 10000, 1, 100000);
  for (uint32_t p = 1; p <= 9000; p++) lh_cache_put(sh, p * LH_NBUCKETS / 7 + 1, 1, pg);
  for (uint32_t p = 1; p <= 9000; p++) assert_non_null(lh_cache_find(sh, p * LH_NBUCKETS / 7 + 1, 1));
  free_shared(sh);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hex),          cmocka_unit_test(test_sizes),      cmocka_unit_test(test_servers),
      cmocka_unit_test(test_page1),        cmocka_unit_test(test_cache_ranges), cmocka_unit_test(test_cache_lru),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
