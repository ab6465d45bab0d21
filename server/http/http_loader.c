/* http_loader.c - the loader pool (--io-threads): requests that may read
 * the object store run here with their connection suspended, so a slow
 * store never holds the HTTP threads that answer cached pages.
 *
 * Two queues under one mutex: whole requests (dispatched again on the
 * loader; their answer is kept in the request and queued by the HTTP
 * thread when the connection resumes, see http_resp_queue) and /file
 * windows (read, then the streaming connection is resumed). /file
 * windows go first: their connection already has an answer under way.
 * When the loaders are stopping, requests run in place. */
#include "http_int.h"

#include <stdlib.h>

/* The request a loader thread is running (NULL on other threads). */
static _Thread_local struct http_req *http_loader_current;

int http_loader_running(const struct http_req *r) { return http_loader_current == r; }

/* Run r here, as a loader would, and queue its answer. */
static enum MHD_Result http_loader_run_in_place(struct http *h, struct http_req *r)
{
    struct http_req *prev = http_loader_current;
    http_loader_current = r;
    enum MHD_Result rc = http_route_dispatch(h, r);
    http_loader_current = prev;
    struct MHD_Response *resp = r->dresp;
    r->dresp = NULL;
    if (rc != MHD_YES || !resp) {
        if (resp)
            MHD_destroy_response(resp);
        return MHD_NO;
    }
    if (!r->conn) { /* no connection (tests): keep it */
        r->dresp = resp;
        return MHD_YES;
    }
    rc = MHD_queue_response(r->conn, (unsigned)r->dstatus, resp);
    MHD_destroy_response(resp);
    return rc;
}

enum MHD_Result http_loader_offload(struct http *h, struct http_req *r)
{
    pthread_mutex_lock(&h->jmu);
    if (h->jstop || h->nloaders == 0 || !r->conn) {
        pthread_mutex_unlock(&h->jmu);
        return http_loader_run_in_place(h, r);
    }
    r->offloaded = 1;
    r->job_pending = 1;
    atomic_fetch_add(&h->pending_jobs, 1);
    MHD_suspend_connection(r->conn);
    r->jnext = NULL;
    if (h->jtail)
        h->jtail->jnext = r;
    else
        h->jhead = r;
    h->jtail = r;
    pthread_cond_signal(&h->jcv);
    pthread_mutex_unlock(&h->jmu);
    return MHD_YES;
}

int http_loader_offload_file(struct http *h, struct http_file_ctx *f, struct MHD_Connection *conn)
{
    pthread_mutex_lock(&h->jmu);
    if (h->jstop || h->nloaders == 0) {
        pthread_mutex_unlock(&h->jmu);
        return 0;
    }
    *http_file_next(f) = NULL;
    if (h->ftail)
        *http_file_next(h->ftail) = f;
    else
        h->fhead = f;
    h->ftail = f;
    MHD_suspend_connection(conn);
    pthread_cond_signal(&h->jcv);
    pthread_mutex_unlock(&h->jmu);
    return 1;
}

static void *http_loader_main(void *arg)
{
    struct http *h = arg;
    pthread_mutex_lock(&h->jmu);
    for (;;) {
        while (!h->jhead && !h->fhead && !h->jstop)
            pthread_cond_wait(&h->jcv, &h->jmu);
        struct http_file_ctx *f = h->fhead;
        if (f) {
            h->fhead = *http_file_next(f);
            if (!h->fhead)
                h->ftail = NULL;
            pthread_mutex_unlock(&h->jmu);
            http_file_load_pending(f);
            pthread_mutex_lock(&h->jmu);
            continue;
        }
        struct http_req *r = h->jhead;
        if (!r)
            break; /* stopping and nothing queued */
        h->jhead = r->jnext;
        if (!h->jhead)
            h->jtail = NULL;
        pthread_mutex_unlock(&h->jmu);
        struct MHD_Connection *c = r->conn;
        http_loader_current = r;
        r->job_rc = http_route_dispatch(h, r);
        http_loader_current = NULL;
        MHD_resume_connection(c);
        pthread_mutex_lock(&h->jmu);
    }
    pthread_mutex_unlock(&h->jmu);
    return NULL;
}

int http_loader_start(struct http *h, int n)
{
    h->loaders = calloc((size_t)n, sizeof *h->loaders);
    for (int i = 0; h->loaders && i < n; i++) {
        if (pthread_create(&h->loaders[i], NULL, http_loader_main, h) != 0)
            break;
        h->nloaders++;
    }
    return h->nloaders;
}

void http_loader_stop(struct http *h)
{
    pthread_mutex_lock(&h->jmu);
    h->jstop = 1;
    pthread_cond_broadcast(&h->jcv);
    pthread_mutex_unlock(&h->jmu);
    for (int i = 0; i < h->nloaders; i++)
        pthread_join(h->loaders[i], NULL);
    free(h->loaders);
    h->loaders = NULL;
    h->nloaders = 0;
}
