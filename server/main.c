/* main.c - ltxpaged: serve SQLite pages from Litestream LTX replicas. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "srv.h"

int main(int argc, char **argv)
{
    static srv s;
    memset(&s, 0, sizeof s);
    int rc = config_load(&s.cfg, argc, argv, stderr);
    if (rc != 0) {
        config_free(&s.cfg);
        return rc > 0 ? 0 : 2;
    }
    log_set_level(s.cfg.log_level);

    /* SIGINT/SIGTERM are taken by sigwait below; every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int exit_code = 0;
    if (srv_init(&s) != 0) {
        exit_code = 1;
        goto out;
    }
    if (http_start(&s) != 0) {
        exit_code = 1;
        goto out;
    }
    logf_(LOG_INFO, "started", "databases=%zu cache_bytes=%zu poll_ms=%lld version_window_ms=%lld poll_threads=%d",
          s.ndbs, s.cfg.cache_size, (long long)s.cfg.poll_ms, (long long)s.cfg.version_window_ms,
          s.cfg.poll_threads);
    if (srv_start_poller(&s) != 0) {
        logf_(LOG_ERROR, "startup_error", "error=\"cannot start the poller\"");
        exit_code = 1;
        goto out;
    }
    int sig = 0;
    sigwait(&set, &sig);
    logf_(LOG_INFO, "shutdown", "signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
out:
    srv_stop_poller(&s);
    http_stop(&s);
    srv_destroy(&s);
    config_free(&s.cfg);
    if (exit_code == 0)
        logf_(LOG_INFO, "stopped", "%s", "");
    return exit_code;
}
