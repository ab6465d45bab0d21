/* util.h - helpers shared by ltxctl's read-side commands (util.c). */
#ifndef LTXCTL_UTIL_H
#define LTXCTL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ltx.h"

/* Largest local file inspect and verify read whole. */
#define MAX_LOCAL_FILE ((size_t)4 << 30)

/* Print o on stdout (indented, keys sorted) and release it; NULL prints nothing. */
void put_json(json_t *o);
/* A TXID or checksum as a 16-digit hex string. */
json_t *jhex(uint64_t v);
json_t *header_json(const ltx_header *h);
void sha256_hex(const uint8_t *buf, size_t len, char out[65]);
/* Read a whole local file (up to MAX_LOCAL_FILE). Returns 0 or -1 with err. */
int read_local(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen);
/* Read a whole LTX object named by URL: "s3://bucket/prefix/<%04x>/<name>"
 * or "file:///root/ltx/<L>/<name>". Returns 0 or -1 with err. */
int read_url(const char *url, uint8_t **buf, size_t *len, char *err, size_t errlen);
/* The last path component. */
const char *base_name(const char *path);
/* The level folder a file sits in ("…/ltx/<L>/name" or "…/<%04x>/name"), or -1. */
int level_from_path(const char *path);
/* "LZ4 block" etc. for ltx_file_info.frame_layout. */
const char *layout_name(int layout);

#endif
