/* lh_sqlite.h - the SQLite API as the VFS files see it.
 *
 * The loadable extension (LTXHTTP_LOADABLE) reaches SQLite through the
 * sqlite3_api table that ltxhttp.c defines (SQLITE_EXTENSION_INIT1) and
 * sqlite3_ltxhttp_init fills; every other file declares it extern here.
 * The static library calls libsqlite3 directly.
 */
#ifndef LH_SQLITE_H
#define LH_SQLITE_H

#if defined(LTXHTTP_LOADABLE)
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3
#else
#include <sqlite3.h>
#endif

#endif /* LH_SQLITE_H */
