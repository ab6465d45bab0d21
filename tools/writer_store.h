/* writer_store.h - replica-side operations of the LTX writer, on top of the
 * shared object-store backends (file and S3 replicas alike). Every function
 * prints what went wrong to stderr and returns -1 on failure, 0 on success.
 */
#ifndef WRITER_STORE_H
#define WRITER_STORE_H

#include <stdint.h>

#include "objstore.h"
#include "writer_core.h"

/* The replica is always the root of the store URL (db ""). */
#define WR_DB ""

objstore *wr_store_open(const char *url);

/* Highest max TXID over every level (0 = empty replica). */
int wr_replica_max_txid(objstore *st, uint64_t *max_txid);

/* Rebuild the latest state of the replica into pm (restore plan, whole files
 * applied in order, each truncating). *txid = 0 for an empty replica.
 * last_hdr, last_trl: header and trailer of the last file applied (may be NULL). */
int wr_restore_latest(objstore *st, ltx_pagemap *pm, uint64_t *txid, ltx_header *last_hdr,
                      ltx_trailer *last_trl);

/* Merge level-1 files above the max TXID already in `level` into one file
 * at `level`. *wrote = 1 when a file was written. */
int wr_compact_level(objstore *st, int level, int *wrote);

/* Write a snapshot (level 9, min 1, max = latest TXID) of the replica's
 * latest state; timestamp = now. Skipped (*wrote = 0) when the newest
 * snapshot already reaches the latest TXID. */
int wr_snapshot_level9(objstore *st, int *wrote);

/* L0 retention (LTX-FORMAT.md §2.2): delete L0 files created before
 * now - retention_ms whose max <= the highest TXID in L1, walking in order
 * and stopping at the first one that does not qualify; the newest L0 file
 * is always kept. */
int wr_l0_retention(objstore *st, int64_t retention_ms, int64_t now_ms, int *deleted);

/* Snapshot and L1+ retention, the server's --retention rule
 * (proto's ltx_retention_select): snapshots older than the one kept at
 * now - retention_ms go (the newest always stays) with the L1+ files at or
 * below its TXID; nothing without a snapshot, nothing when the rest would
 * not restore the window. 0 ok, -1 on a store error or a refused pass. */
int wr_retention(objstore *st, int64_t retention_ms, int64_t now_ms, int *deleted);

/* Write one file and print a line about it ("L0 0000…0003-0000…0003 …"). */
int wr_put_file(objstore *st, int level, const ltx_header *h, const uint8_t *buf, size_t len, size_t npages);

/* Log line on stdout, prefixed with the current UTC time. */
void wr_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
