/*
 * ingress_config: the validated configuration of wxbridge-ingress.
 *
 * Built once at start from the JSON config (CONTRACT.md "Ingress config")
 * and read-only afterwards. Strings are borrowed from the JSON tree, which
 * the config keeps alive.
 */
#ifndef WXB_INGRESS_CONFIG_H
#define WXB_INGRESS_CONFIG_H

#include "jsonconf.h"
#include "wx_crypto.h"
#include "wx_parse.h"

#include <jansson.h>

#define INGRESS_PATH_MAX 256

struct ingress_app {
    const char *appid;
    char path[INGRESS_PATH_MAX];
    const char *token;
    int has_key;
    struct wx_aes_key key;
    int has_prev_key; /* previous EncodingAESKey still accepted (rotation) */
    struct wx_aes_key prev_key;
    int64_t prev_key_until_ms; /* wall ms after which prev_key is refused; 0 = no end */
    enum wx_format format;     /* 0 = detect per request */
    int require_encryption;    /* refuse plaintext pushes (default: when a key is set) */
};

struct ingress_config {
    json_t *root;
    const char *listen;
    const char *metrics_listen; /* NULL = same as listen */
    const json_t *kafka;
    const char *topic;
    const char *dlq_topic;
    const char *spool_dir;
    long long spool_max_bytes;
    long long timestamp_tolerance_s;
    long long body_max_bytes;
    long long ack_timeout_ms;
    long long threads;
    long long shutdown_timeout_ms;
    const char *log_level;
    size_t napps;
    struct ingress_app *apps;
};

/*
 * Validates ROOT (a reference is taken) into CFG. Every problem goes into E
 * with its JSON path; returns 0 when there were none, -1 otherwise (CFG is
 * then freed).
 */
int ingress_config_load(json_t *root, struct ingress_config *cfg, struct jc_errs *e);

/* Releases what CFG holds; NULL-safe. */
void ingress_config_free(struct ingress_config *cfg);

/* The app serving URL path PATH, or NULL. */
const struct ingress_app *ingress_config_app(const struct ingress_config *cfg, const char *path);

#endif
