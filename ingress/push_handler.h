/*
 * push_handler: what the ingress does with one WeChat request, without any
 * HTTP or Kafka: verify, decrypt, parse, canonicalize, and decide the answer
 * and the Kafka message (record or dead letter). Pure and unit-testable.
 */
#ifndef WXB_PUSH_HANDLER_H
#define WXB_PUSH_HANDLER_H

#include "ingress_config.h"
#include "record.h"

#include <jansson.h>
#include <stdint.h>

/*
 * The request's query parameters. GET returns a parameter or NULL; TO_JSON
 * returns a new object of all of them (only dead letters need that).
 */
struct push_query {
    const char *(*get)(void *ctx, const char *name);
    json_t *(*to_json)(void *ctx);
    void *ctx;
};

/* A push_query over OBJ, a JSON object of strings (borrowed; for tests and tools). */
struct push_query push_query_json(const json_t *obj);

struct push_request {
    int is_post; /* 0 = GET */
    struct push_query query;
    const char *body; /* POST body (may contain NULs) */
    size_t body_len;
    int64_t now_ms; /* wall clock */
};

enum push_outcome {
    PUSH_ECHO,    /* GET verified: answer 200 with the echostr */
    PUSH_PUBLISH, /* publish msg (record), answer success once durable */
    PUSH_DLQ,     /* publish msg (dead letter), answer success once durable */
    PUSH_REFUSE,  /* answer status with nothing published */
};

struct push_result {
    enum push_outcome outcome;
    int status;         /* HTTP status for PUSH_REFUSE */
    const char *reason; /* stable snake_case reason (refusals and dead letters) */
    char detail[256];   /* human detail for logs */
    const char *echo;   /* PUSH_ECHO: borrowed from the query */
    struct kmsg msg;    /* PUSH_PUBLISH / PUSH_DLQ; owned, kmsg_clear() it */
    char id[RECORD_ID_MAX];
    const char *msg_type; /* PUSH_PUBLISH: borrowed from msg headers */
};

/*
 * Processes REQ for APP under CFG into RES. Never fails: every input ends in
 * one of the outcomes above. The caller owns RES->msg afterwards.
 */
void push_handle(const struct ingress_config *cfg, const struct ingress_app *app,
                 const struct push_request *req, struct push_result *res);

#endif
