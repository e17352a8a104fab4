/*
 * sim_api_http: libmicrohttpd transport and latency timer of the fake
 * WeChat API. See sim_api_http.h.
 *
 * Latency: a request whose answer carries delay_ms is suspended
 * (MHD_suspend_connection) and its connection put in a min-heap keyed by
 * its due time; one timer thread sleeps until the earliest due time and
 * resumes what is due, outside its lock (MHD takes its own locks in
 * MHD_resume_connection). The MHD worker threads never sleep, so with
 * latency_ms = 50 a few hundred keep-alive connections are each answered
 * ~50 ms after they asked, limited only by the CPU.
 */
#include "sim_api_http.h"

#include "log.h"
#include "ops_http.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CONN_MEMORY ((size_t)16384) /* headers + a 512-character token in the query */

struct delay_item {
    int64_t due_us;
    struct MHD_Connection *c;
};

/* Min-heap of suspended connections by due time, and the thread that resumes them. */
struct delayq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int started, closed;
    struct delay_item *heap;
    size_t n, cap;
};

struct sim_api_http {
    fw *f;
    struct MHD_Daemon *d;
    MHD_socket quiesced_fd;
    struct delayq dq;
    atomic_int inflight, stopping;
    char url[64];
};

enum { S_NEW, S_WAIT };

struct req {
    sim_api_http *srv;
    const char *url; /* owned by MHD for the request's lifetime */
    char *body;
    size_t len, cap, limit;
    int too_large, state;
    struct fw_response resp;
};

/* ---- delay queue ---- */

static void heap_swap(struct delay_item *a, struct delay_item *b)
{
    struct delay_item t = *a;
    *a = *b;
    *b = t;
}

static void heap_pop(struct delayq *q, struct delay_item *out)
{
    size_t i = 0;
    *out = q->heap[0];
    q->heap[0] = q->heap[--q->n];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->n && q->heap[l].due_us < q->heap[m].due_us)
            m = l;
        if (r < q->n && q->heap[r].due_us < q->heap[m].due_us)
            m = r;
        if (m == i)
            break;
        heap_swap(&q->heap[i], &q->heap[m]);
        i = m;
    }
}

/* Queues C to be resumed at DUE_US; resumes it at once when closed or out of memory. */
static void delayq_push(struct delayq *q, struct MHD_Connection *c, int64_t due_us)
{
    size_t i;

    pthread_mutex_lock(&q->mu);
    if (!q->closed && q->n == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 256;
        struct delay_item *h = realloc(q->heap, ncap * sizeof(*h));
        if (h) {
            q->heap = h;
            q->cap = ncap;
        }
    }
    if (q->closed || q->n == q->cap) {
        pthread_mutex_unlock(&q->mu);
        MHD_resume_connection(c);
        return;
    }
    i = q->n++;
    q->heap[i] = (struct delay_item){due_us, c};
    while (i > 0 && q->heap[(i - 1) / 2].due_us > q->heap[i].due_us) {
        heap_swap(&q->heap[i], &q->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    if (i == 0)
        pthread_cond_signal(&q->cv); /* a new earliest deadline */
    pthread_mutex_unlock(&q->mu);
}

static void *delayq_main(void *arg)
{
    struct delayq *q = arg;
    struct MHD_Connection *batch[64];

    pthread_mutex_lock(&q->mu);
    while (!q->closed) {
        size_t nb = 0;
        int64_t now = util_mono_us();
        if (q->n == 0) {
            pthread_cond_wait(&q->cv, &q->mu);
            continue;
        }
        if (q->heap[0].due_us > now) {
            struct timespec ts;
            int64_t due = q->heap[0].due_us;
            ts.tv_sec = (time_t)(due / 1000000);
            ts.tv_nsec = (long)(due % 1000000) * 1000;
            pthread_cond_timedwait(&q->cv, &q->mu, &ts);
            continue;
        }
        while (q->n > 0 && q->heap[0].due_us <= now && nb < sizeof(batch) / sizeof(batch[0])) {
            struct delay_item it;
            heap_pop(q, &it);
            batch[nb++] = it.c;
        }
        pthread_mutex_unlock(&q->mu);
        for (size_t i = 0; i < nb; i++)
            MHD_resume_connection(batch[i]);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static int delayq_start(struct delayq *q)
{
    pthread_condattr_t ca;

    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the clock util_mono_us reads */
    pthread_cond_init(&q->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&q->th, NULL, delayq_main, q) != 0)
        return -1;
    q->started = 1;
    return 0;
}

/* Stops the timer thread and resumes every connection still waiting. */
static void delayq_close(struct delayq *q)
{
    struct delay_item *h;
    size_t n;

    if (!q->started)
        return;
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    h = q->heap;
    n = q->n;
    q->heap = NULL;
    q->n = q->cap = 0;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (size_t i = 0; i < n; i++)
        MHD_resume_connection(h[i].c);
    free(h);
}

static void delayq_destroy(struct delayq *q)
{
    if (!q->started)
        return;
    pthread_join(q->th, NULL);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q->heap);
    q->started = 0;
}

/* ---- requests ---- */

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    json_t *v;
    (void)kind;
    /* json_string() refuses invalid UTF-8: such a parameter is left out. */
    if (key && (v = json_string(value ? value : "")) != NULL)
        json_object_set_new(cls, key, v);
    return MHD_YES;
}

/* Sends R's prepared answer (or drops the connection, as the fault asked). */
static enum MHD_Result answer(struct MHD_Connection *c, struct req *r)
{
    struct MHD_Response *mr;
    enum MHD_Result ret;

    if (r->resp.drop || !r->resp.body)
        return MHD_NO; /* MHD closes the connection without a response */
    mr = MHD_create_response_from_buffer(r->resp.body_len, r->resp.body, MHD_RESPMEM_MUST_FREE);
    if (!mr)
        return MHD_NO;
    r->resp.body = NULL; /* MHD frees it with the response */
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->resp.content_type);
    if (r->resp.filename[0]) {
        char disp[FWMEDIA_FILENAME_MAX + 32];
        size_t n = (size_t)snprintf(disp, sizeof(disp), "attachment; filename=\"");
        /* Only plain characters go into the header; the rest become '_'. */
        for (const char *p = r->resp.filename; *p && n + 2 < sizeof(disp); p++)
            disp[n++] = (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') ? *p : '_';
        disp[n++] = '"';
        disp[n] = '\0';
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
    }
    if (atomic_load(&r->srv->stopping))
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(c, (unsigned)r->resp.status, mr);
    MHD_destroy_response(mr);
    return ret;
}

static enum MHD_Result finish(sim_api_http *s, struct MHD_Connection *c, struct req *r,
                              const char *method)
{
    json_t *query = json_object();
    struct fw_request fr = {
        .method = method,
        .path = r->url,
        .query = query,
        .body = r->body ? r->body : "",
        .body_len = r->len,
        .content_type =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
        .body_too_large = r->too_large,
    };

    if (!query)
        return MHD_NO;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, query);
    fw_handle(s->f, &fr, &r->resp);
    json_decref(query);
    /* The body is no longer needed while the answer waits. */
    free(r->body);
    r->body = NULL;
    r->len = r->cap = 0;
    if (r->resp.delay_ms > 0 && !atomic_load(&s->stopping)) {
        r->state = S_WAIT;
        MHD_suspend_connection(c);
        delayq_push(&s->dq, c, util_mono_us() + r->resp.delay_ms * 1000);
        return MHD_YES;
    }
    return answer(c, r);
}

static int append(struct req *r, const char *data, size_t n)
{
    if (r->too_large || r->len + n > r->limit) {
        r->too_large = 1; /* keep reading, keep nothing: the answer is an errcode */
        return 0;
    }
    if (r->len + n + 1 > r->cap) {
        size_t ncap = (r->len + n + 1) * 2;
        char *nb;
        if (ncap > r->limit + 1)
            ncap = r->limit + 1;
        nb = realloc(r->body, ncap);
        if (!nb)
            return -1;
        r->body = nb;
        r->cap = ncap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    sim_api_http *s = cls;
    struct req *r = *con_cls;

    (void)version;
    if (!r) {
        const char *clen =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        long long n;
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        r->srv = s;
        r->url = url;
        r->limit = fw_body_limit(s->f, url);
        if (clen && util_parse_ll(clen, 0, INT64_MAX, &n) == 0 && (unsigned long long)n > r->limit)
            r->too_large = 1;
        *con_cls = r;
        atomic_fetch_add(&s->inflight, 1);
        return MHD_YES;
    }
    if (r->state == S_WAIT)
        return answer(c, r); /* resumed: the latency is over */
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return append(r, upload_data, n) == 0 ? MHD_YES : MHD_NO;
    }
    return finish(s, c, r, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    sim_api_http *s = cls;
    struct req *r = *con_cls;
    (void)c;
    (void)toe;
    if (!r)
        return;
    free(r->body);
    fw_response_free(&r->resp);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->inflight, 1);
}

/* MHD's own messages (e.g. accept failures) as JSON log lines. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    /* Every injected drop makes MHD say this: expected, so not a warning. */
    log_event(strncmp(msg, "Application reported internal error", 35) == 0 ? LOG_DEBUG : LOG_WARN,
              "mhd_message", "message", msg, NULL);
}

int sim_api_http_start(const char *listen, unsigned threads, fw *f, sim_api_http **out, char *err,
                       size_t errlen)
{
    sim_api_http *s = NULL;
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;
    char host[INET_ADDRSTRLEN];
    int rc = -1;

    *out = NULL;
    if (ops_http_parse_listen(listen, &sa) < 0) {
        snprintf(err, errlen, "listen address \"%s\" must be IPv4:PORT", listen);
        goto out;
    }
    if (threads < 1 || threads > 64) {
        snprintf(err, errlen, "threads must be 1..64");
        goto out;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    s->f = f;
    s->quiesced_fd = MHD_INVALID_SOCKET;
    if (delayq_start(&s->dq) < 0) {
        snprintf(err, errlen, "cannot start the latency timer thread");
        goto out;
    }
    s->d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                             MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG,
                         0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                         MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_THREAD_POOL_SIZE, threads,
                         MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                         MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                         CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->d) {
        snprintf(err, errlen, "cannot listen on %s: %s", listen, strerror(errno));
        goto out;
    }
    info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    /* A wildcard bind is reachable on loopback: advertise that. */
    if (sa.sin_addr.s_addr == htonl(INADDR_ANY))
        snprintf(host, sizeof(host), "127.0.0.1");
    else
        inet_ntop(AF_INET, &sa.sin_addr, host, sizeof(host));
    snprintf(s->url, sizeof(s->url), "http://%s:%u", host,
             info ? (unsigned)info->port : (unsigned)ntohs(sa.sin_port));
    *out = s;
    s = NULL;
    rc = 0;
out:
    sim_api_http_stop(s, 0);
    return rc;
}

const char *sim_api_http_url(const sim_api_http *s)
{
    return s->url;
}

void sim_api_http_stop(sim_api_http *s, int timeout_ms)
{
    int64_t until;

    if (!s)
        return;
    atomic_store(&s->stopping, 1);
    if (s->d)
        s->quiesced_fd = MHD_quiesce_daemon(s->d);
    delayq_close(&s->dq);
    until = util_mono_ms() + timeout_ms;
    while (s->d && atomic_load(&s->inflight) > 0 && util_mono_ms() < until)
        usleep(5 * 1000);
    if (s->d)
        MHD_stop_daemon(s->d);
    if (s->quiesced_fd != MHD_INVALID_SOCKET)
        close(s->quiesced_fd);
    delayq_destroy(&s->dq);
    free(s);
}
