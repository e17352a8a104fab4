/*
 * ops_http: /healthz, /readyz and /metrics. See ops_http.h.
 */
#include "ops_http.h"

#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ops_http {
    struct ops_http_conf conf;
    struct MHD_Daemon *d;
};

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *text,
                             const char *type, int add_close)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (add_close)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

int ops_http_handle(const struct ops_http_conf *conf, struct MHD_Connection *c, const char *url,
                    int add_close, enum MHD_Result *ret)
{
    if (strcmp(url, "/healthz") == 0) {
        *ret = reply(c, 200, "ok\n", "text/plain", add_close);
    } else if (strcmp(url, "/readyz") == 0) {
        char body[512] = "{\"ready\":true}";
        size_t n;
        int ok = conf->ready ? conf->ready(conf->arg, body, sizeof(body) - 1) : 1;
        n = strnlen(body, sizeof(body) - 2); /* one byte was kept for the newline */
        body[n] = '\n';
        body[n + 1] = '\0';
        *ret = reply(c, ok ? 200 : 503, body, "application/json", add_close);
    } else if (strcmp(url, "/metrics") == 0 && conf->metrics) {
        char *text = metrics_render(conf->metrics);
        if (!text) {
            *ret = reply(c, 500, "cannot render metrics\n", "text/plain", add_close);
            return 1;
        }
        *ret = reply(c, 200, text, "text/plain; version=0.0.4", add_close);
        free(text);
    } else {
        return 0;
    }
    return 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    ops_http *o = cls;
    enum MHD_Result ret;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(method, "GET") == 0 && ops_http_handle(&o->conf, c, url, 0, &ret))
        return ret;
    return reply(c, 404, "not found\n", "text/plain", 0);
}

int ops_http_parse_listen(const char *listen, struct sockaddr_in *sa)
{
    char host[64];
    unsigned port;

    memset(sa, 0, sizeof(*sa));
    if (util_parse_hostport(listen, host, sizeof(host), &port) < 0 ||
        inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &sa->sin_addr) != 1)
        return -1;
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return 0;
}

int ops_http_start(const char *listen, const struct ops_http_conf *conf, ops_http **out, char *url,
                   size_t urllen, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;
    ops_http *o;

    *out = NULL;
    if (ops_http_parse_listen(listen, &sa) < 0) {
        snprintf(err, errlen, "listen address \"%s\" must be IPv4:PORT", listen);
        return -1;
    }
    o = calloc(1, sizeof(*o));
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    o->conf = *conf;
    o->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
                            on_request, o, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    if (!o->d) {
        snprintf(err, errlen, "cannot listen on %s", listen);
        free(o);
        return -1;
    }
    info = MHD_get_daemon_info(o->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(url, urllen, "http://%s:%u", inet_ntoa(sa.sin_addr),
             info ? info->port : ntohs(sa.sin_port));
    *out = o;
    return 0;
}

void ops_http_stop(ops_http *o)
{
    if (!o)
        return;
    MHD_stop_daemon(o->d);
    free(o);
}
