/*
 * load_engine: epoll HTTP/1.1 keep-alive load engine. See load_engine.h.
 *
 * Each worker thread owns an epoll instance and a slice of the connections.
 * A connection cycles: pick a request (next_request) -> connect if needed ->
 * send -> receive and parse -> record -> pick the next. Sockets stay
 * registered for EPOLLIN (level-triggered) once connected; EPOLLOUT is only
 * asked for while connecting or after a short write. Timeouts and connect
 * back-offs are found by scanning the worker's connections every 10 ms,
 * which is cheap at the connection counts a load run uses.
 */
#include "load_engine.h"

#include "util.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#define SCAN_US            10000 /* timeout / back-off scan period */
#define CONNECT_BACKOFF_US 10000
#define MAX_EVENTS         256
#define BODY_HEAD          64      /* body bytes kept for the success check */
#define DRAIN_MAX_US       5000000 /* in-flight requests get at most this past the deadline */

enum conn_state { C_IDLE, C_CONNECTING, C_SENDING, C_RECEIVING, C_BACKOFF, C_DONE };

struct conn {
    int fd;
    enum conn_state st;
    uint32_t ev; /* registered epoll mask, 0 = not registered */
    const struct le_request *req;
    size_t sent;
    int64_t t_start; /* request sent (or connect started) */
    int64_t retry_at;
    char *buf; /* LE_RESP_MAX bytes */
    size_t len;
    /* response being parsed */
    size_t hdr_len; /* 0 until the header block is complete */
    int status;
    long long clen; /* -1: not given */
    int chunked, close_after, until_close;
};

/* State every worker reads (and, for ISSUED, updates). */
struct shared {
    const struct le_config *cfg;
    int64_t t0, deadline;
    int64_t drain_end; /* deadline + min(timeout, DRAIN_MAX_US): nothing outlives it */
    _Atomic uint64_t issued;
};

struct worker {
    struct shared *sh;
    int ep;
    struct conn *conns;
    unsigned nconns, active;
    char *bufs;
    size_t next_req;
    int stopping;
    int64_t last_done;
    struct le_stats st;
    pthread_t tid;
    int failed;
    char err[128];
};

const char *le_err_name(enum le_err e)
{
    static const char *names[LE_ERR_COUNT] = {"connect", "timeout", "closed", "protocol", "io"};
    return (unsigned)e < LE_ERR_COUNT ? names[e] : "?";
}

static void set_ev(struct worker *w, struct conn *c, uint32_t mask)
{
    struct epoll_event ev = {.events = mask, .data.ptr = c};

    if (c->ev == mask)
        return;
    /* Failure here only means the socket is already broken: recv() will tell. */
    epoll_ctl(w->ep, c->ev ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev);
    c->ev = mask;
}

static void reset_parse(struct conn *c)
{
    c->len = 0;
    c->hdr_len = 0;
    c->status = 0;
    c->clen = -1;
    c->chunked = c->close_after = c->until_close = 0;
}

static void close_conn(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* also drops it from the epoll set */
    c->fd = -1;
    c->ev = 0;
    reset_parse(c);
}

/* Whether another request may start now; counts it against max_requests. */
static int may_issue(struct worker *w, int64_t now)
{
    const struct le_config *cfg = w->sh->cfg;

    if (w->stopping)
        return 0;
    if (now >= w->sh->deadline || (cfg->stop && *cfg->stop)) {
        w->stopping = 1;
        return 0;
    }
    if (cfg->max_requests &&
        atomic_fetch_add_explicit(&w->sh->issued, 1, memory_order_relaxed) >= cfg->max_requests) {
        w->stopping = 1;
        return 0;
    }
    return 1;
}

static void next_request(struct worker *w, struct conn *c, int64_t now);

static void finish(struct worker *w, struct conn *c, int64_t now)
{
    w->st.requests++;
    if (now > w->last_done)
        w->last_done = now;
    c->req = NULL;
}

static void fail(struct worker *w, struct conn *c, enum le_err kind, int64_t now)
{
    w->st.errors++;
    w->st.errors_by[kind]++;
    finish(w, c, now);
    close_conn(c);
    if (kind == LE_ERR_CONNECT) {
        /* A refused connect returns at once: pace the retries. */
        c->st = C_BACKOFF;
        c->retry_at = now + CONNECT_BACKOFF_US;
        return;
    }
    next_request(w, c, now);
}

static void send_more(struct worker *w, struct conn *c)
{
    while (c->sent < c->req->len) {
        ssize_t n = send(c->fd, c->req->data + c->sent, c->req->len - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->st = C_SENDING;
            set_ev(w, c, EPOLLOUT);
            return;
        }
        fail(w, c, (errno == EPIPE || errno == ECONNRESET) ? LE_ERR_CLOSED : LE_ERR_IO,
             util_mono_us());
        return;
    }
    c->st = C_RECEIVING;
    set_ev(w, c, EPOLLIN);
}

static void start_send(struct worker *w, struct conn *c, int64_t now)
{
    c->sent = 0;
    c->t_start = now;
    reset_parse(c);
    send_more(w, c);
}

/* Opens a non-blocking connection; the attached request is sent once it is up. */
static void start_connect(struct worker *w, struct conn *c, int64_t now)
{
    const struct le_config *cfg = w->sh->cfg;
    int one = 1;

    c->fd = socket(cfg->addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail(w, c, LE_ERR_CONNECT, now);
        return;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    w->st.connects++;
    c->t_start = now;
    if (connect(c->fd, cfg->addr, cfg->addrlen) == 0) {
        start_send(w, c, now);
        return;
    }
    if (errno != EINPROGRESS) {
        fail(w, c, LE_ERR_CONNECT, now);
        return;
    }
    c->st = C_CONNECTING;
    set_ev(w, c, EPOLLOUT);
}

static void next_request(struct worker *w, struct conn *c, int64_t now)
{
    const struct le_config *cfg = w->sh->cfg;

    if (!may_issue(w, now)) {
        close_conn(c);
        c->st = C_DONE;
        w->active--;
        return;
    }
    c->req = &cfg->reqs[w->next_req];
    w->next_req = (w->next_req + 1) % cfg->nreqs;
    if (c->fd < 0)
        start_connect(w, c, now);
    else
        start_send(w, c, now);
}

/* Case-insensitive "name:" prefix test; returns the value start or NULL. */
static const char *header_value(const char *line, size_t n, const char *name)
{
    size_t nl = strlen(name);

    if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return NULL;
    line += nl + 1;
    while (*line == ' ' || *line == '\t')
        line++;
    return line;
}

/* Parses the status line and headers in C->buf[0..HLEN). Returns 0 or -1. */
static int parse_headers(struct conn *c, size_t hlen)
{
    const char *p = c->buf, *end = c->buf + hlen;
    const char *eol = memchr(p, '\n', hlen);
    int http10;
    long long v;

    if (!eol || hlen < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
        return -1;
    http10 = p[7] == '0';
    if (p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9')
        return -1;
    c->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    c->close_after = http10;
    c->clen = -1;
    for (p = eol + 1; p < end; p = eol + 1) {
        const char *val;
        size_t n;
        char tmp[24];

        eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        n = (size_t)(eol - p);
        if ((val = header_value(p, n, "content-length")) != NULL) {
            size_t vl = (size_t)(eol - val);
            while (vl > 0 && (val[vl - 1] == '\r' || val[vl - 1] == ' '))
                vl--;
            if (vl == 0 || vl >= sizeof(tmp))
                return -1;
            memcpy(tmp, val, vl);
            tmp[vl] = '\0';
            if (util_parse_ll(tmp, 0, (long long)1 << 40, &v) < 0)
                return -1;
            c->clen = v;
        } else if ((val = header_value(p, n, "transfer-encoding")) != NULL) {
            c->chunked = strncasecmp(val, "chunked", 7) == 0;
        } else if ((val = header_value(p, n, "connection")) != NULL) {
            if (strncasecmp(val, "close", 5) == 0)
                c->close_after = 1;
            else if (strncasecmp(val, "keep-alive", 10) == 0)
                c->close_after = 0;
        }
    }
    if (c->status == 204 || c->status == 304) {
        c->clen = 0;
        c->chunked = 0;
    } else if (c->chunked) {
        c->clen = -1;
    } else if (c->clen < 0) {
        c->until_close = 1;
        c->close_after = 1;
    }
    return 0;
}

/*
 * Decodes a chunked body at P[0..N). Returns 1 when complete (the first
 * bytes in HEAD, the decoded length in *BODY_LEN, the bytes used in *USED),
 * 0 when more is needed, -1 when malformed.
 */
static int parse_chunked(const char *p, size_t n, char *head, size_t *body_len, size_t *used)
{
    size_t pos = 0, total = 0;

    for (;;) {
        const char *eol = memchr(p + pos, '\n', n - pos);
        unsigned long long sz = 0;
        size_t digits = 0;

        if (!eol)
            return 0;
        for (const char *q = p + pos; q < eol; q++, digits++) {
            int d;
            if (*q >= '0' && *q <= '9')
                d = *q - '0';
            else if ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'f')
                d = (*q | 0x20) - 'a' + 10;
            else
                break; /* ";ext" or "\r" */
            if (sz > (1ULL << 40))
                return -1;
            sz = sz * 16 + (unsigned long long)d;
        }
        if (digits == 0)
            return -1;
        pos = (size_t)(eol - p) + 1;
        if (sz == 0) {
            /* Trailers, if any, end with an empty line. */
            for (;;) {
                const char *tl = memchr(p + pos, '\n', n - pos);
                if (!tl)
                    return 0;
                if (tl == p + pos || (tl == p + pos + 1 && p[pos] == '\r')) {
                    *used = (size_t)(tl - p) + 1;
                    *body_len = total;
                    return 1;
                }
                pos = (size_t)(tl - p) + 1;
            }
        }
        if (n - pos < sz + 2)
            return 0;
        if (total < BODY_HEAD) {
            size_t take = sz < BODY_HEAD - total ? (size_t)sz : BODY_HEAD - total;
            memcpy(head + total, p + pos, take);
        }
        total += (size_t)sz;
        pos += (size_t)sz;
        if (p[pos] == '\r')
            pos++;
        if (p[pos] != '\n')
            return -1;
        pos++;
    }
}

static void complete(struct worker *w, struct conn *c, const char *body, size_t body_len,
                     int64_t now)
{
    const char *ok_body = w->sh->cfg->ok_body;
    size_t ok_len = strlen(ok_body);

    lat_hist_record(w->st.latency, now - c->t_start);
    if (c->status == 200 && body_len == ok_len && memcmp(body, ok_body, ok_len) == 0) {
        w->st.ok++;
    } else {
        w->st.non_success_total++;
        w->st.non_success[c->status]++;
    }
    finish(w, c, now);
    if (c->close_after)
        close_conn(c);
    else
        reset_parse(c);
    next_request(w, c, now);
}

/* Tries to finish the response in C->buf; at EOF only a read-until-close body can. */
static void try_parse(struct worker *w, struct conn *c, int eof, int64_t now)
{
    for (;;) {
        if (c->hdr_len == 0) {
            const char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
            if (!e)
                break;
            c->hdr_len = (size_t)(e - c->buf) + 4;
            if (parse_headers(c, c->hdr_len) < 0) {
                fail(w, c, LE_ERR_PROTOCOL, now);
                return;
            }
            if (c->status < 200) {
                /* An interim 1xx answer: drop it and parse what follows. */
                memmove(c->buf, c->buf + c->hdr_len, c->len - c->hdr_len);
                c->len -= c->hdr_len;
                c->hdr_len = 0;
                continue;
            }
        }
        if (c->clen >= 0) {
            size_t have = c->len - c->hdr_len;
            if ((unsigned long long)c->clen > LE_RESP_MAX - c->hdr_len) {
                fail(w, c, LE_ERR_PROTOCOL, now);
                return;
            }
            if (have < (size_t)c->clen)
                break;
            if (have > (size_t)c->clen) {
                /* Bytes nobody asked for: the stream is out of step. */
                fail(w, c, LE_ERR_PROTOCOL, now);
                return;
            }
            complete(w, c, c->buf + c->hdr_len, (size_t)c->clen, now);
            return;
        }
        if (c->chunked) {
            char head[BODY_HEAD];
            size_t body_len = 0, used = 0;
            int r = parse_chunked(c->buf + c->hdr_len, c->len - c->hdr_len, head, &body_len, &used);
            if (r < 0 || (r == 1 && c->hdr_len + used != c->len)) {
                fail(w, c, LE_ERR_PROTOCOL, now);
                return;
            }
            if (r == 0)
                break;
            complete(w, c, head, body_len, now);
            return;
        }
        if (c->until_close && eof) {
            complete(w, c, c->buf + c->hdr_len, c->len - c->hdr_len, now);
            return;
        }
        break;
    }
    if (eof) {
        fail(w, c, LE_ERR_CLOSED, now);
        return;
    }
    if (c->len == LE_RESP_MAX)
        fail(w, c, LE_ERR_PROTOCOL, now);
}

static void on_readable(struct worker *w, struct conn *c)
{
    ssize_t n;

    do {
        n = recv(c->fd, c->buf + c->len, LE_RESP_MAX - c->len, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        fail(w, c, errno == ECONNRESET ? LE_ERR_CLOSED : LE_ERR_IO, util_mono_us());
        return;
    }
    c->len += (size_t)n;
    try_parse(w, c, n == 0, util_mono_us());
}

static void on_event(struct worker *w, struct conn *c, uint32_t events)
{
    int soerr = 0;
    socklen_t sl = sizeof(soerr);

    switch (c->st) {
    case C_CONNECTING:
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
            fail(w, c, LE_ERR_CONNECT, util_mono_us());
            return;
        }
        start_send(w, c, util_mono_us());
        return;
    case C_SENDING:
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            send_more(w, c);
        return;
    case C_RECEIVING:
        on_readable(w, c);
        return;
    default:
        /* Nothing is expected on an idle connection: the server closed it. */
        close_conn(c);
        return;
    }
}

/* Times out stuck requests and restarts connections whose back-off is over. */
static void scan(struct worker *w, int64_t now)
{
    int64_t timeout = w->sh->cfg->timeout_us;

    for (unsigned i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        switch (c->st) {
        case C_CONNECTING:
        case C_SENDING:
        case C_RECEIVING:
            if (now - c->t_start >= timeout || now >= w->sh->drain_end)
                fail(w, c, LE_ERR_TIMEOUT, now);
            break;
        case C_BACKOFF:
            if (now >= c->retry_at || w->stopping)
                next_request(w, c, now);
            break;
        default:
            break;
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[MAX_EVENTS];
    int64_t now = util_mono_us(), last_scan = now;

    for (unsigned i = 0; i < w->nconns; i++)
        next_request(w, &w->conns[i], now);
    while (w->active > 0) {
        int n = epoll_wait(w->ep, evs, MAX_EVENTS, SCAN_US / 1000);
        if (n < 0 && errno != EINTR) {
            snprintf(w->err, sizeof(w->err), "epoll_wait: %s", strerror(errno));
            w->failed = 1;
            break;
        }
        for (int i = 0; i < n; i++)
            on_event(w, evs[i].data.ptr, evs[i].events);
        now = util_mono_us();
        if (!w->stopping && (now >= w->sh->deadline || (w->sh->cfg->stop && *w->sh->cfg->stop)))
            w->stopping = 1;
        if (now - last_scan >= SCAN_US || w->stopping) {
            scan(w, now);
            last_scan = now;
        }
    }
    for (unsigned i = 0; i < w->nconns; i++)
        close_conn(&w->conns[i]);
    return NULL;
}

static int worker_init(struct worker *w, struct shared *sh, unsigned nconns, size_t first_req,
                       char *err, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    w->sh = sh;
    w->ep = -1;
    w->nconns = w->active = nconns;
    w->next_req = first_req;
    w->st.latency = lat_hist_create();
    w->conns = calloc(nconns, sizeof(*w->conns));
    w->bufs = malloc((size_t)nconns * LE_RESP_MAX);
    if (!w->st.latency || !w->conns || !w->bufs) {
        snprintf(err, errlen, "out of memory for %u connections", nconns);
        return -1;
    }
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (w->ep < 0) {
        snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
        return -1;
    }
    for (unsigned i = 0; i < nconns; i++) {
        w->conns[i].fd = -1;
        w->conns[i].buf = w->bufs + (size_t)i * LE_RESP_MAX;
        w->conns[i].st = C_IDLE;
        reset_parse(&w->conns[i]);
    }
    return 0;
}

static void worker_free(struct worker *w)
{
    if (w->ep >= 0)
        close(w->ep);
    free(w->conns);
    free(w->bufs);
    lat_hist_destroy(w->st.latency);
    w->st.latency = NULL;
}

int le_run(const struct le_config *c, struct le_stats *out, char *err, size_t errlen)
{
    struct shared sh;
    struct worker *ws = NULL;
    unsigned nthreads = c->threads ? c->threads : 1, started = 0;
    int64_t t_end = 0;
    int rc = -1, failed = 0;

    memset(out, 0, sizeof(*out));
    if (!c->addr || !c->reqs || c->nreqs == 0 || c->connections == 0 || !c->ok_body ||
        c->timeout_us <= 0 || c->duration_us <= 0) {
        snprintf(err, errlen, "bad load configuration");
        goto out;
    }
    if (nthreads > c->connections)
        nthreads = c->connections;
    out->latency = lat_hist_create();
    ws = calloc(nthreads, sizeof(*ws));
    if (!out->latency || !ws) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    sh.cfg = c;
    atomic_init(&sh.issued, 0);
    for (unsigned i = 0; i < nthreads; i++) {
        unsigned lo = (unsigned)((uint64_t)c->connections * i / nthreads);
        unsigned hi = (unsigned)((uint64_t)c->connections * (i + 1) / nthreads);
        if (worker_init(&ws[i], &sh, hi - lo, c->nreqs * i / nthreads, err, errlen) < 0) {
            for (unsigned j = 0; j <= i; j++)
                worker_free(&ws[j]);
            goto out;
        }
    }
    sh.t0 = util_mono_us();
    sh.deadline = sh.t0 + c->duration_us;
    sh.drain_end = sh.deadline + (c->timeout_us < DRAIN_MAX_US ? c->timeout_us : DRAIN_MAX_US);
    for (; started < nthreads; started++) {
        if (pthread_create(&ws[started].tid, NULL, worker_main, &ws[started]) != 0) {
            snprintf(err, errlen, "pthread_create failed");
            failed = 1;
            /* Rare: the started workers run to the deadline, their results are dropped. */
            break;
        }
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(ws[i].tid, NULL);
    for (unsigned i = 0; i < nthreads; i++) {
        struct le_stats *s = &ws[i].st;
        if (ws[i].failed && !failed) {
            snprintf(err, errlen, "%s", ws[i].err);
            failed = 1;
        }
        out->requests += s->requests;
        out->ok += s->ok;
        out->non_success_total += s->non_success_total;
        for (int k = 0; k < LE_STATUS_MAX; k++)
            out->non_success[k] += s->non_success[k];
        out->errors += s->errors;
        for (int k = 0; k < LE_ERR_COUNT; k++)
            out->errors_by[k] += s->errors_by[k];
        out->connects += s->connects;
        lat_hist_merge(out->latency, s->latency);
        if (ws[i].last_done > t_end)
            t_end = ws[i].last_done;
        worker_free(&ws[i]);
    }
    if (failed)
        goto out;
    if (t_end == 0)
        t_end = util_mono_us();
    out->elapsed_s = (double)(t_end - sh.t0) / 1e6;
    rc = 0;
out:
    free(ws);
    if (rc < 0)
        le_stats_free(out);
    return rc;
}

void le_stats_free(struct le_stats *s)
{
    if (!s)
        return;
    lat_hist_destroy(s->latency);
    s->latency = NULL;
}
