/*
 * http_client: many outbound HTTP requests in flight on one thread, over
 * libcurl's multi interface. The replier sends WeChat API calls through it.
 *
 * Connections are kept alive and reused (one cache per client); every
 * request has a total and a connect timeout; response bodies are bounded.
 * Nothing blocks: requests are started with hc_post_json()/hc_get()/
 * hc_post_file() and completed by hc_run(), which calls each request's
 * callback exactly once, on the caller's thread, unless the client is freed
 * first (then never).
 */
#ifndef WXB_HTTP_CLIENT_H
#define WXB_HTTP_CLIENT_H

#include <stddef.h>

typedef struct http_client http_client;

struct hc_response {
    int ok;           /* 1: an HTTP answer arrived (any status) */
    long status;      /* HTTP status when ok */
    const char *body; /* NUL-terminated; valid during the callback only */
    size_t len;
    const char *content_type; /* may be NULL */
    const char *error;        /* why not ok (timeout, connection refused, too large, ...) */
    long long elapsed_ms;
};

typedef void (*hc_done_fn)(void *arg, const struct hc_response *r);

/*
 * TIMEOUT_MS bounds a whole request, CONNECT_TIMEOUT_MS its connection,
 * MAX_BODY its response body (larger answers fail with "response too
 * large"); MAX_CONNS connections are kept for reuse. Returns NULL when out of
 * memory.
 */
http_client *hc_new(long timeout_ms, long connect_timeout_ms, size_t max_body, long max_conns);

/* Aborts every request (their callbacks are not called) and frees H. NULL-safe. */
void hc_free(http_client *h);

/* POSTs BODY (LEN bytes, copied) as application/json to URL. Returns 0 or -1. */
int hc_post_json(http_client *h, const char *url, const char *body, size_t len, hc_done_fn fn,
                 void *arg);

/* GETs URL. Returns 0 or -1. */
int hc_get(http_client *h, const char *url, hc_done_fn fn, void *arg);

/* POSTs DATA (LEN bytes, copied) as the multipart/form-data field FIELD with
 * FILENAME and CTYPE (WeChat's media/upload). Returns 0 or -1. */
int hc_post_file(http_client *h, const char *url, const char *field, const char *filename,
                 const char *ctype, const void *data, size_t len, hc_done_fn fn, void *arg);

/*
 * Moves every request forward, waiting at most WAIT_MS for network activity,
 * and calls the callbacks of the requests that finished. Callbacks may start
 * new requests. Returns the number of requests finished, or -1 on a libcurl
 * failure.
 */
int hc_run(http_client *h, int wait_ms);

/* Requests started and not finished. */
int hc_active(const http_client *h);

/* Percent-encodes S for a URL query into OUT; returns 0 or -1 (too long). */
int hc_escape(const char *s, char *out, size_t outlen);

#endif
