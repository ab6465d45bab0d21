/* objstore.c - placeholder; the backends land with the server work. */
#include "objstore.h"
const char *obj_status_str(obj_status st) { (void)st; return "unimplemented"; }
