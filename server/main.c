/* main.c - ltxpaged: serve SQLite pages from Litestream LTX replicas.
 *
 * Start: configuration, databases, the HTTP daemon, then the pollers;
 * systemd (Type=notify) is told READY=1 once the address is listening.
 * Stop (SIGTERM/SIGINT): STOPPING=1, object-store calls in flight
 * aborted (objstore_abort), then pollers, HTTP, databases. Should a
 * thread still hang (a store without abort support), a stop that has not
 * finished after
 * MAIN_STOP_GRACE_S ends the process at once (exit status 0, logged). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "srv.h"
#include "write.h"

#define MAIN_STOP_GRACE_S 5

/* objstore_abort(s): calls in flight end within ~100 ms, new ones fail at
 * once (store/objstore.h of the store branch; /work/coord/store-api).
 * Weak until that branch is merged, so this file builds either way. */
void objstore_abort(objstore *s);
#pragma weak objstore_abort

/* Stop every object-store call in flight, so pollers and loaders waiting
 * on a stalled store return now and the joins below are short. */
static void main_abort_stores(srv *s)
{
    if (!objstore_abort)
        return;
    for (size_t i = 0; i < s->nsources; i++)
        if (s->sources[i].store)
            objstore_abort(s->sources[i].store);
}

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET (a
 * path, or '@' for the abstract namespace). Nothing when unset. */
static void main_sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = path ? strlen(path) : 0;
    if (len < 2 || len >= sizeof sa.sun_path || (path[0] != '/' && path[0] != '@'))
        return;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, sl) < 0)
        logf_(LOG_WARN, "sd_notify_error", "state=\"%s\" error=\"%s\"", state, strerror(errno));
    close(fd);
}

/* Runs once a stop began: ends the process if the stop takes longer than
 * the grace period. Further SIGINT/SIGTERM are taken here and change
 * nothing (a stop is under way; its deadline stays). */
static void *main_stop_guard(void *arg)
{
    sigset_t *set = arg;
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += MAIN_STOP_GRACE_S;
    for (;;) {
        struct timespec now, left;
        clock_gettime(CLOCK_MONOTONIC, &now);
        left.tv_sec = end.tv_sec - now.tv_sec;
        left.tv_nsec = end.tv_nsec - now.tv_nsec;
        if (left.tv_nsec < 0) {
            left.tv_sec--;
            left.tv_nsec += 1000000000L;
        }
        if (left.tv_sec < 0 || sigtimedwait(set, NULL, &left) < 0)
            break;
    }
    logf_(LOG_WARN, "shutdown_forced", "grace_seconds=%d msg=\"threads still busy (object store?); exiting\"",
          MAIN_STOP_GRACE_S);
    _exit(0);
    return NULL;
}

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
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int exit_code = 0;
    metrics_init(); /* object-store latency histograms */
    if (srv_init(&s) != 0) {
        exit_code = 1;
        goto out;
    }
    if (write_start(&s) != 0) {
        exit_code = 1;
        goto out;
    }
    if (http_start(&s) != 0) {
        exit_code = 1;
        goto out;
    }
    logf_(LOG_INFO, "started",
          "databases=%zu cache_bytes=%zu poll_ms=%lld version_window_ms=%lld poll_threads=%d", s.ndbs,
          s.cfg.cache_size, (long long)s.cfg.poll_ms, (long long)s.cfg.version_window_ms, s.cfg.poll_threads);
    if (srv_start_poller(&s) != 0) {
        logf_(LOG_ERROR, "startup_error", "error=\"cannot start the poller\"");
        exit_code = 1;
        goto out;
    }
    main_sd_notify("READY=1\nSTATUS=listening");
    int sig = 0;
    sigwait(&set, &sig);
    logf_(LOG_INFO, "shutdown", "signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    write_stop(&s); /* leases released while the store still answers */
    main_sd_notify("STOPPING=1");
    atomic_store(&s.stopping, 1);
    main_abort_stores(&s);
    pthread_t guard;
    if (pthread_create(&guard, NULL, main_stop_guard, &set) == 0)
        pthread_detach(guard);
out:
    srv_stop_poller(&s);
    http_stop(&s);
    write_free(&s);
    srv_destroy(&s);
    config_free(&s.cfg);
    if (exit_code == 0)
        logf_(LOG_INFO, "stopped", "%s", "");
    return exit_code;
}
