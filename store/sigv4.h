/* sigv4.h - AWS Signature Version 4 (header form) with OpenSSL.
 *
 * Written from the published algorithm: canonical request
 *   METHOD \n URI-encoded path ('/' kept) \n sorted encoded query \n
 *   lower-case sorted headers "name:trimmed value\n"... \n signed names \n payload hash
 * string to sign "AWS4-HMAC-SHA256\n<amz-date>\n<date>/<region>/<service>/aws4_request\n<hex sha256(creq)>",
 * key = HMAC chain over "AWS4"+secret, date, region, service, "aws4_request".
 * Paths are not normalized (S3 style). */
#ifndef SIGV4_H
#define SIGV4_H

#include <stddef.h>

typedef struct {
    const char *name;
    const char *value;
} sigv4_pair;

typedef struct {
    const char *method;      /* "GET" */
    const char *path;        /* raw (not yet encoded) path, e.g. "/bucket/a b.ltx" */
    const sigv4_pair *query; /* raw names/values; value NULL = "" */
    size_t nquery;
    const sigv4_pair *headers; /* every header to sign (host, x-amz-date, ...); any case */
    size_t nheaders;
    const char *payload_hash; /* hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" */
    const char *amz_date;     /* "20150830T123600Z" */
    const char *region;
    const char *service; /* "s3" */
    const char *access_key;
    const char *secret_key;
} sigv4_input;

/* Percent-encode per RFC 3986 unreserved set (A-Z a-z 0-9 - . _ ~);
 * keep '/' when keep_slash. Returns bytes written (excl. NUL), or -1 if out
 * is too small. */
int sigv4_uri_encode(const char *in, int keep_slash, char *out, size_t outlen);
/* out: 65 bytes */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);
/* The canonical request text (malloc'd, caller frees), or NULL on bad input
 * / out of memory. */
char *sigv4_canonical_request(const sigv4_input *in);
/* Fill sig_hex (65 bytes) and the Authorization header value
 * ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...").
 * Returns 0, or -1 on bad input / buffer too small / out of memory. */
int sigv4_sign(const sigv4_input *in, char sig_hex[65], char *auth, size_t authlen);

#endif
