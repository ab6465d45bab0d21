/* ltx.h - LTX codec, replica layout and restore plan (pure code, no I/O).
 *
 * Everything here follows ../shared/docs/LTX-FORMAT.md. All functions are
 * thread-safe; none of them performs I/O. Functions that allocate say who
 * owns the result; *_free functions accept NULL.
 */
#ifndef LTX_H
#define LTX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants ---------------------------------------------------------- */

#define LTX_MAGIC              "LTX1"
#define LTX_HEADER_SIZE        100
#define LTX_TRAILER_SIZE       16
#define LTX_PAGE_HEADER_SIZE   6 /* pgno u32 + flags u16 */
#define LTX_FLAG_NO_CHECKSUM   0x00000002u
#define LTX_PAGE_FLAG_SIZE     0x0001u /* v3b: u32 size + LZ4 block follows */
#define LTX_MIN_PAGE_SIZE      512
#define LTX_MAX_PAGE_SIZE      65536
#define LTX_CHECKSUM_FLAG      (1ull << 63)
#define LTX_TXID_HEX           16 /* TXIDs as text: %016x */
#define LTX_FILENAME_LEN       37 /* "<16>-<16>.ltx" without NUL */
#define LTX_MAX_LEVEL          9
#define LTX_SNAPSHOT_LEVEL     9
/* Upper bound of one encoded frame for a page size: header + size prefix +
 * LZ4 worst case (covers v3a frames too). */
#define LTX_MAX_FRAME_SIZE(ps) ((size_t)(ps) + (size_t)(ps) / 255u + 64u)

/* ---- errors ------------------------------------------------------------- */

typedef enum {
    LTX_OK = 0,
    LTX_ERR_ARG, /* caller passed something invalid */
    LTX_ERR_NOMEM,
    LTX_ERR_MAGIC,      /* not "LTX1" */
    LTX_ERR_HEADER,     /* a header field is invalid (see message) */
    LTX_ERR_FLAGS,      /* unknown header or page flags */
    LTX_ERR_VERSION,    /* legacy v1/v2 layout: refused */
    LTX_ERR_PAGE_ORDER, /* pages not strictly increasing / duplicate */
    LTX_ERR_LOCK_PAGE,  /* lock page present */
    LTX_ERR_PAGE_BEYOND_COMMIT,
    LTX_ERR_SNAPSHOT_INCOMPLETE, /* snapshot misses a page 1..commit */
    LTX_ERR_TRUNCATED,           /* data ends early / sizes do not add up */
    LTX_ERR_DECOMPRESS,          /* LZ4 data corrupt */
    LTX_ERR_PAGE_SIZE,           /* decoded page is not page_size bytes, or sizes differ */
    LTX_ERR_INDEX,               /* page index malformed or disagrees with frames */
    LTX_ERR_CHECKSUM,            /* file or database checksum mismatch */
    LTX_ERR_NAME,                /* not a valid LTX file name / TXID text */
    LTX_ERR_TX_NOT_AVAILABLE,    /* restore plan: target cannot be reached */
    LTX_ERR_NONCONTIGUOUS,       /* restore plan: gap no level bridges */
    LTX_ERR__COUNT
} ltx_err;

/* Short stable identifier ("checksum_mismatch") and a human sentence. */
const char *ltx_err_code(ltx_err e);
const char *ltx_strerror(ltx_err e);

/* Optional detail for an error: which byte, which page, what was expected.
 * Every function that takes an ltx_error* accepts NULL. */
typedef struct {
    ltx_err code;
    uint64_t offset; /* file offset where the problem was found */
    char msg[200];   /* full sentence, e.g. "page 8: decoded 4000 bytes, want 4096" */
} ltx_error;

/* ---- CRC-64/ISO as Go's hash/crc64 (reflected, poly 0xD800000000000000,
 * init and xorout all ones). Update semantics like Go's crc64.Update:
 * crc = ltx_crc64(0, a, n); crc = ltx_crc64(crc, b, m). ---------------- */
uint64_t ltx_crc64(uint64_t crc, const void *buf, size_t len);
/* CRC of A || B from crc1 = ltx_crc64(0, A, len(A)), crc2 = ltx_crc64(0, B,
 * len2) (like zlib's crc32_combine): lets ranges hashed in parallel be
 * joined. O(log len2), no allocation. */
uint64_t ltx_crc64_combine(uint64_t crc1, uint64_t crc2, uint64_t len2);
/* CRC64(u32be(pgno) || page) | 1<<63 */
uint64_t ltx_page_checksum(uint32_t pgno, const uint8_t *page, uint32_t page_size);
/* Database checksum of an image of `commit` pages (page i at (i-1)*page_size):
 * XOR of the page checksums of 1..commit except the lock page, | 1<<63. */
uint64_t ltx_db_checksum(const uint8_t *db, uint32_t page_size, uint32_t commit);
/* Incremental update for one page: XOR out old_page (NULL = page did not
 * exist), XOR in new_page (NULL = page removed); result | 1<<63. The lock
 * page is ignored. */
uint64_t ltx_db_checksum_update(uint64_t ck, uint32_t pgno, const uint8_t *old_page, const uint8_t *new_page,
                                uint32_t page_size);

/* ---- header / trailer --------------------------------------------------- */

typedef struct {
    uint32_t flags;
    uint32_t page_size;
    uint32_t commit;
    uint64_t min_txid;
    uint64_t max_txid;
    int64_t timestamp_ms;
    uint64_t pre_apply_checksum;
    int64_t wal_offset;
    int64_t wal_size;
    uint32_t wal_salt1;
    uint32_t wal_salt2;
    uint64_t node_id;
} ltx_header;

typedef struct {
    uint64_t post_apply_checksum;
    uint64_t file_checksum;
} ltx_trailer;

/* Decode and validate (Header.Validate rules) the first 100 bytes. */
ltx_err ltx_header_decode(const uint8_t *buf, size_t len, ltx_header *h, ltx_error *e);
void ltx_header_encode(const ltx_header *h, uint8_t out[LTX_HEADER_SIZE]);
ltx_err ltx_header_validate(const ltx_header *h, ltx_error *e);
int ltx_header_is_snapshot(const ltx_header *h); /* min_txid == 1 */
ltx_err ltx_trailer_decode(const uint8_t *buf, size_t len, ltx_trailer *t, ltx_error *e);

int ltx_page_size_valid(uint32_t page_size);
/* floor(0x40000000 / page_size) + 1 */
uint32_t ltx_lock_pgno(uint32_t page_size);

/* ---- page index (read from the tail of a file, as a remote reader must) -- */

typedef struct {
    uint32_t pgno;
    uint64_t offset; /* absolute offset of the 6-byte page header */
    uint32_t size;   /* whole frame length */
} ltx_index_entry;

/* Given the last `tail_len` bytes of a file of `file_size` bytes
 * (tail_len >= 24, or the whole file), compute where the index varints
 * start (*idx_off, absolute) and how long they are (*idx_len, including the
 * terminating 0 varint but not the u64). */
ltx_err ltx_index_locate(const uint8_t *tail, size_t tail_len, uint64_t file_size, uint64_t *idx_off,
                         uint64_t *idx_len, ltx_error *e);

/* Decode `len` bytes of index varints (as located above). Entries must be
 * strictly increasing by pgno, lie inside [100, idx_off - 6), not overlap,
 * and have a plausible size. With page_size/commit non-zero, also checks
 * pgno <= commit and no lock page. *out is malloc'd; caller frees. */
ltx_err ltx_index_decode(const uint8_t *buf, size_t len, uint64_t idx_off, uint32_t page_size,
                         uint32_t commit, ltx_index_entry **out, size_t *n, ltx_error *e);

/* Decode one page frame (6-byte page header + payload) read on its own by
 * (offset, size) from the index. Handles both layouts: page flags 0 (one LZ4
 * frame, v3a) and page flags 1 (u32 size + LZ4 block, v3b). `out` receives
 * exactly page_size bytes. If expect_pgno != 0 the frame's pgno must match.
 * No allocation on the block path. */
ltx_err ltx_frame_decode(const uint8_t *frame, size_t frame_len, uint32_t page_size, uint32_t expect_pgno,
                         uint8_t *out, ltx_error *e);

/* ---- whole-file decode / verify ---------------------------------------- */

/* Called for each page in file order with the decompressed page. Return 0 to
 * continue, non-zero to stop (ltx_file_decode then returns LTX_ERR_ARG). */
typedef int (*ltx_page_fn)(void *ctx, uint32_t pgno, const uint8_t *page);

typedef struct {
    ltx_header header;
    ltx_trailer trailer;
    size_t page_count;
    ltx_index_entry *index; /* malloc'd, page_count entries; free with ltx_file_info_free */
    int frame_layout;       /* 0 = none (no pages), 1 = LZ4 frame (v3a), 2 = LZ4 block (v3b), 3 = mixed */
    uint64_t computed_post_apply; /* for snapshots with checksums tracked: recomputed db checksum */
} ltx_file_info;

/* Decode a whole file held in memory: header, every frame (decompressed and
 * handed to fn, may be NULL), terminator, index (must agree with the frames),
 * trailer; verifies the file checksum, and for a snapshot with checksums
 * tracked the database checksum. Returns the first problem found. `info`
 * may be NULL. */
ltx_err ltx_file_decode(const uint8_t *buf, size_t len, ltx_page_fn fn, void *ctx, ltx_file_info *info,
                        ltx_error *e);
void ltx_file_info_free(ltx_file_info *info);

/* ---- streaming verifier (proto/verify.c) --------------------------------
 * The same checks as ltx_file_decode (which is this verifier fed the whole
 * buffer at once), for bytes arriving in any chunking: header, every frame
 * decoded to exactly one page, terminator, page index agreeing with the
 * frames, trailer, file checksum, and the database checksum of a
 * checksum-tracking snapshot. Memory stays bounded: one frame of lookahead
 * (grown only for frames larger than a well-formed one) and the index.
 *
 *   ltx_verifier *v = ltx_verifier_new();
 *   ltx_verifier_on_page(v, fn, ctx);     (optional)
 *   while (more) if (ltx_verifier_feed(v, p, n, &e) != LTX_OK) break;
 *   rc = ltx_verifier_finish(v, &info, &e); (info optional)
 *   ltx_verifier_free(v);
 *
 * feed returns the first problem as soon as it is found (and again on every
 * later call); finish returns it too. A caller that keeps feeding to the end
 * after an error gets exactly ltx_file_decode's answer from finish,
 * including the LTX_ERR_VERSION sentence for legacy v1/v2 files. */
typedef struct ltx_verifier ltx_verifier;

/* Like ltx_page_fn, with the raw frame (6-byte page header + payload) too. */
typedef int (*ltx_frame_fn)(void *ctx, uint32_t pgno, const uint8_t *page, const uint8_t *frame,
                            size_t frame_len);

ltx_verifier *ltx_verifier_new(void); /* NULL when out of memory */
void ltx_verifier_on_page(ltx_verifier *v, ltx_page_fn fn, void *ctx);
void ltx_verifier_on_frame(ltx_verifier *v, ltx_frame_fn fn, void *ctx);
ltx_err ltx_verifier_feed(ltx_verifier *v, const void *buf, size_t len, ltx_error *e);
ltx_err ltx_verifier_finish(ltx_verifier *v, ltx_file_info *info, ltx_error *e);
/* The decoded header once 100 valid bytes were fed, else NULL. */
const ltx_header *ltx_verifier_header(const ltx_verifier *v);
uint64_t ltx_verifier_bytes(const ltx_verifier *v); /* bytes fed so far */
void ltx_verifier_free(ltx_verifier *v);

/* ---- header + page index from a file's tail -----------------------------
 * What a remote reader does with two ranged reads: bytes [0,100) and the
 * last tail_len bytes of a file of file_size bytes. Checks the header,
 * locates the index and, when the tail holds all of it, decodes it (the
 * same checks as ltx_index_decode, with the header's page size and commit).
 * Returns LTX_OK with *index and *n set (malloc'd; caller frees), or LTX_OK with
 * *need > 0 when the tail was too short: read the last *need bytes and call
 * again. When the tail covers the whole file, pass it as head too (one read).
 * No I/O: the reads stay with the caller (tools/, server/db_index.c). */
ltx_err ltx_tail_parse(const uint8_t *head, size_t head_len, const uint8_t *tail, size_t tail_len,
                       uint64_t file_size, ltx_header *h, ltx_index_entry **index, size_t *n,
                       uint64_t *idx_off, size_t *need, ltx_error *e);

/* ---- encoder (current layout: page flags 1, LZ4 block) ----------------- */

typedef struct ltx_encoder ltx_encoder;

/* Start a file in memory. The header is validated at finish (pre_apply etc.).
 * `max_bytes` caps the output buffer (0 = 4 GiB). */
ltx_encoder *ltx_encoder_new(const ltx_header *h, size_t max_bytes);
/* Pages must come strictly increasing, <= commit, never the lock page; a
 * snapshot must get every page 1..commit. */
ltx_err ltx_encoder_add_page(ltx_encoder *enc, uint32_t pgno, const uint8_t *page, ltx_error *e);
/* Same rules, but store an already-compressed LZ4 block (e.g. copied from
 * a v3b frame: bytes 10.. of it) instead of compressing `page`. With page
 * == NULL the block is decoded (must give exactly page_size bytes) to feed
 * the file checksum; with page != NULL the caller vouches that the block
 * decodes to `page`. Lets compaction copy frames without recompressing, and
 * reproduces reference files byte for byte. */
ltx_err ltx_encoder_add_block(ltx_encoder *enc, uint32_t pgno, const uint8_t *page, const uint8_t *block,
                              uint32_t block_len, ltx_error *e);
/* Write terminator, index and trailer. With checksums tracked the caller
 * gives post_apply (use ltx_db_checksum*), else pass 0. On success *out
 * (malloc'd, caller frees) holds the file. */
ltx_err ltx_encoder_finish(ltx_encoder *enc, uint64_t post_apply, uint8_t **out, size_t *out_len,
                           ltx_error *e);
void ltx_encoder_free(ltx_encoder *enc);

/* ---- replica layout ---------------------------------------------------- */

/* Strict "^[0-9a-f]{16}-[0-9a-f]{16}\.ltx$"; returns 0 on match. */
int ltx_parse_filename(const char *name, uint64_t *min_txid, uint64_t *max_txid);
/* out must hold LTX_FILENAME_LEN + 1 bytes. */
void ltx_format_filename(char *out, uint64_t min_txid, uint64_t max_txid);
/* 1..16 hex digits (either case), value > 0 unless allow_zero; 0 on success. */
int ltx_parse_txid(const char *s, uint64_t *txid, int allow_zero);
/* out must hold 17 bytes. */
void ltx_format_txid(char *out, uint64_t txid);
/* RFC 3339 UTC with milliseconds, "2025-01-01T00:06:30.000Z"; out >= 25 bytes. */
void ltx_format_time(char *out, size_t outlen, int64_t ms);
/* Accepts RFC 3339 / RFC 3339 nano with Z or +hh:mm; truncates to ms. */
int ltx_parse_time(const char *s, int64_t *ms);
/* Level folder names: file replicas "<root>/ltx/<level decimal>",
 * S3 "<prefix>/<level %04x>". Return 0 on success, -1 if out too small. */
int ltx_file_level_dir(char *out, size_t outlen, const char *replica_root, int level);
int ltx_s3_level_prefix(char *out, size_t outlen, const char *db_prefix, int level);
/* Parse the level folder name ("0".."9" for files, "0000".."0009" for S3);
 * returns the level or -1. */
int ltx_parse_file_level(const char *name);
int ltx_parse_s3_level(const char *name);

/* ---- restore plan (LTX-FORMAT.md §3.1) ---------------------------------- */

/* Room for an object version in ltx_fileinfo.etag, NUL included: an S3
 * multipart ETag without quotes is at most 32 hex + '-' + 5 digits. */
#define LTX_ETAG_MAX 40

typedef struct {
    int level;
    uint64_t min_txid;
    uint64_t max_txid;
    uint64_t size;      /* bytes, from the listing */
    int64_t created_ms; /* CreatedAt: mtime / litestream-timestamp / header ts */
    /* The object's version when it was listed (store/): the S3 ETag without
     * quotes, or for a local file "<inode hex>-<mtime ns hex>". "" = unknown
     * (no identity check). Reads of a file whose version is set fail with
     * OBJ_CHANGED if the object was replaced since. */
    char etag[LTX_ETAG_MAX];
} ltx_fileinfo;

/* Choose the files that restore a database. `files` is every file of every
 * level (any order). target_txid = 0 means no TXID bound; target_time_ms = 0
 * means no time bound (only files with created_ms < target count). Latest =
 * both 0. On success *plan (malloc'd, caller frees) holds the chosen files
 * in apply order and *restored_txid the TXID reached. Errors:
 * LTX_ERR_TX_NOT_AVAILABLE (empty / short of target), LTX_ERR_NONCONTIGUOUS
 * (latest target with a gap no level bridges). */
ltx_err ltx_restore_plan(const ltx_fileinfo *files, size_t n, uint64_t target_txid, int64_t target_time_ms,
                         ltx_fileinfo **plan, size_t *plan_n, uint64_t *restored_txid, ltx_error *e);

/* "L2:0000000000000001-0000000000000008" (as in the vectors' manifest);
 * out >= 41 bytes. */
void ltx_fileinfo_format(char *out, size_t outlen, const ltx_fileinfo *f);

#ifdef __cplusplus
}
#endif
#endif /* LTX_H */
