/* http_cors.c - cross-origin reads from browser pages (--cors-origin).
 *
 * With no --cors-origin nothing here adds a header and OPTIONS stays 405.
 * With origins configured, an answer to a request whose Origin is one of
 * them (or any, with "*") carries Access-Control-Allow-Origin and exposes
 * the headers a range reader needs (ETag, Content-Range, the Ltx-*
 * snapshot headers ...); an OPTIONS preflight is answered 204 allowing
 * GET and HEAD with the request headers a reader sends (Range, the read
 * token's Authorization, the conditionals). When the list is not "*",
 * every answer says Vary: Origin, so an HTTP cache in front keeps one
 * answer per origin. Preflights need no token (browsers never send one). */
#include "http_int.h"

#include <string.h>

#define HTTP_CORS_EXPOSE                                                                     \
    "ETag, Content-Range, Accept-Ranges, Content-Length, Content-Disposition, Retry-After, " \
    "Location, " LTXW_HDR_TXID ", " LTXW_HDR_COMMIT ", " LTXW_HDR_PAGE_SIZE ", " LTXW_HDR_TIMESTAMP
#define HTTP_CORS_ALLOW_HEADERS "Range, Authorization, If-Match, If-None-Match, If-Range"
#define HTTP_CORS_MAX_AGE       "7200" /* Chromium's cap */

void http_cors_init(struct http *h)
{
    const srv_config *c = &h->s->cfg;
    h->cors = c->cors_origins;
    h->ncors = c->ncors_origins;
    for (size_t i = 0; i < h->ncors; i++)
        if (strcmp(h->cors[i], "*") == 0)
            h->cors_any = 1;
}

/* The Access-Control-Allow-Origin value for origin, or NULL. */
static const char *http_cors_allow(const struct http *h, const char *origin)
{
    if (!h->ncors || !origin || !*origin)
        return NULL;
    if (h->cors_any)
        return "*";
    for (size_t i = 0; i < h->ncors; i++)
        if (strcmp(h->cors[i], origin) == 0)
            return origin;
    return NULL;
}

void http_cors_headers(const struct http *h, const struct http_request *in, struct MHD_Response *resp)
{
    if (!h->ncors)
        return;
    if (!h->cors_any)
        MHD_add_response_header(resp, "Vary", "Origin");
    const char *allow = http_cors_allow(h, in->hdr.origin);
    if (!allow)
        return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", allow);
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", HTTP_CORS_EXPOSE);
}

enum MHD_Result http_cors_preflight(struct http *h, struct http_req *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Allow", "GET, HEAD, OPTIONS");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (http_cors_allow(h, r->in.hdr.origin) && r->in.hdr.acr_method) {
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, HEAD");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", HTTP_CORS_ALLOW_HEADERS);
        MHD_add_response_header(resp, "Access-Control-Max-Age", HTTP_CORS_MAX_AGE);
    }
    return http_resp_queue(h, r, 204, resp); /* Allow-Origin and Vary added there */
}
