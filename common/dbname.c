/* dbname.c - the one database-name rule (see dbname.h). */
#include "dbname.h"

#include <string.h>

/* Keep in step with LTXW_RESERVED_NAMES (proto/wire.h); tests/test_common.c
 * checks both lists agree. */
static const char *const reserved_names[] = { "admin", "metrics", "healthz", "readyz", NULL };

int dbname_valid_n(const char *name, size_t n)
{
    if (!name || n == 0 || n > DBNAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '%' || c == '?' || c == '#')
            return 0;
    }
    return 1;
}

int dbname_valid(const char *name)
{
    if (!name)
        return 0;
    size_t n = strnlen(name, DBNAME_MAX + 1);
    return dbname_valid_n(name, n);
}

int dbname_reserved(const char *name)
{
    if (!name)
        return 0;
    for (int i = 0; reserved_names[i]; i++)
        if (strcmp(name, reserved_names[i]) == 0)
            return 1;
    return 0;
}

int dbname_servable(const char *name) { return dbname_valid(name) && !dbname_reserved(name); }
