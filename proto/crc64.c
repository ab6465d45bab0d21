/* crc64.c - CRC-64/ISO as Go's hash/crc64 computes it, page and database
 * checksums (LTX-FORMAT.md §1.7, §1.8).
 *
 * Reflected CRC, polynomial constant 0xD800000000000000, init and xorout all
 * ones. Slicing-by-8 tables are built once (pthread_once), so every function
 * here is thread-safe and allocation-free. */
#include <pthread.h>
#include <string.h>

#include "ltx.h"

#define CRC64_ISO_POLY 0xD800000000000000ull

static uint64_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC64_ISO_POLY : c >> 1;
        crc_tab[0][i] = c;
    }
    for (unsigned i = 0; i < 256; i++) {
        uint64_t c = crc_tab[0][i];
        for (int t = 1; t < 8; t++) {
            c = crc_tab[0][c & 0xff] ^ (c >> 8);
            crc_tab[t][i] = c;
        }
    }
}

uint64_t ltx_crc64(uint64_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    while (len >= 8) {
        /* little-endian assembly of 8 bytes, independent of host order */
        uint64_t v = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
                     (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
                     (uint64_t)p[7] << 56;
        crc ^= v;
        crc = crc_tab[7][crc & 0xff] ^ crc_tab[6][(crc >> 8) & 0xff] ^ crc_tab[5][(crc >> 16) & 0xff] ^
              crc_tab[4][(crc >> 24) & 0xff] ^ crc_tab[3][(crc >> 32) & 0xff] ^
              crc_tab[2][(crc >> 40) & 0xff] ^ crc_tab[1][(crc >> 48) & 0xff] ^ crc_tab[0][crc >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = crc_tab[0][(uint8_t)crc ^ *p++] ^ (crc >> 8);
    return ~crc;
}

uint64_t ltx_page_checksum(uint32_t pgno, const uint8_t *page, uint32_t page_size)
{
    uint8_t b[4] = { (uint8_t)(pgno >> 24), (uint8_t)(pgno >> 16), (uint8_t)(pgno >> 8), (uint8_t)pgno };
    uint64_t c = ltx_crc64(0, b, 4);
    c = ltx_crc64(c, page, page_size);
    return c | LTX_CHECKSUM_FLAG;
}

uint64_t ltx_db_checksum(const uint8_t *db, uint32_t page_size, uint32_t commit)
{
    uint64_t ck = 0;
    uint32_t lock = ltx_lock_pgno(page_size);
    for (uint32_t pgno = 1; pgno <= commit && pgno != 0; pgno++) {
        if (pgno == lock)
            continue;
        ck ^= ltx_page_checksum(pgno, db + (size_t)(pgno - 1) * page_size, page_size);
    }
    return ck | LTX_CHECKSUM_FLAG;
}

uint64_t ltx_db_checksum_update(uint64_t ck, uint32_t pgno, const uint8_t *old_page, const uint8_t *new_page,
                                uint32_t page_size)
{
    if (pgno != ltx_lock_pgno(page_size)) {
        if (old_page)
            ck ^= ltx_page_checksum(pgno, old_page, page_size);
        if (new_page)
            ck ^= ltx_page_checksum(pgno, new_page, page_size);
    }
    return ck | LTX_CHECKSUM_FLAG;
}

/* ---- combining CRCs of adjacent ranges (zlib's crc32_combine, 64-bit) ---- */

static uint64_t gf2_times(const uint64_t *mat, uint64_t vec)
{
    uint64_t sum = 0;
    while (vec) {
        if (vec & 1)
            sum ^= *mat;
        vec >>= 1;
        mat++;
    }
    return sum;
}

static void gf2_square(uint64_t *square, const uint64_t *mat)
{
    for (int n = 0; n < 64; n++)
        square[n] = gf2_times(mat, mat[n]);
}

uint64_t ltx_crc64_combine(uint64_t crc1, uint64_t crc2, uint64_t len2)
{
    uint64_t even[64], odd[64];
    if (len2 == 0)
        return crc1;
    /* odd: the operator for one zero bit */
    odd[0] = CRC64_ISO_POLY;
    uint64_t row = 1;
    for (int n = 1; n < 64; n++) {
        odd[n] = row;
        row <<= 1;
    }
    gf2_square(even, odd); /* two zero bits */
    gf2_square(odd, even); /* four zero bits */
    /* apply len2 zero bytes to crc1 (the first square gives one byte) */
    do {
        gf2_square(even, odd);
        if (len2 & 1)
            crc1 = gf2_times(even, crc1);
        len2 >>= 1;
        if (len2 == 0)
            break;
        gf2_square(odd, even);
        if (len2 & 1)
            crc1 = gf2_times(odd, crc1);
        len2 >>= 1;
    } while (len2);
    return crc1 ^ crc2;
}
