/*
 * http_server: libmicrohttpd front of the ingress. See http_server.h.
 */
#include "http_server.h"

#include "log.h"
#include "mhd_tuning.h"
#include "ops_http.h"
#include "push_handler.h"
#include "util.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const int tracked_status[] = {200, 400, 401, 404, 405, 413, 503};
#define NSTATUS ((int)(sizeof(tracked_status) / sizeof(tracked_status[0])))

enum { C_NEW, C_WAIT, C_DONE };

struct conn {
    struct http_server *srv;
    struct MHD_Connection *c;
    const struct ingress_app *app;
    int app_idx;
    int is_post;
    int state;
    int status;
    int too_big;
    char *body;
    size_t len, cap;
    char reason[64];
};

struct http_server {
    const struct ingress_config *cfg;
    publisher *pub;
    spool *sp;
    metrics *m;
    struct MHD_Daemon *d;
    struct ops_http_conf ops;
    ops_http *ops_srv; /* on metrics_listen, when set */
    char url[128], ops_url[128];
    atomic_int inflight;
    atomic_int stopping;
    struct MHD_Response *r_success, *r_success_close;
    mcounter **req_count; /* [(napps + 1) * NSTATUS]; the last row is "no app" */
};

static struct MHD_Response *text_response(const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (r)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    return r;
}

static void count(http_server *s, int app_idx, int status)
{
    for (int i = 0; i < NSTATUS; i++)
        if (tracked_status[i] == status)
            mcounter_add(s->req_count[app_idx * NSTATUS + i], 1);
}

static enum MHD_Result reply_text(http_server *s, struct MHD_Connection *c, int status,
                                  const char *text)
{
    struct MHD_Response *r = text_response(text);
    enum MHD_Result ret;
    if (!r)
        return MHD_NO;
    /* While stopping, every answer closes its connection so keep-alive clients move on. */
    if (atomic_load(&s->stopping))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_copy(struct MHD_Connection *c, int status, const char *text,
                                  const char *type)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static int ingress_ready(void *arg, char *buf, size_t len)
{
    http_server *s = arg;
    int kafka = publisher_kafka_up(s->pub), spool_ok = spool_writable(s->sp);
    snprintf(buf, len, "{\"ready\":%s,\"kafka\":%s,\"spool\":%s}",
             kafka || spool_ok ? "true" : "false", kafka ? "true" : "false",
             spool_ok ? "true" : "false");
    return kafka || spool_ok;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    /* json_string() refuses invalid UTF-8; such a parameter cannot be one of WeChat's. */
    if (key && value)
        json_object_set_new(cls, key, json_string(value));
    return MHD_YES;
}

static const char *query_get(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

/* Only dead letters need every parameter; the hot path looks up the few it checks. */
static json_t *query_to_json(void *ctx)
{
    json_t *obj = json_object();
    if (obj)
        MHD_get_connection_values(ctx, MHD_GET_ARGUMENT_KIND, collect_arg, obj);
    return obj;
}

static void on_published(void *arg, int rc)
{
    struct conn *cn = arg;
    cn->status = rc >= 0 ? 200 : 503;
    cn->state = C_DONE;
    if (rc < 0)
        log_event(LOG_ERROR, "push_not_durable", "appid", cn->app->appid, "reason",
                  "kafka and spool both unavailable", NULL);
    MHD_resume_connection(cn->c);
}

static enum MHD_Result finish_push(http_server *s, struct conn *cn)
{
    struct push_request req = {0};
    struct push_result res;

    req.is_post = cn->is_post;
    req.query.get = query_get;
    req.query.to_json = query_to_json;
    req.query.ctx = cn->c;
    req.body = cn->body ? cn->body : "";
    req.body_len = cn->len;
    req.now_ms = util_wall_ms();
    push_handle(s->cfg, cn->app, &req, &res);

    switch (res.outcome) {
    case PUSH_ECHO:
        count(s, cn->app_idx, 200);
        return reply_copy(cn->c, 200, res.echo, "text/plain; charset=utf-8");
    case PUSH_REFUSE:
        count(s, cn->app_idx, res.status);
        log_event(LOG_WARN, "push_refused", "appid", cn->app->appid, "reason", res.reason, "detail",
                  res.detail, NULL);
        return reply_text(s, cn->c, res.status, res.status == 401 ? "unauthorized\n" : "refused\n");
    case PUSH_DLQ: {
        char labels[256];
        snprintf(labels, sizeof(labels), "app=\"%s\",reason=\"%s\"", cn->app->appid, res.reason);
        mcounter_add(metrics_counter(s->m, "wxbridge_dlq_total",
                                     "Authenticated pushes sent to the dead-letter topic", labels),
                     1);
        log_event(LOG_WARN, "push_dead_lettered", "appid", cn->app->appid, "reason", res.reason,
                  "detail", res.detail, NULL);
        break;
    }
    case PUSH_PUBLISH:
        if (log_enabled(LOG_DEBUG))
            log_event(LOG_DEBUG, "push_accepted", "appid", cn->app->appid, "id", res.id, "msg_type",
                      res.msg_type, NULL);
        break;
    }
    /* Suspend before submitting: the answer may come back on another thread at once. */
    cn->state = C_WAIT;
    MHD_suspend_connection(cn->c);
    publisher_submit(s->pub, &res.msg, on_published, cn);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    http_server *s = cls;
    struct conn *cn = *con_cls;
    enum MHD_Result ret;

    (void)version;
    if (!cn) {
        const struct ingress_app *app;
        const char *clen;
        int is_get = strcmp(method, "GET") == 0, is_post = strcmp(method, "POST") == 0;

        if (is_get && ops_http_handle(&s->ops, c, url, atomic_load(&s->stopping), &ret))
            return ret;
        if (atomic_load(&s->stopping))
            return reply_text(s, c, 503, "shutting down\n"); /* WeChat retries elsewhere */
        app = ingress_config_app(s->cfg, url);
        if (!app) {
            count(s, (int)s->cfg->napps, 404);
            return reply_text(s, c, 404, "not found\n");
        }
        if (!is_get && !is_post) {
            count(s, (int)(app - s->cfg->apps), 405);
            return reply_text(s, c, 405, "method not allowed\n");
        }
        clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (clen) {
            long long n;
            if (util_parse_ll(clen, 0, INT64_MAX, &n) == 0 && n > s->cfg->body_max_bytes) {
                count(s, (int)(app - s->cfg->apps), 413);
                return reply_text(s, c, 413, "body too large\n");
            }
        }
        cn = calloc(1, sizeof(*cn));
        if (!cn)
            return MHD_NO;
        cn->srv = s;
        cn->c = c;
        cn->app = app;
        cn->app_idx = (int)(app - s->cfg->apps);
        cn->is_post = is_post;
        atomic_fetch_add(&s->inflight, 1);
        *con_cls = cn;
        return MHD_YES;
    }

    if (cn->state == C_DONE) {
        count(s, cn->app_idx, cn->status);
        if (cn->status == 200)
            return MHD_queue_response(
                c, 200, atomic_load(&s->stopping) ? s->r_success_close : s->r_success);
        return reply_text(s, c, cn->status, "service unavailable\n");
    }
    if (cn->state == C_WAIT)
        return MHD_YES; /* spurious call while suspended */

    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (cn->too_big || cn->len + n > (size_t)s->cfg->body_max_bytes) {
            cn->too_big = 1;
            return MHD_YES;
        }
        if (cn->len + n + 1 > cn->cap) {
            size_t ncap = (cn->len + n + 1) * 2;
            char *nb;
            if (ncap > (size_t)s->cfg->body_max_bytes + 1)
                ncap = (size_t)s->cfg->body_max_bytes + 1;
            nb = realloc(cn->body, ncap);
            if (!nb)
                return MHD_NO;
            cn->body = nb;
            cn->cap = ncap;
        }
        memcpy(cn->body + cn->len, upload_data, n);
        cn->len += n;
        cn->body[cn->len] = '\0';
        return MHD_YES;
    }
    if (cn->too_big) {
        count(s, cn->app_idx, 413);
        return reply_text(s, c, 413, "body too large\n");
    }
    return finish_push(s, cn);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    struct conn *cn = *con_cls;
    (void)c;
    (void)toe;
    if (!cn)
        return;
    free(cn->body);
    free(cn);
    *con_cls = NULL;
    atomic_fetch_sub(&s->inflight, 1);
}

static struct MHD_Daemon *listen_on(http_server *s, const char *addr, int threads, unsigned *port,
                                    char *err, size_t errlen)
{
    struct sockaddr_in sa;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;

    if (ops_http_parse_listen(addr, &sa) < 0) {
        snprintf(err, errlen, "listen address \"%s\" must be IPv4:PORT", addr);
        return NULL;
    }
    d = MHD_start_daemon(WXB_MHD_FLAGS, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sa,
                         MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, WXB_MHD_COMMON_OPTIONS,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!d) {
        snprintf(err, errlen, "cannot listen on %s", addr);
        return NULL;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? info->port : ntohs(sa.sin_port);
    return d;
}

static int make_counters(http_server *s)
{
    size_t rows = s->cfg->napps + 1;
    s->req_count = calloc(rows * NSTATUS, sizeof(*s->req_count));
    if (!s->req_count)
        return -1;
    for (size_t a = 0; a < rows; a++) {
        for (int i = 0; i < NSTATUS; i++) {
            char labels[160];
            snprintf(labels, sizeof(labels), "app=\"%s\",code=\"%d\"",
                     a < s->cfg->napps ? s->cfg->apps[a].appid : "-", tracked_status[i]);
            s->req_count[a * NSTATUS + (size_t)i] = metrics_counter(
                s->m, "wxbridge_http_requests_total", "HTTP requests by app and status", labels);
        }
    }
    return 0;
}

int http_server_start(const struct ingress_config *cfg, publisher *pub, spool *sp, metrics *m,
                      http_server **out, char *err, size_t errlen)
{
    http_server *s = calloc(1, sizeof(*s));
    unsigned port;

    *out = NULL;
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->cfg = cfg;
    s->pub = pub;
    s->sp = sp;
    s->m = m;
    s->r_success = text_response("success");
    s->r_success_close = text_response("success");
    if (s->r_success_close)
        MHD_add_response_header(s->r_success_close, MHD_HTTP_HEADER_CONNECTION, "close");
    if (!s->r_success || !s->r_success_close || make_counters(s) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    s->ops.metrics = m;
    s->ops.ready = ingress_ready;
    s->ops.arg = s;
    if (cfg->metrics_listen) {
        if (ops_http_start(cfg->metrics_listen, &s->ops, &s->ops_srv, s->ops_url,
                           sizeof(s->ops_url), err, errlen) < 0)
            goto fail;
        /* The push port keeps the probes (load balancers check it); the metrics
         * stay on their own listener (the server took a copy of the conf). */
        s->ops.metrics = NULL;
    }
    s->d = listen_on(s, cfg->listen, (int)cfg->threads, &port, err, errlen);
    if (!s->d)
        goto fail;
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", port);
    *out = s;
    return 0;
fail:
    ops_http_stop(s->ops_srv);
    if (s->d)
        MHD_stop_daemon(s->d);
    if (s->r_success)
        MHD_destroy_response(s->r_success);
    if (s->r_success_close)
        MHD_destroy_response(s->r_success_close);
    free(s->req_count);
    free(s);
    return -1;
}

const char *http_server_url(const http_server *s)
{
    return s->url;
}

const char *http_server_ops_url(const http_server *s)
{
    return s->ops_srv ? s->ops_url : s->url;
}

int http_server_stop(http_server *s, int timeout_ms)
{
    int64_t until = util_mono_ms() + timeout_ms;
    int left;

    atomic_store(&s->stopping, 1);
    MHD_quiesce_daemon(s->d);
    while ((left = atomic_load(&s->inflight)) > 0 && util_mono_ms() < until)
        usleep(10 * 1000);
    if (left > 0)
        log_event(LOG_WARN, "shutdown_requests_abandoned", NULL);
    MHD_stop_daemon(s->d);
    ops_http_stop(s->ops_srv);
    MHD_destroy_response(s->r_success);
    MHD_destroy_response(s->r_success_close);
    free(s->req_count);
    free(s);
    return left;
}
