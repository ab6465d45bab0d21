/* errmap.c - domain error code -> (HTTP status, wire error code), as libuv
 * maps errno and curl maps CURLcode: one row per code, nowhere else. */
#include "errmap.h"

#include "wire.h"

static const errmap_http errmap_table[DB_E_COUNT] = {
    [DB_E_NONE] = { 500, LTXW_E_INTERNAL },
    [DB_E_NOT_READY] = { 503, LTXW_E_UNAVAILABLE, "1" }, /* retry: the index is being built */
    [DB_E_TXID_AHEAD] = { 409, LTXW_E_TXID_AHEAD },
    [DB_E_TXID_GONE] = { 410, LTXW_E_TXID_GONE },
    [DB_E_PAGE_RANGE] = { 404, LTXW_E_PAGE_RANGE },
    [DB_E_STORE] = { 502, LTXW_E_UPSTREAM },
    [DB_E_STORE_TIMEOUT] = { 504, LTXW_E_UPSTREAM, "1" }, /* transient: the store's deadline passed */
    [DB_E_NOMEM] = { 500, LTXW_E_INTERNAL },
    [DB_E_INTERNAL] = { 500, LTXW_E_INTERNAL },
};

const errmap_http *errmap_db(db_errcode c)
{
    if ((unsigned)c >= DB_E_COUNT || !errmap_table[c].code)
        return &errmap_table[DB_E_INTERNAL];
    return &errmap_table[c];
}
