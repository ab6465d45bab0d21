/* dbname.h - THE database-name rule, used by the server (config, discovery,
 * HTTP routes), the object store, ltxctl and the client VFS.
 *
 * A valid name is 1..DBNAME_MAX bytes, does not start with '.', and holds no
 * control byte (< 0x20, 0x7f), no '/', '\\', and none of '%', '?', '#' (so a
 * name never needs escaping in a URL path and percent-decoding can never
 * produce a different name). Bytes >= 0x80 (UTF-8) are allowed.
 *
 * Reserved names ("admin", "metrics", ...) are valid store names but can
 * never be served: they are the first path segment of other HTTP routes. */
#ifndef LTXCOMMON_DBNAME_H
#define LTXCOMMON_DBNAME_H

#include <stddef.h>

#define DBNAME_MAX 200 /* equals LTXW_MAX_DB_NAME in proto/wire.h */

/* 1 when name follows the rule above, 0 otherwise (NULL included). */
int dbname_valid(const char *name);

/* Same rule on n bytes that need not be NUL-terminated (a NUL byte inside
 * the n bytes makes the name invalid). */
int dbname_valid_n(const char *name, size_t n);

/* 1 when name is a reserved first path segment, 0 otherwise. */
int dbname_reserved(const char *name);

/* 1 when name can be served over HTTP: valid and not reserved. */
int dbname_servable(const char *name);

#endif
