/*
 * http_client: libcurl multi wrapper. See http_client.h.
 */
#include "http_client.h"

#include "util.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

struct request {
    CURL *easy;
    struct curl_slist *headers;
    curl_mime *mime;
    char *post; /* copy of the body, alive until the transfer ends */
    char *buf;  /* response body */
    size_t len, cap;
    int too_large;
    int64_t started_ms;
    hc_done_fn fn;
    void *arg;
    http_client *owner;
    struct request *prev, *next;
};

struct http_client {
    CURLM *multi;
    long timeout_ms, connect_timeout_ms;
    size_t max_body;
    int active;
    struct request *list; /* every request in flight, for hc_free() */
};

http_client *hc_new(long timeout_ms, long connect_timeout_ms, size_t max_body, long max_conns)
{
    http_client *h = calloc(1, sizeof(*h));
    if (!h || !(h->multi = curl_multi_init())) {
        free(h);
        return NULL;
    }
    h->timeout_ms = timeout_ms;
    h->connect_timeout_ms = connect_timeout_ms;
    h->max_body = max_body;
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, max_conns);
    /* One connection per request to the same host; HTTP/1.1 keep-alive reuses them. */
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_conns);
    return h;
}

static void request_free(struct request *r)
{
    if (!r)
        return;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    curl_mime_free(r->mime);
    free(r->post);
    free(r->buf);
    free(r);
}

static void unlink_request(http_client *h, struct request *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        h->list = r->next;
    if (r->next)
        r->next->prev = r->prev;
    h->active--;
}

void hc_free(http_client *h)
{
    if (!h)
        return;
    while (h->list) {
        struct request *r = h->list;
        curl_multi_remove_handle(h->multi, r->easy);
        unlink_request(h, r);
        request_free(r);
    }
    curl_multi_cleanup(h->multi);
    free(h);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct request *r = arg;
    size_t n = size * nmemb;

    if (r->len + n > r->owner->max_body) {
        r->too_large = 1;
        return 0; /* aborts the transfer */
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        char *b;
        while (cap < r->len + n + 1)
            cap *= 2;
        if (!(b = realloc(r->buf, cap)))
            return 0;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    r->buf[r->len] = '\0';
    return n;
}

static struct request *request_new(http_client *h, const char *url, hc_done_fn fn, void *arg)
{
    struct request *r = calloc(1, sizeof(*r));
    if (!r || !(r->easy = curl_easy_init())) {
        free(r);
        return NULL;
    }
    r->owner = h;
    r->fn = fn;
    r->arg = arg;
    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "wxbridge-replier/" WXB_VERSION);
    return r;
}

static int start(http_client *h, struct request *r)
{
    r->started_ms = util_mono_ms();
    if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
        request_free(r);
        return -1;
    }
    r->next = h->list;
    if (h->list)
        h->list->prev = r;
    h->list = r;
    h->active++;
    return 0;
}

int hc_post_json(http_client *h, const char *url, const char *body, size_t len, hc_done_fn fn,
                 void *arg)
{
    struct request *r = request_new(h, url, fn, arg);
    if (!r || !(r->post = malloc(len + 1)) ||
        !(r->headers = curl_slist_append(NULL, "Content-Type: application/json"))) {
        request_free(r);
        return -1;
    }
    memcpy(r->post, body, len);
    r->post[len] = '\0';
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->post);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    return start(h, r);
}

int hc_get(http_client *h, const char *url, hc_done_fn fn, void *arg)
{
    struct request *r = request_new(h, url, fn, arg);
    if (!r)
        return -1;
    curl_easy_setopt(r->easy, CURLOPT_HTTPGET, 1L);
    return start(h, r);
}

int hc_post_file(http_client *h, const char *url, const char *field, const char *filename,
                 const char *ctype, const void *data, size_t len, hc_done_fn fn, void *arg)
{
    struct request *r = request_new(h, url, fn, arg);
    curl_mimepart *part;

    if (!r || !(r->mime = curl_mime_init(r->easy)) || !(part = curl_mime_addpart(r->mime)) ||
        curl_mime_name(part, field) != CURLE_OK || curl_mime_filename(part, filename) != CURLE_OK ||
        curl_mime_type(part, ctype) != CURLE_OK ||
        curl_mime_data(part, data, len) != CURLE_OK) { /* copies DATA */
        request_free(r);
        return -1;
    }
    curl_easy_setopt(r->easy, CURLOPT_MIMEPOST, r->mime);
    return start(h, r);
}

int hc_run(http_client *h, int wait_ms)
{
    int running, left, done = 0;
    CURLMsg *msg;

    if (h->active == 0)
        return 0;
    if (curl_multi_perform(h->multi, &running) != CURLM_OK)
        return -1;
    if (running > 0 && wait_ms > 0) {
        if (curl_multi_poll(h->multi, NULL, 0, wait_ms, NULL) != CURLM_OK)
            return -1;
        if (curl_multi_perform(h->multi, &running) != CURLM_OK)
            return -1;
    }
    while ((msg = curl_multi_info_read(h->multi, &left))) {
        struct request *r = NULL;
        struct hc_response resp = {0};
        char *ctype = NULL;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        curl_multi_remove_handle(h->multi, r->easy);
        unlink_request(h, r);
        resp.elapsed_ms = util_mono_ms() - r->started_ms;
        if (msg->data.result == CURLE_OK) {
            resp.ok = 1;
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
            curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ctype);
            resp.content_type = ctype;
        } else {
            resp.error = r->too_large ? "response too large" : curl_easy_strerror(msg->data.result);
        }
        resp.body = r->buf ? r->buf : "";
        resp.len = r->len;
        r->fn(r->arg, &resp);
        request_free(r);
        done++;
    }
    return done;
}

int hc_active(const http_client *h)
{
    return h->active;
}

int hc_escape(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~';
        if (o + (plain ? 1 : 3) >= outlen)
            return -1;
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return 0;
}
