/*
 * sim_push: one push (or URL check) over libcurl's easy interface. See
 * sim_push.h.
 */
#include "sim_push.h"

#include "push_builder.h"
#include "util.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keep at most this much of a response body (the rest is counted, not stored). */
#define RESP_KEEP (64 * 1024)

struct resp {
    char buf[RESP_KEEP + 1];
    size_t len, total;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct resp *r = ud;
    size_t n = size * nmemb;
    size_t take = n < RESP_KEEP - r->len ? n : RESP_KEEP - r->len;

    memcpy(r->buf + r->len, data, take);
    r->len += take;
    r->buf[r->len] = '\0';
    r->total += n;
    return n;
}

/* Splits URL into its host[:port] and path parts (for --print-request). */
static void url_parts(const char *url, char *host, size_t hostlen, const char **path)
{
    const char *h = strstr(url, "://");
    const char *slash;

    h = h ? h + 3 : url;
    slash = strchr(h, '/');
    *path = slash ? slash : "/";
    snprintf(host, hostlen, "%.*s", (int)(slash ? (size_t)(slash - h) : strlen(h)), h);
}

static void print_request(const struct sim_opts *o, const char *query, const char *body,
                          size_t body_len)
{
    char host[256];
    const char *path;

    url_parts(o->url, host, sizeof(host), &path);
    printf("%s %s%s%s HTTP/1.1\r\nHost: %s\r\n", o->verify ? "GET" : "POST", path,
           strchr(path, '?') ? "&" : "?", query, host);
    if (!o->verify) {
        printf("Content-Type: %s\r\nContent-Length: %zu\r\n\r\n", pb_content_type(o->format),
               body_len);
        fwrite(body, 1, body_len, stdout);
        fputs("\n", stdout);
    } else {
        fputs("\r\n", stdout);
    }
    fflush(stdout);
}

/* Prints one result line; returns 1 when the answer is the expected one. */
static int report(CURLcode cc, long status, const struct resp *r, double ms, const char *expect)
{
    char *body = NULL;
    int ok = 0;

    if (cc != CURLE_OK) {
        char *e = pb_json_quote(curl_easy_strerror(cc), strlen(curl_easy_strerror(cc)));
        printf("{\"status\":0,\"error\":%s,\"ms\":%.3f}\n", e ? e : "\"?\"", ms);
        free(e);
        goto out;
    }
    ok = status == 200 && r->total == strlen(expect) && strcmp(r->buf, expect) == 0;
    body = pb_json_quote(r->buf, r->len);
    printf("{\"status\":%ld,\"body\":%s,\"ms\":%.3f%s}\n", status, body ? body : "\"\"", ms,
           r->total > r->len ? ",\"body_truncated\":true" : "");
out:
    fflush(stdout);
    free(body);
    return ok;
}

int sim_push_run(const struct sim_opts *o)
{
    struct pb_message msg = o->msg;
    struct pb_params params;
    struct pb_request req = {0};
    struct curl_slist *hdrs = NULL;
    struct resp *r = NULL;
    CURL *c = NULL;
    char *doc = NULL, *query = NULL, *url = NULL;
    size_t doc_len = 0, url_len;
    char err[256], echostr[24], ctype[64];
    const char *expect = "success";
    int rc = 2, all_ok = 1;

    if (o->verify) {
        snprintf(echostr, sizeof(echostr), "%llu", (unsigned long long)(sim_rand_u64() >> 1));
        expect = echostr;
        if (pb_verify_query(o->token, o->timestamp, o->nonce, echostr, o->corrupt, &query) !=
            PB_OK) {
            fprintf(stderr, "wxbridge-sim: out of memory\n");
            goto out;
        }
    } else {
        sim_opts_params(o, &params);
        if (sim_opts_document(o, &msg, &doc, &doc_len, err, sizeof(err)) < 0 ||
            pb_request_build(&params, doc, doc_len, &req, err, sizeof(err)) != PB_OK) {
            fprintf(stderr, "wxbridge-sim: %s\n", err);
            goto out;
        }
        query = req.query;
        req.query = NULL;
    }
    if (o->print_request)
        print_request(o, query, req.body, req.body_len);

    rc = 1;
    url_len = strlen(o->url) + strlen(query) + 2;
    url = malloc(url_len);
    r = malloc(sizeof(*r));
    c = curl_easy_init();
    if (!url || !r || !c) {
        fprintf(stderr, "wxbridge-sim: out of memory\n");
        goto out;
    }
    snprintf(url, url_len, "%s%s%s", o->url, strchr(o->url, '?') ? "&" : "?", query);
    snprintf(ctype, sizeof(ctype), "Content-Type: %s", pb_content_type(o->format));
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (!o->verify)
        hdrs = curl_slist_append(hdrs, ctype);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "Mozilla/4.0");
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    if (!o->verify) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req.body_len);
    }
    for (long long i = 0; i < o->count; i++) {
        long status = 0;
        int64_t t0 = util_mono_us();
        CURLcode cc;

        r->len = r->total = 0;
        r->buf[0] = '\0';
        cc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (!report(cc, status, r, (double)(util_mono_us() - t0) / 1000.0, expect))
            all_ok = 0;
    }
    rc = all_ok ? 0 : 1;
out:
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    free(r);
    free(url);
    free(query);
    free(doc);
    pb_request_free(&req);
    return rc;
}
