/*
 * fake_wechat_conf: the configuration of the fake WeChat API and its fault
 * set, parsed and validated with every problem's JSON path (jsonconf).
 *
 * The same fault parser serves the config's "faults" object and the
 * runtime POST /_sim/faults body, so both accept exactly the same keys.
 */
#ifndef WXB_FAKE_WECHAT_CONF_H
#define WXB_FAKE_WECHAT_CONF_H

#include "fake_wechat_tokens.h"
#include "jsonconf.h"

#include <jansson.h>
#include <stddef.h>

#define FWCONF_FAIL_NEXT_MAX 100000
#define FWCONF_LATENCY_MAX   600000

struct fw_faults {
    long long latency_ms; /* added to every /cgi-bin call */
    double busy_rate;     /* send/typing answered -1 */
    double http_5xx_rate; /* /cgi-bin calls answered HTTP 503, non-JSON */
    double drop_rate;     /* /cgi-bin calls whose connection is closed unanswered */
    json_t *users;        /* openid -> errcode for send/typing; owned, NULL: none */
    int has_seed;
    long long seed;
    long long *fail_next; /* errcodes for the next sends: [fail_pos, nfail) remain */
    size_t nfail, fail_pos;
};

struct fw_conf {
    long long token_ttl_s, renew_before_s, force_min_interval_s, force_daily_limit;
    long long legacy_grace_s, token_length;
    int accept_any_media_id;
    long long media_ttl_s, media_max_bytes, media_store_max_bytes, media_store_max_files;
    long long text_max_bytes, log_max_entries, log_max_bytes;
    struct fwtok_app *apps; /* malloc'd array; the strings are borrowed from the JSON */
    size_t napps;
    struct fw_faults faults;
};

/*
 * Parses CFG (the whole config object) into C, defaults for what is
 * missing, recording every problem in E. "listen" and "threads" are
 * accepted and left to sim_api. Release C with fwconf_free() whatever E
 * says; C->apps borrows strings from CFG, which must outlive that use.
 */
void fwconf_parse(json_t *cfg, struct fw_conf *c, struct jc_errs *e);

/* Frees what fwconf_parse() allocated in C. NULL-safe. */
void fwconf_free(struct fw_conf *c);

/*
 * Parses a fault set (keys latency_ms, busy_rate, http_5xx_rate,
 * drop_rate, users, seed, fail_next; all optional) from OBJ at PATH into
 * FL, which is cleared first. Problems go to E.
 */
void fwconf_faults_parse(json_t *obj, const char *path, struct fw_faults *fl, struct jc_errs *e);

/* Frees FL's members and zeroes it. */
void fwconf_faults_clear(struct fw_faults *fl);

/* FL as a new JSON object, with the fail_next codes that remain. */
json_t *fwconf_faults_json(const struct fw_faults *fl);

#endif
