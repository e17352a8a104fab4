/*
 * sim_load: pool building and reporting around load_engine. See sim_load.h.
 *
 * Every request of the pool is complete HTTP bytes, signed and encrypted
 * before the run starts, so the client spends no crypto during the timed
 * run. Pool entries differ by MsgId (consecutive from a random 64-bit base),
 * nonce (random) and, for events, which have no MsgId, CreateTime (one
 * second apart, counting down from the base); they share the timestamp.
 * With --file every entry carries the same document (only the query
 * differs). The pool is cycled, so a run longer than the pool sends each
 * entry again: downstream dedup sees those as WeChat-style retries.
 */
#include "sim_load.h"

#include "load_engine.h"
#include "log.h"
#include "push_builder.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct target {
    struct sockaddr_storage sa;
    socklen_t salen;
    char authority[300]; /* Host header value */
    const char *path;    /* path and query of --url */
};

struct pool {
    struct le_request *reqs;
    size_t n;
};

static volatile sig_atomic_t g_stop; /* set by SIGINT/SIGTERM */

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int parse_target(const char *url, struct target *t, char *err, size_t errlen)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)&t->sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&t->sa;
    const char *auth, *slash;
    char hostport[310], host[256];
    size_t alen;
    unsigned port;

    memset(t, 0, sizeof(*t));
    if (strncmp(url, "http://", 7) != 0) {
        snprintf(err, errlen, "load needs an http:// URL");
        return -1;
    }
    auth = url + 7;
    slash = strchr(auth, '/');
    alen = slash ? (size_t)(slash - auth) : strlen(auth);
    t->path = slash ? slash : "/";
    if (alen == 0 || alen >= sizeof(t->authority)) {
        snprintf(err, errlen, "bad host in --url");
        return -1;
    }
    memcpy(t->authority, auth, alen);
    t->authority[alen] = '\0';
    /* "host" or "[v6]" without a port means port 80. */
    if (t->authority[alen - 1] == ']' || !strchr(t->authority, ':'))
        snprintf(hostport, sizeof(hostport), "%s:80", t->authority);
    else
        snprintf(hostport, sizeof(hostport), "%s", t->authority);
    if (util_parse_hostport(hostport, host, sizeof(host), &port) < 0 || port == 0) {
        snprintf(err, errlen, "bad host:port in --url");
        return -1;
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        t->salen = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        t->salen = sizeof(*v6);
    } else {
        snprintf(err, errlen, "load targets an IP literal or localhost, not '%.64s'", host);
        return -1;
    }
    return 0;
}

static void pool_free(struct pool *p)
{
    if (!p->reqs)
        return;
    for (size_t i = 0; i < p->n; i++)
        free((char *)p->reqs[i].data);
    free(p->reqs);
    p->reqs = NULL;
    p->n = 0;
}

/* The raw HTTP/1.1 bytes of one POST. */
static char *raw_request(const struct sim_opts *o, const struct target *t,
                         const struct pb_request *r, size_t *len)
{
    static const char fmt[] = "POST %s%s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Mozilla/4.0\r\n"
                              "Accept: */*\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n";
    const char *sep = strchr(t->path, '?') ? "&" : "?";
    const char *ctype = pb_content_type(o->format);
    int hl = snprintf(NULL, 0, fmt, t->path, sep, r->query, t->authority, ctype, r->body_len);
    char *buf;

    if (hl < 0 || !(buf = malloc((size_t)hl + r->body_len + 1)))
        return NULL;
    snprintf(buf, (size_t)hl + 1, fmt, t->path, sep, r->query, t->authority, ctype, r->body_len);
    memcpy(buf + hl, r->body, r->body_len);
    buf[(size_t)hl + r->body_len] = '\0';
    *len = (size_t)hl + r->body_len;
    return buf;
}

static int build_pool(const struct sim_opts *o, const struct target *t, struct pool *p, char *err,
                      size_t errlen)
{
    struct pb_params params;
    char *file_doc = NULL;
    size_t file_len = 0;
    /* Consecutive MsgIds from a random base in [2^62, 2^63 - 2^21): above 2^53, fits int64. */
    unsigned long long base = (1ULL << 62) + (sim_rand_u64() % ((1ULL << 62) - (1ULL << 21)));
    int rc = -1;

    p->n = 0;
    p->reqs = calloc((size_t)o->pool, sizeof(*p->reqs));
    if (!p->reqs) {
        snprintf(err, errlen, "out of memory for the pool");
        goto out;
    }
    if (o->file && sim_opts_document(o, &o->msg, &file_doc, &file_len, err, errlen) < 0)
        goto out;
    sim_opts_params(o, &params);
    for (size_t i = 0; i < (size_t)o->pool; i++) {
        struct pb_message m = o->msg;
        struct pb_request r;
        char msg_id[24], nonce[24], user[160], *doc = file_doc;
        size_t doc_len = file_len;
        char *raw;

        snprintf(msg_id, sizeof(msg_id), "%llu", base + i);
        m.msg_id = msg_id;
        if (m.type == PB_TYPE_USER_ENTER_TEMPSESSION)
            m.create_time -= (long long)i;
        if (o->users > 1) {
            /* Many users spread the load over partitions, as real traffic does. */
            snprintf(user, sizeof(user), "%s-%lld", o->msg.from, (long long)i % o->users);
            m.from = user;
            params.openid = user;
        }
        sim_rand_nonce(nonce, sizeof(nonce));
        params.nonce = nonce;
        if (!o->file && pb_document(&m, o->format, &doc, &doc_len) != PB_OK) {
            snprintf(err, errlen, "out of memory building the pool");
            goto out;
        }
        rc = pb_request_build(&params, doc, doc_len, &r, err, errlen);
        if (doc != file_doc)
            free(doc);
        if (rc != PB_OK) {
            rc = -1;
            goto out;
        }
        raw = raw_request(o, t, &r, &p->reqs[i].len);
        pb_request_free(&r);
        rc = -1;
        if (!raw) {
            snprintf(err, errlen, "out of memory building the pool");
            goto out;
        }
        p->reqs[i].data = raw;
        p->n = i + 1;
    }
    rc = 0;
out:
    free(file_doc);
    if (rc < 0)
        pool_free(p);
    return rc;
}

static double ms(int64_t us)
{
    return (double)us / 1000.0;
}

static void print_json(const struct sim_opts *o, const struct le_stats *s, double rps)
{
    const char *sep = "";

    printf("{\"requests\":%llu,\"ok\":%llu,\"non_success\":{", (unsigned long long)s->requests,
           (unsigned long long)s->ok);
    for (int k = 0; k < LE_STATUS_MAX; k++) {
        if (s->non_success[k]) {
            printf("%s\"%d\":%llu", sep, k, (unsigned long long)s->non_success[k]);
            sep = ",";
        }
    }
    printf("},\"non_success_total\":%llu,\"errors\":%llu,\"errors_by\":{",
           (unsigned long long)s->non_success_total, (unsigned long long)s->errors);
    sep = "";
    for (int k = 0; k < LE_ERR_COUNT; k++) {
        if (s->errors_by[k]) {
            printf("%s\"%s\":%llu", sep, le_err_name((enum le_err)k),
                   (unsigned long long)s->errors_by[k]);
            sep = ",";
        }
    }
    printf("},\"elapsed_s\":%.3f,\"rps\":%.1f,\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,"
           "\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f},\"connections\":%lld,\"threads\":%lld,"
           "\"pool\":%lld,\"connects\":%llu,\"mode\":\"%s\",\"format\":\"%s\",\"type\":\"%s\"}\n",
           s->elapsed_s, rps, ms(lat_hist_percentile(s->latency, 50)),
           ms(lat_hist_percentile(s->latency, 90)), ms(lat_hist_percentile(s->latency, 99)),
           ms(lat_hist_max(s->latency)), lat_hist_mean(s->latency) / 1000.0, o->concurrency,
           o->threads, o->pool, (unsigned long long)s->connects, pb_mode_name(o->mode),
           pb_format_name(o->format), pb_type_name(o->type));
}

static void print_text(const struct sim_opts *o, const struct le_stats *s, double rps)
{
    printf("target    %s (%s, %s, %s; %lld connections, %lld thread(s), pool %lld)\n", o->url,
           pb_mode_name(o->mode), pb_format_name(o->format), pb_type_name(o->type), o->concurrency,
           o->threads, o->pool);
    printf("requests  %llu: ok %llu, non-success %llu, errors %llu\n",
           (unsigned long long)s->requests, (unsigned long long)s->ok,
           (unsigned long long)s->non_success_total, (unsigned long long)s->errors);
    for (int k = 0; k < LE_STATUS_MAX; k++)
        if (s->non_success[k])
            printf("          status %d%s: %llu\n", k, k == 200 ? " (body not success)" : "",
                   (unsigned long long)s->non_success[k]);
    for (int k = 0; k < LE_ERR_COUNT; k++)
        if (s->errors_by[k])
            printf("          error %s: %llu\n", le_err_name((enum le_err)k),
                   (unsigned long long)s->errors_by[k]);
    printf("elapsed   %.3f s, %.1f responses/s\n", s->elapsed_s, rps);
    printf("latency   p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n",
           ms(lat_hist_percentile(s->latency, 50)), ms(lat_hist_percentile(s->latency, 90)),
           ms(lat_hist_percentile(s->latency, 99)), ms(lat_hist_max(s->latency)));
}

int sim_load_run(const struct sim_opts *o)
{
    struct target t;
    struct pool pool = {0};
    struct le_stats st = {0};
    struct le_config cfg;
    struct sigaction sa = {0}, old_int, old_term;
    char err[256], num[32], ms_s[32];
    int64_t t0;
    int rc = 2;
    double rps;

    err[0] = '\0';
    if (parse_target(o->url, &t, err, sizeof(err)) < 0)
        goto out;
    t0 = util_mono_ms();
    if (build_pool(o, &t, &pool, err, sizeof(err)) < 0)
        goto out;
    snprintf(num, sizeof(num), "%zu", pool.n);
    snprintf(ms_s, sizeof(ms_s), "%lld", (long long)(util_mono_ms() - t0));
    log_event(LOG_INFO, "pool_built", "#requests", num, "#ms", ms_s, NULL);

    cfg = (struct le_config){
        .addr = (const struct sockaddr *)&t.sa,
        .addrlen = t.salen,
        .reqs = pool.reqs,
        .nreqs = pool.n,
        .connections = (unsigned)o->concurrency,
        .threads = (unsigned)o->threads,
        .duration_us = o->duration_s * 1000000LL,
        .max_requests = (uint64_t)o->max_requests,
        .timeout_us = o->timeout_ms * 1000LL,
        .ok_body = "success",
        .stop = &g_stop,
    };
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rc = le_run(&cfg, &st, err, sizeof(err));
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (rc < 0) {
        rc = 1;
        goto out;
    }
    rps = st.elapsed_s > 0 ? (double)(st.ok + st.non_success_total) / st.elapsed_s : 0.0;
    if (o->json)
        print_json(o, &st, rps);
    else
        print_text(o, &st, rps);
    fflush(stdout);
    rc = (st.requests > 0 && st.ok == st.requests) ? 0 : 1;
out:
    if (err[0])
        fprintf(stderr, "wxbridge-sim load: %s\n", err);
    le_stats_free(&st);
    pool_free(&pool);
    return rc;
}
