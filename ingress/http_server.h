/*
 * http_server: the ingress's HTTP face (libmicrohttpd).
 *
 * A pool of epoll threads accepts WeChat's requests. A push that must be
 * published is handed to the publisher and its connection suspended, so no
 * thread ever blocks on Kafka or on the spool's fsync; the publisher's
 * callback resumes it with the answer. Also serves /healthz, /readyz and
 * /metrics, on the main listener or on metrics_listen.
 */
#ifndef WXB_HTTP_SERVER_H
#define WXB_HTTP_SERVER_H

#include "ingress_config.h"
#include "metrics.h"
#include "publisher.h"
#include "spool.h"

typedef struct http_server http_server;

/*
 * Starts listening per CFG (all borrowed; they must outlive the server).
 * Returns 0 or -1 with ERR.
 */
int http_server_start(const struct ingress_config *cfg, publisher *pub, spool *sp, metrics *m,
                      http_server **out, char *err, size_t errlen);

/* The bound base URL, e.g. "http://127.0.0.1:43121" (valid until stop). */
const char *http_server_url(const http_server *s);

/* Where /healthz, /readyz and /metrics are served (metrics_listen, or the main URL). */
const char *http_server_ops_url(const http_server *s);

/*
 * Stops accepting, lets requests in progress finish for up to TIMEOUT_MS
 * (their answers are durable before they are sent), then stops and frees S.
 * Returns the number of requests still in progress at the end (0 = clean).
 */
int http_server_stop(http_server *s, int timeout_ms);

#endif
