/*
 * ops_http: the operational endpoints every wxbridge program serves —
 * GET /healthz (liveness), /readyz (a JSON verdict from the program) and
 * /metrics (Prometheus text) — either inside a program's own
 * libmicrohttpd server (ops_http_handle) or on a listener of their own
 * (ops_http_start).
 */
#ifndef WXB_OPS_HTTP_H
#define WXB_OPS_HTTP_H

#include "metrics.h"

#include <microhttpd.h>
#include <stddef.h>

/*
 * Writes the /readyz body (a JSON object) into BUF and returns 1 when the
 * program is ready, 0 when not (answered 503). Called on an MHD thread.
 */
typedef int (*ops_ready_fn)(void *arg, char *buf, size_t len);

struct ops_http_conf {
    metrics *metrics;   /* borrowed; NULL: no /metrics here */
    ops_ready_fn ready; /* NULL: always ready */
    void *arg;
};

/*
 * Answers GET URL if it is one of the endpoints: returns 1 and the MHD
 * result in *RET, or 0 (not ours). Extra response headers (e.g. Connection:
 * close) can be added through ADD_CLOSE.
 */
int ops_http_handle(const struct ops_http_conf *conf, struct MHD_Connection *c, const char *url,
                    int add_close, enum MHD_Result *ret);

typedef struct ops_http ops_http;

/*
 * Serves the endpoints on LISTEN ("127.0.0.1:0" allowed; IPv4). CONF is
 * copied; what it points to must outlive the server. URL receives the base
 * URL. Returns 0 or -1 with ERR.
 */
int ops_http_start(const char *listen, const struct ops_http_conf *conf, ops_http **out, char *url,
                   size_t urllen, char *err, size_t errlen);

/* Stops and frees; NULL-safe. */
void ops_http_stop(ops_http *o);

/* Parses "a.b.c.d:port" or "localhost:port" into SA; returns 0 or -1. */
struct sockaddr_in;
int ops_http_parse_listen(const char *listen, struct sockaddr_in *sa);

#endif
