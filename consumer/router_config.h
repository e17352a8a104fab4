/*
 * router_config: the validated configuration of wxbridge-router.
 *
 * { "kafka": { "bootstrap.servers": "..." } } is a complete config: group
 * wxbridge-router, input wx.inbound, default routes, one-hour dedup window.
 * Routing rules are either a file ("rules": "path/to/rules.json", relative
 * to the config file's directory) or inline ("rules": { ... }); see
 * route_rules.h and schema/rules.v1.schema.json.
 */
#ifndef WXB_ROUTER_CONFIG_H
#define WXB_ROUTER_CONFIG_H

#include "jsonconf.h"
#include "route_rules.h"

#include <jansson.h>

struct router_config {
    json_t *root;
    const json_t *kafka;
    const char *group_id;
    const char *input_topic;
    const char *reply_topic;
    const char *metrics_listen; /* NULL: no HTTP endpoints */
    const char *log_level;
    long long dedup_window_s;
    long long dedup_max_ids;
    long long batch_max;
    long long commit_interval_ms;
    long long history_timeout_ms;
};

/*
 * Validates ROOT (a reference is taken) into CFG and loads its rules into
 * *RULES (CONFIG_PATH locates a rules file given by name). Every mistake goes
 * into E with its JSON path. Returns 0, or -1 with CFG freed and *RULES NULL.
 */
int router_config_load(json_t *root, const char *config_path, struct router_config *cfg,
                       route_rules **rules, struct jc_errs *e);

/* Loads only the rules of the config file at CONFIG_PATH (for SIGHUP). */
int router_config_reload_rules(const char *config_path, route_rules **rules, struct jc_errs *e);

void router_config_free(struct router_config *cfg);

#endif
