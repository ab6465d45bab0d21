/* errmap.h - the one place a database error becomes an HTTP answer
 * (http_resp_dberr). */
#ifndef LTXPAGED_ERRMAP_H
#define LTXPAGED_ERRMAP_H

#include "db.h"

typedef struct {
    int status;              /* HTTP status */
    const char *code;        /* wire.h error code (the JSON "code" field) */
    const char *retry_after; /* Retry-After seconds on the answer, or NULL */
} errmap_http;

/* The HTTP status and wire code for a domain error code; a code outside
 * the table (or DB_E_NONE) answers 500 "internal". Never NULL. */
const errmap_http *errmap_db(db_errcode c);

#endif
