/* http_page.c - GET / for people: a small server-rendered HTML status
 * page when the client's Accept prefers text/html (a browser), the JSON
 * index otherwise (curl, scripts: what / has always answered).
 *
 * The page is rendered from the /admin/status document (http_status_doc),
 * read defensively: fields that other parts add (a database's
 * "verification" progress, its "lease") are shown when present and of
 * the expected shape, skipped otherwise. Every string from the document
 * is HTML-escaped (database names are hostile input). No script, no
 * external asset; a Content-Security-Policy forbids both. It refreshes
 * itself every HTTP_PAGE_REFRESH seconds.
 *
 * Object-store request rates are per second over the window between two
 * renderings at least HTTP_PAGE_RATE_MIN_MS apart (a small sample kept
 * under a mutex; this page is not on any hot path), or since the start
 * when there is no such earlier rendering yet. */
#include "http_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "strbuf.h"

#define HTTP_PAGE_REFRESH     10
#define HTTP_PAGE_MAX_BYTES   (32u << 20) /* the rendered page */
#define HTTP_PAGE_MAX_ROWS    5000        /* databases listed; the rest are counted */
#define HTTP_PAGE_MAX_SOURCES 64          /* object stores with a windowed rate */
#define HTTP_PAGE_RATE_MIN_MS 5000
#define HTTP_PAGE_RATE_MAX_MS 300000

/* ---- Accept ---------------------------------------------------------------- */

static int http_page_tok_eq(const char *a, size_t n, const char *b)
{
    return strlen(b) == n && strncasecmp(a, b, n) == 0;
}

/* q of one media range's parameters p[0..n) (";q=0.5;level=1"), 1 without. */
static double http_page_qparam(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != ';')
            continue;
        size_t j = i + 1;
        while (j < n && (p[j] == ' ' || p[j] == '\t'))
            j++;
        if (j + 2 <= n && (p[j] == 'q' || p[j] == 'Q') && p[j + 1] == '=') {
            double q = strtod(p + j + 2, NULL);
            return isfinite(q) ? (q < 0 ? 0 : q > 1 ? 1 : q) : 0;
        }
    }
    return 1;
}

/* The q the Accept value gives type/sub: from its most specific matching
 * range (type/sub, then type/any, then any/any); -1 when none matches. */
static double http_page_q(const char *accept, const char *type, const char *sub)
{
    double q = -1;
    int spec = -1;
    for (const char *p = accept; *p;) {
        size_t len = strcspn(p, ",");
        const char *e = p + len, *semi = memchr(p, ';', len), *me = semi ? semi : e;
        const char *ms = p;
        while (ms < me && (*ms == ' ' || *ms == '\t'))
            ms++;
        while (me > ms && (me[-1] == ' ' || me[-1] == '\t'))
            me--;
        const char *sl = memchr(ms, '/', (size_t)(me - ms));
        if (sl) {
            size_t tl = (size_t)(sl - ms), sn = (size_t)(me - sl - 1);
            int sp = -1;
            if (http_page_tok_eq(ms, tl, "*") && http_page_tok_eq(sl + 1, sn, "*"))
                sp = 0;
            else if (http_page_tok_eq(ms, tl, type) && http_page_tok_eq(sl + 1, sn, "*"))
                sp = 1;
            else if (http_page_tok_eq(ms, tl, type) && http_page_tok_eq(sl + 1, sn, sub))
                sp = 2;
            if (sp > spec) {
                spec = sp;
                q = semi ? http_page_qparam(semi, (size_t)(e - semi)) : 1;
            }
        }
        p = *e ? e + 1 : e;
    }
    return q;
}

int http_page_wants_html(const char *accept)
{
    if (!accept)
        return 0;
    double qh = http_page_q(accept, "text", "html"), qj = http_page_q(accept, "application", "json");
    return qh > 0 && qh > (qj < 0 ? 0 : qj);
}

/* ---- answers --------------------------------------------------------------- */

static enum MHD_Result http_page_queue(struct http *h, struct http_req *r, char *body, size_t len,
                                       const char *type)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    int html = !strncmp(type, "text/html", 9);
    MHD_add_response_header(resp, "Cache-Control", html ? "no-store" : "no-cache");
    MHD_add_response_header(resp, "Vary", "Accept");
    if (html) {
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    }
    return http_resp_queue(h, r, 200, resp);
}

enum MHD_Result http_page_json(struct http *h, struct http_req *r, json_t *j)
{
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!body)
        return MHD_NO;
    size_t len = strlen(body);
    char *nb = realloc(body, len + 2);
    if (!nb) {
        free(body);
        return MHD_NO;
    }
    nb[len++] = '\n';
    nb[len] = 0;
    return http_page_queue(h, r, nb, len, "application/json");
}

/* ---- text helpers ------------------------------------------------------------ */

static void http_page_esc(strbuf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': strbuf_puts(b, "&amp;"); break;
        case '<': strbuf_puts(b, "&lt;"); break;
        case '>': strbuf_puts(b, "&gt;"); break;
        case '"': strbuf_puts(b, "&quot;"); break;
        case '\'': strbuf_puts(b, "&#39;"); break;
        default: strbuf_putc(b, *s);
        }
    }
}

static const char *http_page_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* A number field (integer or real), dflt when absent or not a number. */
static double http_page_num(const json_t *o, const char *k, double dflt)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static void http_page_bytes(strbuf *b, double v)
{
    static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    strbuf_printf(b, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void http_page_secs(strbuf *b, double s)
{
    if (s < 0)
        strbuf_puts(b, "never");
    else if (s < 60)
        strbuf_printf(b, "%.1f s", s);
    else if (s < 3600)
        strbuf_printf(b, "%dm %02ds", (int)(s / 60), (int)fmod(s, 60));
    else if (s < 86400)
        strbuf_printf(b, "%dh %02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else
        strbuf_printf(b, "%dd %02dh", (int)(s / 86400), (int)fmod(s / 3600, 24));
}

/* ---- object-store rates ------------------------------------------------------ */

enum { HTTP_PAGE_GETS, HTTP_PAGE_LISTS, HTTP_PAGE_HEADS, HTTP_PAGE_BYTES, HTTP_PAGE_NRATE };
static const char *const http_page_rate_keys[HTTP_PAGE_NRATE] = { "gets", "lists", "heads", "bytes_read" };

struct http_page_sample {
    int64_t t_ms; /* mono ms; 0: none */
    size_t n;
    double v[HTTP_PAGE_MAX_SOURCES][HTTP_PAGE_NRATE];
};

static struct {
    pthread_mutex_t mu;
    struct http_page_sample older, newer;
} http_page_rates = { PTHREAD_MUTEX_INITIALIZER, { 0 }, { 0 } };

/* rate[i][k] per second for the stores of doc; *window_s the window
 * (0: since the start, over uptime_s). */
static void http_page_rate(const json_t *stores, double uptime_s, double rate[][HTTP_PAGE_NRATE], size_t n,
                           double *window_s)
{
    struct http_page_sample now = { mono_ms(), n, { { 0 } } };
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < HTTP_PAGE_NRATE; k++)
            now.v[i][k] = http_page_num(json_array_get(stores, i), http_page_rate_keys[k], 0);
    pthread_mutex_lock(&http_page_rates.mu);
    if (!http_page_rates.newer.t_ms || now.t_ms - http_page_rates.newer.t_ms >= HTTP_PAGE_RATE_MIN_MS) {
        http_page_rates.older = http_page_rates.newer;
        http_page_rates.newer = now;
    }
    struct http_page_sample base = http_page_rates.older;
    pthread_mutex_unlock(&http_page_rates.mu);
    int windowed =
        base.t_ms && base.n == n && now.t_ms - base.t_ms <= HTTP_PAGE_RATE_MAX_MS && now.t_ms - base.t_ms > 0;
    double span = windowed ? (double)(now.t_ms - base.t_ms) / 1000.0 : (uptime_s > 0.001 ? uptime_s : 0.001);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < HTTP_PAGE_NRATE; k++) {
            double d = now.v[i][k] - (windowed ? base.v[i][k] : 0);
            rate[i][k] = (d < 0 ? 0 : d) / span;
        }
    *window_s = windowed ? span : 0;
}

/* ---- sections ---------------------------------------------------------------- */

static const char http_page_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
    "h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}"
    "table{border-collapse:collapse}th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left;"
    "vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "code,.txid{font-family:ui-monospace,monospace}.state{font-weight:600}"
    ".state-ok{color:#176f2c}.state-waiting{color:#8a6d00}.state-stalled,.state-degraded{color:#b45309}"
    ".state-error{color:#b91c1c}.problem{color:#b91c1c;max-width:40em}.muted{color:#777}";

/* A CSS class suffix: the state's letters only. */
static void http_page_state_class(strbuf *b, const char *st)
{
    for (; st && *st; st++)
        if (*st >= 'a' && *st <= 'z')
            strbuf_putc(b, *st);
}

static void http_page_verification(strbuf *b, const json_t *v)
{
    if (json_is_string(v)) {
        http_page_esc(b, json_string_value(v));
        return;
    }
    if (!json_is_object(v)) {
        strbuf_puts(b, "<span class=\"muted\">—</span>");
        return;
    }
    double fd = http_page_num(v, "files_verified", -1), ft = http_page_num(v, "files_total", -1);
    double bd = http_page_num(v, "bytes_verified", -1), bt = http_page_num(v, "bytes_total", -1);
    int building = json_is_true(json_object_get(v, "building"));
    strbuf_puts(b, building ? "verifying" : "verified");
    if (fd >= 0 && ft > 0)
        strbuf_printf(b, " %.0f/%.0f files", fd, ft);
    else if (fd >= 0)
        strbuf_printf(b, " %.0f files", fd);
    if (building && bd >= 0 && bt > 0)
        strbuf_printf(b, " (%.0f%%)", 100.0 * bd / bt);
}

static void http_page_lease(strbuf *b, const json_t *l)
{
    const char *holder = json_is_object(l) ? http_page_str(l, "holder") : NULL;
    if (!holder) {
        strbuf_puts(b, json_is_string(l) ? "" : "<span class=\"muted\">—</span>");
        if (json_is_string(l))
            http_page_esc(b, json_string_value(l));
        return;
    }
    strbuf_puts(b, "held by ");
    http_page_esc(b, holder);
    if (json_is_true(json_object_get(l, "ours")))
        strbuf_puts(b, " (this server)");
    const char *exp = http_page_str(l, "expires");
    if (exp) {
        strbuf_puts(b, " until ");
        http_page_esc(b, exp);
    }
}

static void http_page_db_row(strbuf *b, const json_t *d)
{
    const char *name = http_page_str(d, "name"), *state = http_page_str(d, "state");
    strbuf_puts(b, "<tr class=\"db\" data-name=\"");
    http_page_esc(b, name);
    strbuf_puts(b, "\" data-state=\"");
    http_page_esc(b, state);
    strbuf_puts(b, "\"><td class=\"name\">");
    http_page_esc(b, name ? name : "?");
    strbuf_puts(b, "</td><td class=\"state state-");
    http_page_state_class(b, state);
    strbuf_puts(b, "\">");
    http_page_esc(b, state ? state : "?");
    strbuf_puts(b, "</td><td class=\"txid\">");
    http_page_esc(b, http_page_str(d, "txid") ? http_page_str(d, "txid") : "—");
    strbuf_puts(b, "</td><td class=\"n\">");
    double commit = http_page_num(d, "commit", -1), size = http_page_num(d, "size", -1);
    if (commit >= 0)
        strbuf_printf(b, "%.0f", commit);
    strbuf_puts(b, "</td><td class=\"n\">");
    if (size >= 0)
        http_page_bytes(b, size);
    strbuf_puts(b, "</td><td class=\"n lag\">");
    http_page_secs(b, http_page_num(d, "lag_seconds", -1));
    strbuf_puts(b, "</td><td class=\"n\">");
    if (json_is_number(json_object_get(d, "age_seconds")))
        http_page_secs(b, http_page_num(d, "age_seconds", 0));
    strbuf_puts(b, "</td><td class=\"verification\">");
    http_page_verification(b, json_object_get(d, "verification"));
    strbuf_puts(b, "</td><td class=\"lease\">");
    http_page_lease(b, json_object_get(d, "lease"));
    strbuf_puts(b, "</td><td class=\"problem\">");
    const char *problem[] = { http_page_str(d, "stall_reason"), http_page_str(d, "degraded_reason"),
                              http_page_str(d, "last_error") };
    const char *shown = NULL; /* the last one shown: a reason repeated as last_error is shown once */
    for (size_t i = 0; i < sizeof problem / sizeof problem[0]; i++)
        if (problem[i] && (!shown || strcmp(problem[i], shown) != 0)) {
            if (shown)
                strbuf_puts(b, "<br>");
            http_page_esc(b, problem[i]);
            shown = problem[i];
        }
    strbuf_puts(b, "</td></tr>\n");
}

static void http_page_databases(strbuf *b, const json_t *dbs)
{
    size_t n = json_array_size(dbs);
    strbuf_printf(b, "<h2>Databases (%zu)</h2>\n", n);
    if (!n) {
        strbuf_puts(b, "<p class=\"muted\" id=\"no-databases\">No databases yet.</p>\n");
        return;
    }
    strbuf_puts(b, "<table id=\"databases\"><thead><tr><th>database</th><th>state</th><th>TXID</th>"
                   "<th>pages</th><th>size</th><th>lag</th><th>age</th><th>verification</th><th>lease</th>"
                   "<th>problem</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < n && i < HTTP_PAGE_MAX_ROWS; i++)
        http_page_db_row(b, json_array_get(dbs, i));
    strbuf_puts(b, "</tbody></table>\n");
    if (n > HTTP_PAGE_MAX_ROWS)
        strbuf_printf(b, "<p class=\"muted\">%zu more: see <a href=\"/admin/dbs\">/admin/dbs</a>.</p>\n",
                      n - HTTP_PAGE_MAX_ROWS);
}

static void http_page_cache(strbuf *b, const json_t *c)
{
    double hits = http_page_num(c, "hits", 0), misses = http_page_num(c, "misses", 0);
    strbuf_puts(b, "<h2>Page cache</h2>\n<table id=\"cache\"><tbody><tr><th>hit rate</th><td class=\"n\" "
                   "id=\"hit-rate\">");
    if (hits + misses > 0)
        strbuf_printf(b, "%.1f%%", 100.0 * hits / (hits + misses));
    else
        strbuf_puts(b, "—");
    strbuf_printf(
        b,
        "</td><td class=\"muted\">%.0f hits, %.0f misses since the start</td></tr>\n<tr><th>size</th>"
        "<td class=\"n\">",
        hits, misses);
    http_page_bytes(b, http_page_num(c, "bytes", 0));
    strbuf_puts(b, "</td><td class=\"muted\">of ");
    http_page_bytes(b, http_page_num(c, "max_bytes", 0));
    strbuf_printf(b, ", %.0f pages, %.0f evictions</td></tr>\n</tbody></table>\n",
                  http_page_num(c, "entries", 0), http_page_num(c, "evictions", 0));
}

static void http_page_stores(strbuf *b, const json_t *stores, double uptime_s)
{
    size_t n = json_array_size(stores), nr = n < HTTP_PAGE_MAX_SOURCES ? n : HTTP_PAGE_MAX_SOURCES;
    double rate[HTTP_PAGE_MAX_SOURCES][HTTP_PAGE_NRATE], window = 0;
    http_page_rate(stores, uptime_s, rate, nr, &window);
    strbuf_puts(b, "<h2>Object stores</h2>\n<p class=\"muted\">Requests per second ");
    if (window > 0)
        strbuf_printf(b, "over the last %.0f s.</p>\n", window);
    else
        strbuf_puts(b, "since the start.</p>\n");
    strbuf_puts(b,
                "<table id=\"stores\"><thead><tr><th>store</th><th>GET/s</th><th>LIST/s</th><th>HEAD/s</th>"
                "<th>read/s</th><th>errors</th><th>retries</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < nr; i++) {
        const json_t *s = json_array_get(stores, i);
        strbuf_puts(b, "<tr class=\"store\"><td><code>");
        http_page_esc(b, http_page_str(s, "url"));
        strbuf_printf(
            b,
            "</code></td><td class=\"n\">%.2f</td><td class=\"n\">%.2f</td><td class=\"n\">%.2f</td>"
            "<td class=\"n\">",
            rate[i][HTTP_PAGE_GETS], rate[i][HTTP_PAGE_LISTS], rate[i][HTTP_PAGE_HEADS]);
        http_page_bytes(b, rate[i][HTTP_PAGE_BYTES]);
        strbuf_printf(b, "</td><td class=\"n\">%.0f</td><td class=\"n\">%.0f</td></tr>\n",
                      http_page_num(s, "errors", 0), http_page_num(s, "retries", 0));
    }
    strbuf_puts(b, "</tbody></table>\n");
}

static void http_page_header(strbuf *b, const json_t *sv, const json_t *dbs)
{
    const char *ver = http_page_str(sv, "version");
    strbuf_printf(
        b,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        "<meta http-equiv=\"refresh\" content=\"%d\"><title>ltxpaged status</title><style>%s</style>"
        "</head>\n<body>\n<h1>ltxpaged <span class=\"muted\">",
        HTTP_PAGE_REFRESH, http_page_css);
    http_page_esc(b, ver ? ver : "");
    strbuf_puts(b, "</span></h1>\n<p id=\"summary\">");
    strbuf_puts(b, json_is_true(json_object_get(sv, "ready"))
                       ? "<span class=\"state state-ok\">ready</span>"
                       : "<span class=\"state state-waiting\">not ready"
                         "</span>");
    strbuf_puts(b, " · up ");
    http_page_secs(b, http_page_num(sv, "uptime_seconds", 0));
    /* databases by state, in order of first appearance */
    const char *states[16];
    size_t counts[16], ns = 0;
    for (size_t i = 0; i < json_array_size(dbs); i++) {
        const char *st = http_page_str(json_array_get(dbs, i), "state");
        size_t k = 0;
        while (k < ns && strcmp(states[k], st ? st : "?") != 0)
            k++;
        if (k == ns && ns < 16) {
            states[ns] = st ? st : "?";
            counts[ns++] = 0;
        }
        if (k < ns)
            counts[k]++;
    }
    for (size_t k = 0; k < ns; k++) {
        strbuf_printf(b, "%s%zu ", k ? ", " : " · ", counts[k]);
        http_page_esc(b, states[k]);
    }
    double lp = http_page_num(sv, "long_polls_waiting", -1);
    if (lp >= 0)
        strbuf_printf(b, " · %.0f long-polls waiting", lp);
    strbuf_puts(b, "</p>\n");
}

void http_page_render(const json_t *doc, strbuf *b)
{
    const json_t *sv = json_object_get(doc, "server"), *dbs = json_object_get(doc, "databases");
    http_page_header(b, sv, dbs);
    http_page_databases(b, dbs);
    http_page_cache(b, json_object_get(doc, "cache"));
    http_page_stores(b, json_object_get(doc, "object_stores"), http_page_num(sv, "uptime_seconds", 0));
    strbuf_printf(
        b,
        "<p class=\"muted\">Refreshes every %d s. The same as JSON: "
        "<a href=\"/admin/status\">/admin/status</a> · metrics: <a href=\"/metrics\">/metrics</a> · "
        "<code>curl /</code> lists the databases.</p>\n</body></html>\n",
        HTTP_PAGE_REFRESH);
}

enum MHD_Result http_page_status(struct http *h, struct http_req *r, json_t *doc)
{
    if (!doc)
        return http_resp_error(h, r, 500, LTXW_E_INTERNAL, "out of memory");
    strbuf b = STRBUF_INIT(HTTP_PAGE_MAX_BYTES);
    http_page_render(doc, &b);
    json_decref(doc);
    if (b.err) {
        strbuf_free(&b);
        return http_resp_error(h, r, 500, LTXW_E_INTERNAL, "status page too large");
    }
    size_t len = b.len;
    return http_page_queue(h, r, b.p, len, "text/html; charset=utf-8");
}
