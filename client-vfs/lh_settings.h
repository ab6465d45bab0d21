/* lh_settings.h - per-connection settings of the ltxhttp VFS: URI
 * parameters, then LTXHTTP_* environment variables, then defaults (the
 * table in lh_settings.c; docs/vfs.md lists them), and the server list in
 * rendezvous order for the database.
 *
 * Not thread-safe: each connection owns its lh_settings; the watcher owns
 * a copy (lh_settings_copy).
 */
#ifndef LH_SETTINGS_H
#define LH_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#define LH_SETTINGS_MAX_SERVERS 32

typedef struct lh_settings {
    char *server;      /* servers[cur] (not owned) */
    char *server_list; /* as configured (part of the shared-cache key) */
    char **servers;    /* base URLs without trailing slash, rendezvous order */
    int nservers;
    int cur;               /* server in use */
    int64_t failover_ms;   /* when we moved off servers[0] (monotonic ms) */
    size_t max_server_len; /* bytes of the longest base URL */
    char *token;           /* bearer token or NULL */
    char *cafile;          /* CA bundle for https:// servers, or NULL (system CAs) */
    char *db;              /* database name on the server */
    long cache_bytes;      /* bytes of the shared page cache */
    long timeout_ms;       /* ms per request */
    long connect_timeout_ms;
    long retry_ms;        /* ms of retries of transient failures, split between servers */
    long open_timeout_ms; /* ms an open waits for a database the server has not indexed yet */
    long max_stale_ms;    /* 0: off; else refuse to pin while the watcher fails longer */
    int readahead;        /* pages fetched after a sequential miss, at most */
    long open_btree;      /* bytes of b-tree interior pages asked for with the open answer (btree=) */
    int wait_s;           /* /changes long-poll seconds */
    int log;              /* 1: print errors to stderr too */
    /* servers[i] is skipped until down_until[i] (monotonic ms): it could not
     * be connected to, timed out or was not ready */
    int64_t down_until[LH_SETTINGS_MAX_SERVERS];
    int write;             /* write mode (lh_write.c) */
    long sync_interval_ms; /* write mode: 0 = every COMMIT waits for the server */
    long write_buffer;     /* write mode: bytes buffered at most */
} lh_settings;

/* Fill c for the database file zName (a SQLite filename with URI
 * parameters, or NULL: environment only). Returns 0, or -1 with a message
 * in err (c then holds what was parsed: free it with lh_settings_free). */
int lh_settings_load(lh_settings *c, const char *zName, char *err, size_t errn);

/* Split c->server_list ("URL[,URL...]") into c->servers, ordered by
 * rendezvous hashing on c->db so that each database prefers its own server
 * and the order does not depend on how the list was written. Returns 0, or
 * -1 with a message in err. */
int lh_settings_parse_servers(lh_settings *c, char *err, size_t errn);

/* Bytes: a size as strparse_size reads it ("64M", "512K", "1GB"), at most
 * 1 TiB. Returns 0, or -1 leaving *out alone. */
int lh_settings_parse_size(const char *s, long *out);

/* Deep copy of c into d (same server in use). Returns 0, or -1 on out of
 * memory (d then holds a partial copy: free it). */
int lh_settings_copy(lh_settings *d, const lh_settings *c);

/* Free what c owns and zero it; a zeroed c is fine. */
void lh_settings_free(lh_settings *c);

#endif /* LH_SETTINGS_H */
