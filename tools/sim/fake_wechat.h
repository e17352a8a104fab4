/*
 * fake_wechat: the protocol logic of `wxbridge-sim api`, a fake of the
 * WeChat customer-service API (docs/PROTOCOL.md section 4) with fault
 * injection, a calls log and counters.
 *
 * Pure: fw_handle() turns one parsed HTTP request into one answer (status,
 * body, the latency to add, or "drop the connection"), so unit tests drive
 * every rule directly with their own clock and randomness; sim_api_http is
 * only the transport. Every call takes the module's mutex, so any number of
 * HTTP threads may share one fw.
 *
 * Routes: POST /cgi-bin/stable_token, GET /cgi-bin/token,
 * POST /cgi-bin/message/custom/send and /typing (also under .../business/),
 * POST /cgi-bin/media/upload, GET /cgi-bin/media/get, and the admin
 * endpoints under /_sim/ (faults, expire_tokens, invalidate_tokens, calls,
 * reset, stats). tools/sim/README.md documents each answer and config key.
 */
#ifndef WXB_FAKE_WECHAT_H
#define WXB_FAKE_WECHAT_H

#include "fake_wechat_media.h"
#include "jsonconf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The time and randomness fw uses; NULL members take the defaults. */
struct fw_env {
    int64_t (*now_ms)(void *arg);                            /* default: util_wall_ms */
    void (*random)(void *arg, unsigned char *buf, size_t n); /* default: getrandom(2) */
    void *arg;
};

/* One request as the HTTP layer received it (everything borrowed). */
struct fw_request {
    const char *method;  /* "GET", "POST", ... */
    const char *path;    /* without the query string */
    const json_t *query; /* object: name -> string value; NULL: no parameters */
    const char *body;
    size_t body_len;
    const char *content_type; /* the request's Content-Type, or NULL */
    int body_too_large;       /* the body exceeded fw_body_limit() and was not kept */
};

/* The answer; release with fw_response_free(). */
struct fw_response {
    int drop;         /* close the connection without answering (injected fault) */
    int status;       /* HTTP status */
    int64_t delay_ms; /* answer (or drop) only after this long (latency_ms fault) */
    int errcode;      /* the errcode answered (API calls), for the caller's logs */
    char content_type[FWMEDIA_CTYPE_MAX];
    char filename[FWMEDIA_FILENAME_MAX]; /* media/get: for Content-Disposition, else "" */
    char *body;                          /* malloc'd, BODY_LEN bytes (+ NUL) */
    size_t body_len;
};

typedef struct fw fw;

/*
 * Validates a configuration object (see README: apps, token_*, media_*,
 * calls_log_*, faults, fail_next, ...; "listen" and "threads" are accepted
 * for sim_api). Records every problem with its JSON path in E. Returns 0
 * when valid, -1 otherwise.
 */
int fw_config_check(json_t *cfg, struct jc_errs *e);

/*
 * Creates a fake API from CFG (an object, validated as above; not kept).
 * ENV may be NULL. Returns 0 with *OUT, or -1 with ERR (the configuration
 * problems, or out of memory).
 */
int fw_create(json_t *cfg, const struct fw_env *env, fw **out, char *err, size_t errlen);

/* NULL-safe. */
void fw_destroy(fw *f);

/* The largest request body PATH needs kept (uploads: media_max_bytes + 64 KiB; else 1 MiB). */
size_t fw_body_limit(const fw *f, const char *path);

/* Answers REQ into RESP (always filled; on ENOMEM a 500 answer). Thread-safe. */
void fw_handle(fw *f, const struct fw_request *req, struct fw_response *resp);

/* Frees RESP's body. NULL-safe. */
void fw_response_free(struct fw_response *resp);

#endif
