/* config.h - ltxpaged flags and LTXPAGED_* environment variables. */
#ifndef LTXPAGED_CONFIG_H
#define LTXPAGED_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "srv.h"

/* "250ms", "1s", "2m", "1h", bare number = seconds. -1 on error. */
int64_t config_parse_duration_ms(const char *s);
/* "256M", "1G", "512K", "256MiB", bare number = bytes. 0 on error. */
uint64_t config_parse_size(const char *s);

/* Fill cfg from defaults, environment, then argv. Returns 0 ok, 1 when
 * --help/--version was printed (exit 0), -1 on a usage error (message
 * printed to err). Strings point into argv/environ or are owned by cfg
 * (free with config_free). */
int config_load(srv_config *cfg, int argc, char **argv, FILE *err);
void config_free(srv_config *cfg);
void config_usage(FILE *out);

#endif
