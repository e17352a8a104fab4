/*
 * ceiling_server: a libmicrohttpd daemon that answers 200 "success" to every
 * request after reading its body. See ceiling_server.h.
 *
 * The daemon flags and options below must stay identical to the ingress's
 * (internal polling thread pool, epoll, suspend/resume, 4096 connections,
 * 30 s idle timeout, backlog 1024): the point of the ceiling is to run the
 * same MHD machinery with an empty handler.
 */
#include "ceiling_server.h"

#include "mhd_tuning.h"
#include "util.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CEILING_BODY "success"

struct ceiling_server {
    struct MHD_Daemon *daemon;
    struct MHD_Response *success; /* shared by every connection (MHD refcounts it) */
    _Atomic unsigned long long requests;
    char url[128];
};

/* Marks a request whose first handler call has been seen. */
static int g_started_marker;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct ceiling_server *s = cls;

    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    /* MHD calls the handler once with the headers, then once per body chunk,
     * then once more with no data: only the last call may queue the answer. */
    if (*req_cls == NULL) {
        *req_cls = &g_started_marker;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0; /* "read" the chunk */
        return MHD_YES;
    }
    atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
    return MHD_queue_response(conn, MHD_HTTP_OK, s->success);
}

/* Resolves HOST (numeric or "localhost") and PORT into SA; returns its length or 0. */
static socklen_t make_sockaddr(const char *host, unsigned port, struct sockaddr_storage *sa,
                               int *is_v6)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;

    memset(sa, 0, sizeof(*sa));
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *is_v6 = 0;
        return sizeof(*v4);
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *is_v6 = 1;
        return sizeof(*v6);
    }
    return 0;
}

int ceiling_server_start(const char *listen, unsigned threads, ceiling_server **out, char *err,
                         size_t errlen)
{
    struct ceiling_server *s = NULL;
    struct sockaddr_storage sa;
    char host[64];
    unsigned port;
    int is_v6 = 0, rc = -1;
    unsigned flags = WXB_MHD_FLAGS;
    const union MHD_DaemonInfo *info;

    *out = NULL;
    if (threads < 1 || threads > 256) {
        snprintf(err, errlen, "threads must be 1..256");
        goto out;
    }
    if (util_parse_hostport(listen, host, sizeof(host), &port) < 0 ||
        make_sockaddr(host, port, &sa, &is_v6) == 0) {
        snprintf(err, errlen, "bad listen address '%s' (want IPv4:port or [IPv6]:port)", listen);
        goto out;
    }
    if (is_v6)
        flags |= MHD_USE_IPv6;
    s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    s->success = MHD_create_response_from_buffer(strlen(CEILING_BODY), (void *)CEILING_BODY,
                                                 MHD_RESPMEM_PERSISTENT);
    if (!s->success) {
        snprintf(err, errlen, "MHD_create_response_from_buffer failed");
        goto out;
    }
    MHD_add_response_header(s->success, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    s->daemon =
        MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, threads,
                         WXB_MHD_COMMON_OPTIONS, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, errlen, "MHD_start_daemon failed on %s (address in use?)", listen);
        goto out;
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || info->port == 0) {
        snprintf(err, errlen, "cannot read the bound port back");
        goto out;
    }
    /* A wildcard bind is reachable on loopback: advertise that. */
    if (strcmp(host, "0.0.0.0") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    else if (strcmp(host, "::") == 0)
        snprintf(host, sizeof(host), "::1");
    snprintf(s->url, sizeof(s->url), is_v6 ? "http://[%s]:%u" : "http://%s:%u",
             strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, (unsigned)info->port);
    *out = s;
    s = NULL;
    rc = 0;
out:
    ceiling_server_stop(s);
    return rc;
}

const char *ceiling_server_url(const ceiling_server *s)
{
    return s->url;
}

unsigned long long ceiling_server_requests(const ceiling_server *s)
{
    return atomic_load_explicit(&s->requests, memory_order_relaxed);
}

void ceiling_server_stop(ceiling_server *s)
{
    if (!s)
        return;
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    if (s->success)
        MHD_destroy_response(s->success);
    free(s);
}
