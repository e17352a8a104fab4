/*
 * router_config: validation of the router config. See router_config.h.
 */
#include "router_config.h"

#include "kafka_conf.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const keys[] = {
    "kafka",
    "group_id",
    "input_topic",
    "reply_topic",
    "metrics_listen",
    "log_level",
    "dedup_window_s",
    "dedup_max_ids",
    "batch_max",
    "commit_interval_ms",
    "history_timeout_ms",
    "rules",
    NULL,
};

/* Loads the "rules" member: a file name (relative to the config) or an object. */
static int load_rules(json_t *root, const char *config_path, route_rules **rules, struct jc_errs *e)
{
    json_t *spec = json_object_get(root, "rules"), *doc = NULL, *empty = NULL;
    int rc;

    *rules = NULL;
    if (json_is_string(spec)) {
        char file[4096], dir[4096];
        const char *name = json_string_value(spec);
        snprintf(dir, sizeof(dir), "%s", config_path ? config_path : ".");
        if (name[0] == '/')
            snprintf(file, sizeof(file), "%s", name);
        else
            snprintf(file, sizeof(file), "%s/%s", dirname(dir), name);
        doc = jc_load_file(file, e);
        if (!doc)
            return -1;
        rc = route_rules_load(doc, "$", rules, e);
        json_decref(doc);
    } else if (json_is_object(spec)) {
        rc = route_rules_load(spec, "$.rules", rules, e);
    } else if (!spec) {
        empty = json_object(); /* no rules: the default routes */
        rc = empty ? route_rules_load(empty, "$.rules", rules, e) : -1;
        json_decref(empty);
    } else {
        jc_error(e, "$", "\"rules\" must be a file name or an object");
        return -1;
    }
    return rc == ROUTE_OK ? 0 : -1;
}

int router_config_load(json_t *root, const char *config_path, struct router_config *cfg,
                       route_rules **rules, struct jc_errs *e)
{
    int before = e->count;

    memset(cfg, 0, sizeof(*cfg));
    *rules = NULL;
    cfg->root = json_incref(root);
    jc_known_keys(root, "$", keys, e);
    cfg->kafka = json_object_get(root, "kafka");
    kafka_conf_check(cfg->kafka, e);
    jc_str(root, "$", "group_id", 0, "wxbridge-router", &cfg->group_id, e);
    jc_str(root, "$", "input_topic", 0, "wx.inbound", &cfg->input_topic, e);
    jc_str(root, "$", "reply_topic", 0, "wx.replies", &cfg->reply_topic, e);
    jc_str(root, "$", "metrics_listen", 0, NULL, &cfg->metrics_listen, e);
    jc_enum(root, "$", "log_level", "info", jc_log_levels, &cfg->log_level, e);
    jc_int(root, "$", "dedup_window_s", 3600, 1, 7 * 86400, &cfg->dedup_window_s, e);
    /* 32 bytes an id, allocated up front: 1 Mi ids = 32 MiB (~290 pushes/s for an hour). */
    jc_int(root, "$", "dedup_max_ids", 1024 * 1024, 1024, 1LL << 28, &cfg->dedup_max_ids, e);
    jc_int(root, "$", "batch_max", 500, 1, 100000, &cfg->batch_max, e);
    jc_int(root, "$", "commit_interval_ms", 100, 1, 60000, &cfg->commit_interval_ms, e);
    jc_int(root, "$", "history_timeout_ms", 60000, 100, 3600000, &cfg->history_timeout_ms, e);
    if (load_rules(root, config_path, rules, e) < 0 || e->count > before) {
        route_rules_free(*rules);
        *rules = NULL;
        router_config_free(cfg);
        return -1;
    }
    return 0;
}

int router_config_reload_rules(const char *config_path, route_rules **rules, struct jc_errs *e)
{
    json_t *root = jc_load_file(config_path, e);
    int rc;
    if (!root)
        return -1;
    rc = load_rules(root, config_path, rules, e);
    json_decref(root);
    return rc;
}

void router_config_free(struct router_config *cfg)
{
    if (!cfg)
        return;
    json_decref(cfg->root);
    memset(cfg, 0, sizeof(*cfg));
}
