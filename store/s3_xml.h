/* s3_xml.h - the small, careful parser for S3 ListObjectsV2 answers
 * (internal to ltxstore; pure code, unit-tested with hostile input). */
#ifndef S3_XML_H
#define S3_XML_H

#include <stddef.h>
#include <stdint.h>

#include "ltx.h"

/* Callbacks return 0 to go on, < 0 to stop (s3_parse_list then returns -2). */
/* etag: the entry's ETag without quotes, "" when absent or too long. */
typedef int (*s3_key_fn)(void *ctx, const char *key, uint64_t size, int64_t mtime_ms, const char *etag);
typedef int (*s3_prefix_fn)(void *ctx, const char *prefix);

/* Parses one ListBucketResult page: every <Contents> (Key, Size,
 * LastModified -> ms) to kf, every <CommonPrefixes><Prefix> to pf (either may
 * be NULL), <IsTruncated> to *truncated and, when truncated, the
 * <NextContinuationToken> to *next_token (malloc'd). Entities (&amp; &lt;
 * &gt; &quot; &apos; &#N; &#xH;) are decoded. Returns 0, -1 if malformed
 * (reason in why), -2 if a callback stopped. */
int s3_parse_list(const char *xml, size_t len, s3_key_fn kf, s3_prefix_fn pf, void *ctx, int *truncated,
                  char **next_token, char *why, size_t whylen);
/* An ETag header or element value -> out without quotes (and without a
 * weak "W/" mark); "" when it does not fit LTX_ETAG_MAX or holds spaces,
 * quotes or control bytes (it could not be sent back in If-Match). */
void s3_etag_unquote(const char *v, size_t vl, char out[LTX_ETAG_MAX]);
/* XML text [s, e) -> malloc'd string with entities decoded; NULL if malformed
 * (unknown entity, &#0;, surrogate, > U+10FFFF) or out of memory. */
char *s3_xml_text(const char *s, const char *e);
/* "2025-01-01T00:00:00[.fff…]Z" -> ms since the epoch; 0 on success. */
int s3_parse_iso_ms(const char *s, int64_t *ms);

#endif
