/*
 * sim_api_http: the libmicrohttpd front of `wxbridge-sim api`.
 *
 * Buffers each request (bounded by fw_body_limit), hands it to fake_wechat
 * and sends the answer back. The latency fault never holds a thread: the
 * connection is suspended and a timer thread resumes it when its delay is
 * over, so any number of concurrent requests each wait their own latency
 * in parallel. Injected drops close the connection without an answer.
 */
#ifndef WXB_SIM_API_HTTP_H
#define WXB_SIM_API_HTTP_H

#include "fake_wechat.h"

#include <stddef.h>

typedef struct sim_api_http sim_api_http;

/*
 * Serves F (borrowed; must outlive the server) on LISTEN ("IPv4:port" or
 * "localhost:port"; port 0 picks a free one) with THREADS (1..64) epoll
 * worker threads. Returns 0 with *OUT, or -1 with ERR.
 */
int sim_api_http_start(const char *listen, unsigned threads, fw *f, sim_api_http **out, char *err,
                       size_t errlen);

/* The base URL, "http://127.0.0.1:PORT". */
const char *sim_api_http_url(const sim_api_http *s);

/*
 * Stops accepting, answers every delayed request at once (keep-alive
 * connections are told to close), waits up to TIMEOUT_MS for requests in
 * flight, then stops the daemon and frees S. NULL-safe.
 */
void sim_api_http_stop(sim_api_http *s, int timeout_ms);

#endif
