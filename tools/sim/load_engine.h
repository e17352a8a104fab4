/*
 * load_engine: a minimal HTTP/1.1 keep-alive load engine on epoll.
 *
 * Sends pre-built raw requests round-robin over a fixed set of persistent
 * connections (one request in flight per connection, no pipelining) for a
 * duration or a request count, and measures every response's latency from
 * its first byte sent to its last byte received. It exists because libcurl's
 * multi interface needs more CPU per request than the libmicrohttpd server
 * it is meant to saturate; per request this engine makes one send(), one
 * recv() and a share of one epoll_wait(), with no epoll_ctl() on the steady
 * path.
 *
 * Responses are parsed with Content-Length, chunked or read-until-close
 * bodies; a response (headers + body) must fit LE_RESP_MAX bytes.
 */
#ifndef WXB_LOAD_ENGINE_H
#define WXB_LOAD_ENGINE_H

#include "lat_hist.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LE_RESP_MAX   (16 * 1024)
#define LE_STATUS_MAX 600

/* One complete HTTP request (request line, headers, body), borrowed. */
struct le_request {
    const char *data;
    size_t len;
};

struct le_config {
    const struct sockaddr *addr; /* the server (borrowed) */
    socklen_t addrlen;
    const struct le_request *reqs; /* NREQS >= 1 requests, sent round-robin */
    size_t nreqs;
    unsigned connections;        /* >= 1 */
    unsigned threads;            /* 1..connections; each runs its own epoll loop */
    int64_t duration_us;         /* no request starts after this */
    uint64_t max_requests;       /* no more requests than this are started (0 = no limit) */
    int64_t timeout_us;          /* per request, connecting included */
    const char *ok_body;         /* the body of a successful 200 answer ("success") */
    volatile sig_atomic_t *stop; /* optional: set non-zero to stop starting requests */
};

enum le_err {
    LE_ERR_CONNECT,  /* connect() failed (retried after 10 ms) */
    LE_ERR_TIMEOUT,  /* no complete answer within timeout_us */
    LE_ERR_CLOSED,   /* the server closed or reset the connection mid-request */
    LE_ERR_PROTOCOL, /* not parseable as HTTP/1.x, or over LE_RESP_MAX */
    LE_ERR_IO,       /* any other socket error */
    LE_ERR_COUNT
};

struct le_stats {
    uint64_t requests; /* finished: responses + errors */
    uint64_t ok;       /* 200 with exactly ok_body */
    uint64_t non_success_total;
    uint64_t non_success[LE_STATUS_MAX]; /* by status; [200] = 200 with another body */
    uint64_t errors;
    uint64_t errors_by[LE_ERR_COUNT];
    uint64_t connects; /* connections opened */
    double elapsed_s;  /* from the start to the last request finished */
    lat_hist *latency; /* every response (not errors); owned, le_stats_free() */
};

/*
 * Runs the load described by C, blocking until every started request has
 * finished (answered, failed or timed out). Requests still in flight at
 * duration_us + min(timeout_us, 5 s) count as timeouts, so it returns by
 * then (plus scheduling noise) whatever the server does.
 * On success fills *OUT (free with le_stats_free) and returns 0; returns -1
 * with ERR set when it could not run (bad config, no memory, no epoll).
 */
int le_run(const struct le_config *c, struct le_stats *out, char *err, size_t errlen);

/* Frees what le_run() stored in S. NULL-safe. */
void le_stats_free(struct le_stats *s);

/* Stable snake_case name of an error kind ("timeout", ...). */
const char *le_err_name(enum le_err e);

#endif
