/*
 * sim_opts: flag table and parsing for wxbridge-sim. See sim_opts.h.
 */
#include "sim_opts.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

enum flag_id {
    F_URL = 256,
    F_TOKEN,
    F_AES_KEY,
    F_APPID,
    F_MODE,
    F_FORMAT,
    F_TYPE,
    F_FILE,
    F_FROM,
    F_TO,
    F_CONTENT,
    F_MSG_ID,
    F_CREATE_TIME,
    F_SESSION_FROM,
    F_PIC_URL,
    F_MEDIA_ID,
    F_TITLE,
    F_MP_APPID,
    F_PAGE_PATH,
    F_THUMB_URL,
    F_THUMB_MEDIA_ID,
    F_TIMESTAMP,
    F_NONCE,
    F_COUNT,
    F_BAD_SIGNATURE,
    F_BAD_MSG_SIGNATURE,
    F_VERIFY,
    F_PRINT_REQUEST,
    F_TIMEOUT_MS,
    F_CONCURRENCY,
    F_DURATION,
    F_MAX_REQUESTS,
    F_POOL,
    F_USERS,
    F_THREADS,
    F_JSON,
    F_LISTEN,
    F_READY_FILE,
    F_CONFIG,
    F_CHECK_CONFIG,
    F_LOG_LEVEL,
    F_HELP,
};

#define BOTH (SIM_CMD_PUSH | SIM_CMD_LOAD)
#define PUSH SIM_CMD_PUSH
#define LOAD SIM_CMD_LOAD
#define API  SIM_CMD_API

struct flag {
    const char *name;
    const char *arg; /* NULL: no argument */
    unsigned cmds;
    int id;
    const char *help;
};

static const struct flag flags[] = {
    {"url", "URL", BOTH, F_URL,
     "app URL, e.g. http://127.0.0.1:8080/wx/wxba5fad812f8e6fb9 (required)"},
    {"token", "T", BOTH, F_TOKEN, "the app's Token (required)"},
    {"aes-key", "K", BOTH, F_AES_KEY, "EncodingAESKey, 43 chars (needed by compat/safe)"},
    {"appid", "A", BOTH, F_APPID, "AppID (default: last segment of the URL path)"},
    {"mode", "M", BOTH, F_MODE, "plain|compat|safe (default plain)"},
    {"format", "F", BOTH, F_FORMAT, "xml|json (default xml)"},
    {"type", "T", BOTH, F_TYPE, "text|image|miniprogrampage|user_enter_tempsession (default text)"},
    {"file", "PATH", BOTH, F_FILE, "send this file's bytes as the plaintext document"},
    {"from", "OPENID", BOTH, F_FROM,
     "FromUserName and query openid (default o9AgO5Kd5ggOC-bXrbNODIiE3bGY)"},
    {"to", "GHID", BOTH, F_TO, "ToUserName (default gh_97417a04a28d)"},
    {"content", "TEXT", BOTH, F_CONTENT, "text: Content (default hello)"},
    {"msg-id", "N", PUSH, F_MSG_ID,
     "MsgId (default random 64-bit; non-numeric is sent as a string)"},
    {"create-time", "N", BOTH, F_CREATE_TIME, "CreateTime (default now)"},
    {"session-from", "S", BOTH, F_SESSION_FROM, "user_enter_tempsession: SessionFrom"},
    {"pic-url", "URL", BOTH, F_PIC_URL, "image: PicUrl"},
    {"media-id", "ID", BOTH, F_MEDIA_ID, "image: MediaId"},
    {"title", "S", BOTH, F_TITLE, "miniprogrampage: Title"},
    {"mp-appid", "A", BOTH, F_MP_APPID, "miniprogrampage: AppId (default the --appid)"},
    {"page-path", "S", BOTH, F_PAGE_PATH, "miniprogrampage: PagePath"},
    {"thumb-url", "URL", BOTH, F_THUMB_URL, "miniprogrampage: ThumbUrl"},
    {"thumb-media-id", "ID", BOTH, F_THUMB_MEDIA_ID, "miniprogrampage: ThumbMediaId"},
    {"timestamp", "N", BOTH, F_TIMESTAMP, "query timestamp (default now)"},
    {"nonce", "N", PUSH, F_NONCE, "query nonce (default 10 random digits)"},
    {"count", "N", PUSH, F_COUNT,
     "send the identical request N times, like WeChat's retries (default 1)"},
    {"bad-signature", NULL, BOTH, F_BAD_SIGNATURE,
     "corrupt signature (and msg_signature in compat/safe)"},
    {"bad-msg-signature", NULL, BOTH, F_BAD_MSG_SIGNATURE,
     "corrupt only msg_signature (compat/safe)"},
    {"verify", NULL, PUSH, F_VERIFY, "do the GET URL check with a random echostr instead"},
    {"print-request", NULL, PUSH, F_PRINT_REQUEST,
     "print the request line, headers and body first"},
    {"timeout-ms", "N", BOTH, F_TIMEOUT_MS, "per-request timeout (default 5000)"},
    {"concurrency", "N", LOAD, F_CONCURRENCY, "keep-alive connections (default 64)"},
    {"duration", "S", LOAD, F_DURATION,
     "seconds to run, 1..600 (default 10; 600 with --max-requests)"},
    {"max-requests", "N", LOAD, F_MAX_REQUESTS, "stop after N requests"},
    {"pool", "N", LOAD, F_POOL,
     "distinct pre-built requests, each with its own MsgId (default 1024)"},
    {"users", "N", LOAD, F_USERS,
     "spread the pool over N openids, <from>-0 .. <from>-(N-1) (default 1: just --from)"},
    {"threads", "N", LOAD | API, F_THREADS,
     "load: client threads (default 1); api: HTTP worker threads (default 2)"},
    {"json", NULL, LOAD, F_JSON, "print the summary as one JSON object"},
    {"listen", "HOST:PORT", API, F_LISTEN,
     "address to serve on (default: the config's \"listen\", else 127.0.0.1:0)"},
    {"ready-file", "PATH", API, F_READY_FILE,
     "write the base URL http://127.0.0.1:PORT there once listening"},
    {"config", "FILE", API, F_CONFIG, "JSON config: apps, token/media settings, faults"},
    {"check-config", NULL, API, F_CHECK_CONFIG,
     "validate --config, print every problem, exit 0 or 1"},
    {"log-level", "L", API, F_LOG_LEVEL, "debug|info|warn|error (default info; debug: every call)"},
    {"help", NULL, BOTH | API, F_HELP, "this text"},
};

#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

void sim_opts_usage(enum sim_cmd cmd, FILE *f)
{
    if (cmd == SIM_CMD_PUSH)
        fputs("usage: wxbridge-sim push --url URL --token T [flags]\n"
              "Sends one signed (and encrypted) push exactly as WeChat does and prints one JSON\n"
              "line per response: {\"status\":200,\"body\":\"success\",\"ms\":1.2}. Exit 0 when "
              "every\n"
              "answer is 200 \"success\" (the echostr for --verify), 1 otherwise, 2 on usage "
              "error.\n\n",
              f);
    else if (cmd == SIM_CMD_API)
        fputs(
            "usage: wxbridge-sim api [--listen 127.0.0.1:0] [--ready-file PATH] [--config FILE]\n"
            "Serves a fake of the WeChat customer-service API (stable_token, token,\n"
            "message/custom/send and typing, media/upload and get) with fault injection,\n"
            "a calls log and counters under /_sim/ (see tools/sim/README.md). Runs until\n"
            "SIGTERM/SIGINT. Exit 0 after a clean stop, 1 on a start error, 2 on usage error.\n\n",
            f);
    else
        fputs("usage: wxbridge-sim load --url URL --token T [flags]\n"
              "Pushes pre-built, pre-signed requests over keep-alive connections (epoll,\n"
              "HTTP/1.1) and prints requests, ok, non-success by status, errors, rps and\n"
              "latency percentiles. Exit 0 when every request got 200 \"success\", 1 otherwise,\n"
              "2 on usage error. Only point it at servers on this machine.\n\n",
              f);
    for (size_t i = 0; i < NFLAGS; i++) {
        char left[48];
        if (!(flags[i].cmds & cmd))
            continue;
        snprintf(left, sizeof(left), "--%s%s%s", flags[i].name, flags[i].arg ? " " : "",
                 flags[i].arg ? flags[i].arg : "");
        fprintf(f, "  %-24s %s\n", left, flags[i].help);
    }
}

uint64_t sim_rand_u64(void)
{
    uint64_t v = 0;
    /* getrandom() for <= 256 bytes does not return short once the pool is up. */
    if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
        v = (uint64_t)util_mono_us() * 6364136223846793005ULL + 1442695040888963407ULL;
    return v;
}

void sim_rand_msg_id(char *out, size_t outlen)
{
    snprintf(out, outlen, "%llu", (unsigned long long)((sim_rand_u64() >> 2) | (1ULL << 62)));
}

void sim_rand_nonce(char *out, size_t outlen)
{
    snprintf(out, outlen, "%llu",
             1000000000ULL + (unsigned long long)(sim_rand_u64() % 9000000000ULL));
}

/* Range-checked integer flag. */
static int num_flag(const char *name, const char *v, long long min, long long max, long long *out,
                    char *err, size_t errlen)
{
    if (util_parse_ll(v, min, max, out) == 0)
        return 0;
    snprintf(err, errlen, "--%s: want an integer in %lld..%lld, got '%s'", name, min, max, v);
    return -1;
}

/* The last non-empty segment of the URL's path ("/wx/<appid>" by default), or "". */
static void appid_from_url(const char *url, char *out, size_t outlen)
{
    const char *p = strstr(url, "://");
    const char *end, *seg;

    out[0] = '\0';
    if (!p)
        return;
    p = strchr(p + 3, '/');
    if (!p)
        return;
    end = p + strcspn(p, "?#");
    while (end > p && end[-1] == '/')
        end--;
    seg = end;
    while (seg > p && seg[-1] != '/')
        seg--;
    if (end > seg && (size_t)(end - seg) < outlen) {
        memcpy(out, seg, (size_t)(end - seg));
        out[end - seg] = '\0';
    }
}

/* Applies one parsed flag; returns 0 or -1 with ERR set. */
static int apply(struct sim_opts *o, int id, const char *v, char *err, size_t errlen)
{
    long long n;

    switch (id) {
    case F_URL:
        o->url = v;
        break;
    case F_TOKEN:
        o->token = v;
        break;
    case F_AES_KEY:
        o->aes_key = v;
        break;
    case F_APPID:
        if (!*v || strlen(v) > WXC_APPID_MAX) {
            snprintf(err, errlen, "--appid: want 1..%d characters", WXC_APPID_MAX);
            return -1;
        }
        snprintf(o->appid, sizeof(o->appid), "%s", v);
        break;
    case F_MODE:
        if (pb_mode_parse(v, &o->mode) < 0) {
            snprintf(err, errlen, "--mode: want plain, compat or safe, got '%s'", v);
            return -1;
        }
        break;
    case F_FORMAT:
        if (pb_format_parse(v, &o->format) < 0) {
            snprintf(err, errlen, "--format: want xml or json, got '%s'", v);
            return -1;
        }
        break;
    case F_TYPE:
        if (pb_type_parse(v, &o->type) < 0) {
            snprintf(err, errlen,
                     "--type: want text, image, miniprogrampage or user_enter_tempsession");
            return -1;
        }
        break;
    case F_FILE:
        o->file = v;
        break;
    case F_FROM:
        o->msg.from = v;
        break;
    case F_TO:
        o->msg.to = v;
        break;
    case F_CONTENT:
        o->msg.content = v;
        break;
    case F_MSG_ID:
        if (!*v) {
            snprintf(err, errlen, "--msg-id: empty");
            return -1;
        }
        o->msg.msg_id = v;
        o->msg_id_set = 1;
        break;
    case F_CREATE_TIME:
        if (num_flag("create-time", v, LLONG_MIN, LLONG_MAX, &o->msg.create_time, err, errlen) < 0)
            return -1;
        o->create_time_set = 1;
        break;
    case F_SESSION_FROM:
        o->msg.session_from = v;
        break;
    case F_PIC_URL:
        o->msg.pic_url = v;
        break;
    case F_MEDIA_ID:
        o->msg.media_id = v;
        break;
    case F_TITLE:
        o->msg.title = v;
        break;
    case F_MP_APPID:
        o->msg.app_id = v;
        break;
    case F_PAGE_PATH:
        o->msg.page_path = v;
        break;
    case F_THUMB_URL:
        o->msg.thumb_url = v;
        break;
    case F_THUMB_MEDIA_ID:
        o->msg.thumb_media_id = v;
        break;
    case F_TIMESTAMP:
        if (num_flag("timestamp", v, 0, LLONG_MAX, &n, err, errlen) < 0)
            return -1;
        snprintf(o->timestamp, sizeof(o->timestamp), "%lld", n);
        o->timestamp_set = 1;
        break;
    case F_NONCE:
        if (!*v || strlen(v) >= sizeof(o->nonce)) {
            snprintf(err, errlen, "--nonce: want 1..%zu characters", sizeof(o->nonce) - 1);
            return -1;
        }
        snprintf(o->nonce, sizeof(o->nonce), "%s", v);
        o->nonce_set = 1;
        break;
    case F_COUNT:
        return num_flag("count", v, 1, 1000000, &o->count, err, errlen);
    case F_BAD_SIGNATURE:
        o->corrupt |= PB_CORRUPT_SIGNATURE | PB_CORRUPT_MSG_SIGNATURE;
        break;
    case F_BAD_MSG_SIGNATURE:
        o->corrupt |= PB_CORRUPT_MSG_SIGNATURE;
        break;
    case F_VERIFY:
        o->verify = 1;
        break;
    case F_PRINT_REQUEST:
        o->print_request = 1;
        break;
    case F_TIMEOUT_MS:
        return num_flag("timeout-ms", v, 1, 3600000, &o->timeout_ms, err, errlen);
    case F_CONCURRENCY:
        return num_flag("concurrency", v, 1, 10000, &o->concurrency, err, errlen);
    case F_DURATION:
        o->duration_set = 1;
        return num_flag("duration", v, 1, 600, &o->duration_s, err, errlen);
    case F_MAX_REQUESTS:
        return num_flag("max-requests", v, 1, LLONG_MAX, &o->max_requests, err, errlen);
    case F_POOL:
        return num_flag("pool", v, 1, 1000000, &o->pool, err, errlen);
    case F_USERS:
        return num_flag("users", v, 1, 1000000, &o->users, err, errlen);
    case F_THREADS:
        o->threads_set = 1;
        return num_flag("threads", v, 1, 64, &o->threads, err, errlen);
    case F_JSON:
        o->json = 1;
        break;
    case F_LISTEN:
        o->listen = v;
        break;
    case F_READY_FILE:
        o->ready_file = v;
        break;
    case F_CONFIG:
        o->config = v;
        break;
    case F_CHECK_CONFIG:
        o->check_config = 1;
        break;
    case F_LOG_LEVEL: {
        enum log_level lvl;
        if (log_level_parse(v, &lvl) < 0) {
            snprintf(err, errlen, "--log-level: want debug, info, warn or error");
            return -1;
        }
        o->log_level = v;
        break;
    }
    }
    return 0;
}

/* Cross-flag checks and the defaults that need the clock or randomness. */
static int finish(struct sim_opts *o, char *err, size_t errlen)
{
    int encrypted = o->mode != PB_MODE_PLAIN;

    if (o->cmd == SIM_CMD_API) {
        if (!o->threads_set)
            o->threads = 2;
        if (o->check_config && !o->config) {
            snprintf(err, errlen, "--check-config needs --config FILE");
            return -1;
        }
        return 0;
    }
    if (!o->url || strncmp(o->url, "http", 4) != 0 || !strstr(o->url, "://")) {
        snprintf(err, errlen, "--url http://HOST:PORT/PATH is required");
        return -1;
    }
    if (!o->token || !*o->token) {
        snprintf(err, errlen, "--token is required");
        return -1;
    }
    if (o->aes_key) {
        if (wxc_key_from_encoding(o->aes_key, &o->key) != WXC_OK) {
            snprintf(err, errlen, "--aes-key: want 43 characters of [A-Za-z0-9]");
            return -1;
        }
        o->have_key = 1;
    }
    if (!o->appid[0])
        appid_from_url(o->url, o->appid, sizeof(o->appid));
    if (encrypted && !o->verify) {
        if (!o->have_key) {
            snprintf(err, errlen, "--mode %s needs --aes-key", pb_mode_name(o->mode));
            return -1;
        }
        if (!o->appid[0]) {
            snprintf(err, errlen, "--mode %s needs --appid (none in the URL path)",
                     pb_mode_name(o->mode));
            return -1;
        }
    }
    if (o->max_requests && !o->duration_set)
        o->duration_s = 600; /* --max-requests alone: the count decides, within the cap */
    if (!o->msg.app_id)
        o->msg.app_id = o->appid[0] ? o->appid : "wxba5fad812f8e6fb9";
    o->msg.type = o->type;
    if (!o->create_time_set)
        o->msg.create_time = (long long)time(NULL);
    if (!o->timestamp_set)
        snprintf(o->timestamp, sizeof(o->timestamp), "%lld", (long long)time(NULL));
    if (!o->nonce_set)
        sim_rand_nonce(o->nonce, sizeof(o->nonce));
    if (!o->msg_id_set) {
        sim_rand_msg_id(o->msg_id_buf, sizeof(o->msg_id_buf));
        o->msg.msg_id = o->msg_id_buf;
    }
    return 0;
}

int sim_opts_parse(enum sim_cmd cmd, int argc, char **argv, struct sim_opts *o, char *err,
                   size_t errlen)
{
    struct option lopts[NFLAGS + 1];
    int c;

    memset(o, 0, sizeof(*o));
    o->cmd = cmd;
    o->mode = PB_MODE_PLAIN;
    o->format = PB_FORMAT_XML;
    o->type = PB_TYPE_TEXT;
    pb_message_sample(&o->msg, PB_TYPE_TEXT);
    o->msg.app_id = NULL; /* default filled from --appid in finish() */
    o->timeout_ms = 5000;
    o->count = 1;
    o->concurrency = 64;
    o->duration_s = 10;
    o->pool = 1024;
    o->users = 1;
    o->threads = 1;

    for (size_t i = 0; i < NFLAGS; i++)
        lopts[i] = (struct option){flags[i].name, flags[i].arg ? required_argument : no_argument,
                                   NULL, flags[i].id};
    lopts[NFLAGS] = (struct option){NULL, 0, NULL, 0};

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
        const struct flag *fl = NULL;
        for (size_t i = 0; i < NFLAGS; i++)
            if (flags[i].id == c)
                fl = &flags[i];
        if (!fl) {
            snprintf(err, errlen, "unknown flag or missing value: %s", argv[optind - 1]);
            return -1;
        }
        if (!(fl->cmds & cmd)) {
            snprintf(err, errlen, "--%s is not a flag of this subcommand", fl->name);
            return -1;
        }
        if (c == F_HELP) {
            sim_opts_usage(cmd, stdout);
            return 1;
        }
        if (apply(o, c, optarg, err, errlen) < 0)
            return -1;
    }
    if (optind != argc) {
        snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    return finish(o, err, errlen);
}

void sim_opts_params(const struct sim_opts *o, struct pb_params *p)
{
    *p = (struct pb_params){
        .mode = o->mode,
        .format = o->format,
        .token = o->token,
        .key = o->have_key ? &o->key : NULL,
        .appid = o->appid[0] ? o->appid : NULL,
        .to = o->msg.to,
        .openid = o->msg.from,
        .timestamp = o->timestamp,
        .nonce = o->nonce,
        .random = NULL,
        .corrupt = o->corrupt,
    };
}

/* Reads PATH whole, bounded by PB_DOC_MAX. */
static int read_file(const char *path, char **doc, size_t *doc_len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, n;
    int rc = -1;

    if (!f) {
        snprintf(err, errlen, "--file %s: %s", path, strerror(errno));
        goto out;
    }
    buf = malloc(PB_DOC_MAX + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    while ((n = fread(buf + len, 1, PB_DOC_MAX + 1 - len, f)) > 0 && len + n <= PB_DOC_MAX)
        len += n;
    if (n > 0 || ferror(f)) {
        snprintf(err, errlen, "--file %s: %s", path,
                 ferror(f) ? "read error" : "larger than the 16 MiB limit");
        goto out;
    }
    buf[len] = '\0';
    *doc = buf;
    *doc_len = len;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (f)
        fclose(f);
    return rc;
}

int sim_opts_document(const struct sim_opts *o, const struct pb_message *m, char **doc,
                      size_t *doc_len, char *err, size_t errlen)
{
    *doc = NULL;
    *doc_len = 0;
    if (o->file)
        return read_file(o->file, doc, doc_len, err, errlen);
    if (pb_document(m, o->format, doc, doc_len) != PB_OK) {
        snprintf(err, errlen, "out of memory building the document");
        return -1;
    }
    return 0;
}
