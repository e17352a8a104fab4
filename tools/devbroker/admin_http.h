/*
 * admin_http: the devbroker's fault-injection HTTP endpoint (libmicrohttpd).
 *
 * Requests (answers are JSON; errors are {"error":"..."}):
 *   GET  /healthz                                  200 {"status":"ok","bootstrap":..,"brokers":N}
 *   POST /brokers/<id|all>/down                    broker(s) stop accepting connections
 *   POST /brokers/<id|all>/up                      broker(s) accept connections again
 *   POST /brokers/<id|all>/rtt?ms=N                delay every response by N ms (0 = none)
 *   POST /topics/<name>?partitions=N               create a topic (N defaults to --partitions)
 *   POST /topics/<name>/error?code=N               Metadata for <name> fails with N; 0 clears
 *   POST /request-errors?api=N&code=N&count=N      next COUNT (default 1) requests of API N fail
 *   DELETE /request-errors?api=N                   forget pending errors for API key N
 * Unknown path 404, wrong method 405 (with Allow), bad argument 400,
 * unknown broker 404, existing topic 409. Request bodies are ignored.
 *
 * Requests are served by MHD's single internal polling thread; the mock
 * cluster calls it makes are thread-safe (see mock_cluster.h).
 */
#ifndef WXB_ADMIN_HTTP_H
#define WXB_ADMIN_HTTP_H

#include <stddef.h>

struct mock_cluster;
struct admin_http;

/*
 * Starts serving on LISTEN ("127.0.0.1:0", "localhost:8081", "[::1]:0"; only
 * that address is bound, port 0 picks a free one). MC is borrowed and must
 * outlive the server; DEFAULT_PARTITIONS is used by POST /topics/<name>
 * without ?partitions. On success *OUT owns the running server. Returns 0 or
 * -EINVAL (bad address) / -EIO (bind failed) / -ENOMEM with detail in ERR.
 */
int admin_http_start(const char *listen, struct mock_cluster *mc, int default_partitions,
                     struct admin_http **out, char *err, size_t errlen);

/* Checks LISTEN the way admin_http_start() would; returns 0 or -EINVAL with ERR. */
int admin_http_check_listen(const char *listen, char *err, size_t errlen);

/* Base URL with the real port, e.g. "http://127.0.0.1:45678"; borrowed. */
const char *admin_http_url(const struct admin_http *ah);

/*
 * Stops the server: returns once no request callback is running any more,
 * so the mock cluster may be destroyed afterwards. NULL-safe.
 */
void admin_http_stop(struct admin_http *ah);

#endif
