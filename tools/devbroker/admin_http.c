/*
 * admin_http: fault-injection endpoint of the devbroker. See admin_http.h.
 *
 * Each request is routed on its path segments to one small handler that
 * fills a struct reply (status, JSON body, optional Allow header); one place
 * turns that into the HTTP response and logs it.
 */
#include "admin_http.h"

#include "log.h"
#include "mock_cluster.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

#define ADMIN_PATH_MAX    512
#define ADMIN_SEGS_MAX    4
#define ADMIN_CONN_MAX    64
#define ADMIN_TIMEOUT_S   10
#define ADMIN_HOST_MAX    64
#define ADMIN_URL_MAX     128
#define ADMIN_ERRTEXT_MAX 256

struct admin_http {
    struct MHD_Daemon *daemon;
    struct mock_cluster *mc;
    int default_partitions;
    char url[ADMIN_URL_MAX];
};

struct reply {
    unsigned status;
    json_t *body;      /* owned */
    const char *allow; /* Allow header for 405, or NULL */
};

static void ok(struct reply *r, json_t *body)
{
    r->status = MHD_HTTP_OK;
    r->body = body;
}

static void fail(struct reply *r, unsigned status, const char *msg)
{
    r->status = status;
    r->body = json_pack("{s:s}", "error", msg);
}

static void wrong_method(struct reply *r, const char *allow)
{
    fail(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    r->allow = allow;
}

/* Turns a mock_cluster error code into a status; MSG says what went wrong. */
static void fail_rc(struct reply *r, int rc, const char *msg)
{
    unsigned status = MHD_HTTP_INTERNAL_SERVER_ERROR;

    if (rc == -EINVAL)
        status = MHD_HTTP_BAD_REQUEST;
    else if (rc == -ENOENT)
        status = MHD_HTTP_NOT_FOUND;
    else if (rc == -EEXIST)
        status = MHD_HTTP_CONFLICT;
    fail(r, status, msg);
}

/*
 * Reads query argument NAME as an integer in [MIN, MAX]. A missing argument
 * gives DEF when OPTIONAL, else an error. Returns 0, or -1 with R filled in.
 */
static int query_int(struct MHD_Connection *conn, const char *name, int optional, long long def,
                     long long min, long long max, long long *out, struct reply *r)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
    char msg[ADMIN_ERRTEXT_MAX];

    if (!v && optional) {
        *out = def;
        return 0;
    }
    if (!v) {
        snprintf(msg, sizeof(msg), "missing query parameter %s", name);
        fail(r, MHD_HTTP_BAD_REQUEST, msg);
        return -1;
    }
    if (util_parse_ll(v, min, max, out) < 0) {
        snprintf(msg, sizeof(msg), "%s must be an integer between %lld and %lld", name, min, max);
        fail(r, MHD_HTTP_BAD_REQUEST, msg);
        return -1;
    }
    return 0;
}

static void route_healthz(struct admin_http *ah, const char *method, struct reply *r)
{
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        wrong_method(r, "GET, HEAD");
        return;
    }
    ok(r, json_pack("{s:s,s:s,s:i}", "status", "ok", "bootstrap", mock_cluster_bootstrap(ah->mc),
                    "brokers", mock_cluster_broker_count(ah->mc)));
}

/* /brokers/<id|all>/<down|up|rtt> */
static void route_brokers(struct admin_http *ah, struct MHD_Connection *conn, const char *method,
                          char **seg, struct reply *r)
{
    char msg[ADMIN_ERRTEXT_MAX] = "";
    long long id = MOCK_CLUSTER_ALL_BROKERS, ms = 0;
    const char *action = seg[2];
    int rc;

    if (strcmp(action, "down") != 0 && strcmp(action, "up") != 0 && strcmp(action, "rtt") != 0) {
        fail(r, MHD_HTTP_NOT_FOUND, "not found");
        return;
    }
    if (strcmp(method, "POST") != 0) {
        wrong_method(r, "POST");
        return;
    }
    if (strcmp(seg[1], "all") != 0 && util_parse_ll(seg[1], 0, INT32_MAX, &id) < 0) {
        fail(r, MHD_HTTP_BAD_REQUEST, "broker must be a number or \"all\"");
        return;
    }
    if (action[0] == 'd') {
        rc = mock_cluster_broker_down(ah->mc, (int)id, msg, sizeof(msg));
    } else if (action[0] == 'u') {
        rc = mock_cluster_broker_up(ah->mc, (int)id, msg, sizeof(msg));
    } else {
        if (query_int(conn, "ms", 0, 0, 0, MOCK_CLUSTER_RTT_MAX_MS, &ms, r) < 0)
            return;
        rc = mock_cluster_broker_rtt(ah->mc, (int)id, (int)ms, msg, sizeof(msg));
    }
    if (rc) {
        fail_rc(r, rc, msg);
        return;
    }
    ok(r, json_pack("{s:s,s:s,s:s}", "status", "ok", "broker", seg[1], "action", action));
    if (action[0] == 'r')
        json_object_set_new(r->body, "rtt_ms", json_integer(ms));
}

/* /topics/<name> and /topics/<name>/error */
static void route_topics(struct admin_http *ah, struct MHD_Connection *conn, const char *method,
                         char **seg, int nseg, struct reply *r)
{
    char msg[ADMIN_ERRTEXT_MAX] = "";
    long long n;
    int rc;

    if (nseg == 3 && strcmp(seg[2], "error") != 0) {
        fail(r, MHD_HTTP_NOT_FOUND, "not found");
        return;
    }
    if (strcmp(method, "POST") != 0) {
        wrong_method(r, "POST");
        return;
    }
    if (nseg == 2) {
        if (query_int(conn, "partitions", 1, ah->default_partitions, 1, MOCK_CLUSTER_PARTITIONS_MAX,
                      &n, r) < 0)
            return;
        rc = mock_cluster_topic_create(ah->mc, seg[1], (int)n, msg, sizeof(msg));
        if (rc == 0)
            ok(r, json_pack("{s:s,s:s,s:I}", "status", "ok", "topic", seg[1], "partitions",
                            (json_int_t)n));
    } else {
        if (query_int(conn, "code", 0, 0, INT16_MIN, INT16_MAX, &n, r) < 0)
            return;
        rc = mock_cluster_topic_error(ah->mc, seg[1], (int)n, msg, sizeof(msg));
        if (rc == 0)
            ok(r,
               json_pack("{s:s,s:s,s:I}", "status", "ok", "topic", seg[1], "code", (json_int_t)n));
    }
    if (rc)
        fail_rc(r, rc, msg);
}

/* /request-errors: POST pushes errors, DELETE clears them. */
static void route_request_errors(struct admin_http *ah, struct MHD_Connection *conn,
                                 const char *method, struct reply *r)
{
    char msg[ADMIN_ERRTEXT_MAX] = "";
    long long api, code, count;
    int rc;

    if (strcmp(method, "POST") != 0 && strcmp(method, "DELETE") != 0) {
        wrong_method(r, "POST, DELETE");
        return;
    }
    if (query_int(conn, "api", 0, 0, 0, INT16_MAX, &api, r) < 0)
        return;
    if (method[0] == 'D') {
        rc = mock_cluster_clear_request_errors(ah->mc, (int)api, msg, sizeof(msg));
        if (rc == 0)
            ok(r, json_pack("{s:s,s:I}", "status", "ok", "api", (json_int_t)api));
    } else {
        if (query_int(conn, "code", 0, 0, INT16_MIN, INT16_MAX, &code, r) < 0 ||
            query_int(conn, "count", 1, 1, 1, MOCK_CLUSTER_ERRCOUNT_MAX, &count, r) < 0)
            return;
        rc = mock_cluster_request_errors(ah->mc, (int)api, (int)code, (int)count, msg, sizeof(msg));
        if (rc == 0)
            ok(r, json_pack("{s:s,s:I,s:I,s:I}", "status", "ok", "api", (json_int_t)api, "code",
                            (json_int_t)code, "count", (json_int_t)count));
    }
    if (rc)
        fail_rc(r, rc, msg);
}

static void route(struct admin_http *ah, struct MHD_Connection *conn, const char *url,
                  const char *method, struct reply *r)
{
    char path[ADMIN_PATH_MAX];
    char *seg[ADMIN_SEGS_MAX];
    int nseg = 0;
    char *p;

    if (url[0] != '/' || strlen(url) >= sizeof(path)) {
        fail(r, MHD_HTTP_NOT_FOUND, "not found");
        return;
    }
    memcpy(path, url + 1, strlen(url));
    /* Split on '/'. Empty segments stay, so "/healthz/" does not match; a
     * path deeper than ADMIN_SEGS_MAX gets nseg 0 and matches nothing. */
    for (p = path;;) {
        char *slash = strchr(p, '/');
        if (nseg == ADMIN_SEGS_MAX) {
            nseg = 0;
            break;
        }
        seg[nseg++] = p;
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
    }

    if (nseg == 1 && strcmp(seg[0], "healthz") == 0)
        route_healthz(ah, method, r);
    else if (nseg == 3 && strcmp(seg[0], "brokers") == 0 && seg[1][0])
        route_brokers(ah, conn, method, seg, r);
    else if ((nseg == 2 || nseg == 3) && strcmp(seg[0], "topics") == 0 && seg[1][0])
        route_topics(ah, conn, method, seg, nseg, r);
    else if (nseg == 1 && strcmp(seg[0], "request-errors") == 0)
        route_request_errors(ah, conn, method, r);
    else
        fail(r, MHD_HTTP_NOT_FOUND, "not found");
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct reply *r)
{
    struct MHD_Response *resp = NULL;
    enum MHD_Result ret = MHD_NO;
    char *text = NULL;

    if (!r->body) /* json_pack failed: out of memory */
        goto out;
    text = json_dumps(r->body, JSON_COMPACT);
    if (!text)
        goto out;
    resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        goto out;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    ret = MHD_queue_response(conn, r->status, resp);
out:
    if (resp)
        MHD_destroy_response(resp);
    free(text);
    json_decref(r->body);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    static int seen; /* marks "headers already seen" for this request */
    struct admin_http *ah = cls;
    struct reply r = {0, NULL, NULL};
    char status[16];

    (void)version;
    (void)upload_data;
    /* MHD calls once after the headers, then per body chunk, then once more;
     * answer on that last call. Bodies are ignored (not buffered). */
    if (*con_cls == NULL) {
        *con_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    route(ah, conn, url, method, &r);
    snprintf(status, sizeof(status), "%u", r.status);
    log_event(r.status < 400 ? LOG_INFO : LOG_WARN, "admin_request", "method", method, "path", url,
              "#status", status, NULL);
    return send_reply(conn, &r);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    size_t n;

    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n')
        buf[n - 1] = '\0';
    log_event(LOG_WARN, "admin_http_log", "message", buf, NULL);
}

/*
 * Turns LISTEN into a socket address in SS and its host part in HOST. Only
 * IP literals (and "localhost") are accepted, so exactly that address is
 * bound. Returns 0, or -EINVAL with ERR filled in.
 */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, char *host, size_t hostlen,
                        char *err, size_t errlen)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    unsigned port;

    memset(ss, 0, sizeof(*ss));
    if (util_parse_hostport(listen, host, hostlen, &port) < 0) {
        snprintf(err, errlen, "admin listen address \"%.64s\" is not HOST:PORT", listen);
        return -EINVAL;
    }
    if (strcmp(host, "localhost") == 0 || inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        if (strcmp(host, "localhost") == 0)
            sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    snprintf(err, errlen, "admin listen host \"%.64s\" must be an IP address or localhost", host);
    return -EINVAL;
}

int admin_http_check_listen(const char *listen, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    char host[ADMIN_HOST_MAX];

    return parse_listen(listen, &ss, host, sizeof(host), err, errlen);
}

int admin_http_start(const char *listen, struct mock_cluster *mc, int default_partitions,
                     struct admin_http **out, char *err, size_t errlen)
{
    struct admin_http *ah = NULL;
    struct sockaddr_storage ss;
    char host[ADMIN_HOST_MAX];
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;
    int v6, rc;

    *out = NULL;
    rc = parse_listen(listen, &ss, host, sizeof(host), err, errlen);
    if (rc)
        goto out;
    v6 = ss.ss_family == AF_INET6;
    if (v6)
        flags |= MHD_USE_IPv6;

    ah = calloc(1, sizeof(*ah));
    if (!ah) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    ah->mc = mc;
    ah->default_partitions = default_partitions;
    /* The logger goes first, or MHD prints some lines through its own. */
    ah->daemon =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, ah, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                         NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)ADMIN_CONN_MAX,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ADMIN_TIMEOUT_S, MHD_OPTION_END);
    if (!ah->daemon) {
        snprintf(err, errlen, "cannot listen on %s", listen);
        rc = -EIO;
        goto out;
    }
    info = MHD_get_daemon_info(ah->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || info->port == 0) {
        snprintf(err, errlen, "cannot read the bound port of %s", listen);
        rc = -EIO;
        goto out;
    }
    /* "localhost" was bound as 127.0.0.1; say so, clients may try ::1 first. */
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    snprintf(ah->url, sizeof(ah->url), v6 ? "http://[%s]:%u" : "http://%s:%u", host,
             (unsigned)info->port);
    *out = ah;
    ah = NULL;
out:
    admin_http_stop(ah);
    return rc;
}

const char *admin_http_url(const struct admin_http *ah)
{
    return ah->url;
}

void admin_http_stop(struct admin_http *ah)
{
    if (!ah)
        return;
    if (ah->daemon)
        MHD_stop_daemon(ah->daemon);
    free(ah);
}
