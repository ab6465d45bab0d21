/* http.h - the HTTP API v1 on libmicrohttpd (routes in DESIGN.md): the
 * public entry of server/http/ (see server/http/http_int.h for its map). */
#ifndef LTXPAGED_HTTP_H
#define LTXPAGED_HTTP_H

#include "srv.h"

/* Start listening (thread pool). 0 ok, -1 error (logged). */
int http_start(srv *s);
/* Answer every suspended long-poll, stop accepting, drain, free. */
void http_stop(srv *s);

/* Route/status helpers exposed for unit tests. */
int http_parse_page(const char *s, uint32_t *out); /* 0 ok; 1 ..2^32-1 decimal */
/* "1,4,9-12" -> pages (malloc'd). 0 ok, -1 malformed/zero, -2 more than max. */
int http_parse_page_list(const char *s, uint32_t max, uint32_t **out, size_t *n);
/* "bytes=a-b" | "bytes=a-" | "bytes=-n" against total: 0 ok (start,end inclusive),
 * 1 no usable range (serve whole), -1 unsatisfiable (416). */
int http_parse_range(const char *h, uint64_t total, uint64_t *start, uint64_t *end);

#endif
