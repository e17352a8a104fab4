/*
 * wxbridge-router: deduplicates WeChat's retries and routes inbound records
 * by MsgType, Event and rules. Wiring only; the work is in router.c,
 * route_rules.c and dedup.c.
 */
#include "cli.h"
#include "log.h"
#include "metrics.h"
#include "ops_http.h"
#include "router.h"
#include "router_config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t g_stop, g_reload;

static int ready_fn(void *arg, char *buf, size_t len)
{
    int ok = router_ready(arg);
    snprintf(buf, len, "{\"ready\":%s}", ok ? "true" : "false");
    return ok;
}

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        g_reload = 1;
    else
        g_stop = 1;
}

/* Between records: apply a SIGHUP. A bad rules file keeps the current rules. */
static void tick(router *r, void *arg)
{
    const char *config = arg;
    struct jc_errs e = {0};
    route_rules *rules = NULL;

    if (!g_reload)
        return;
    g_reload = 0;
    if (router_config_reload_rules(config, &rules, &e) < 0) {
        log_event(LOG_ERROR, "rules_reload_failed", "errors", e.text, NULL);
        return;
    }
    router_set_rules(r, rules);
    log_event(LOG_INFO, "rules_reloaded", NULL);
}

int main(int argc, char **argv)
{
    struct cli_opts cli;
    struct jc_errs errs = {0};
    struct router_config cfg;
    route_rules *rules = NULL;
    struct ops_http_conf oc = {0};
    ops_http *ops = NULL;
    router *r = NULL;
    metrics *m = NULL;
    enum log_level lvl;
    char err[512], url[128];
    int rc;
    json_t *root;

    rc = cli_parse(argc, argv, "wxbridge-router",
                   "Deduplicates and routes wx.inbound records; SIGHUP reloads the rules.", &cli);
    if (rc >= 0)
        return rc;
    rc = 1;
    root = jc_load_file(cli.config, &errs);
    if (root)
        router_config_load(root, cli.config, &cfg, &rules, &errs);
    json_decref(root);
    if (errs.count) {
        fprintf(stderr, "%s: %d problem(s):\n%s", cli.config, errs.count, errs.text);
        return 1;
    }
    if (cli.check_config) {
        printf("config ok (%zu rules)\n", route_rules_count(rules));
        route_rules_free(rules);
        router_config_free(&cfg);
        return 0;
    }
    if (log_level_parse(cli.log_level ? cli.log_level : cfg.log_level, &lvl) < 0) {
        fprintf(stderr, "unknown log level\n");
        route_rules_free(rules);
        goto out;
    }
    log_init("wxbridge-router", lvl);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGHUP, on_signal);

    m = metrics_new();
    if (!m || router_new(&cfg, rules, m, cli.ready_file, &r, err, sizeof(err)) < 0) {
        log_event(LOG_ERROR, "router_start_failed", "error", m ? err : "out of memory", NULL);
        goto out;
    }
    oc.metrics = m;
    oc.ready = ready_fn;
    oc.arg = r;
    if (cfg.metrics_listen) {
        if (ops_http_start(cfg.metrics_listen, &oc, &ops, url, sizeof(url), err, sizeof(err)) < 0) {
            log_event(LOG_ERROR, "listen_failed", "error", err, NULL);
            goto out;
        }
        log_event(LOG_INFO, "router_ops_ready", "ops_url", url, NULL);
    }
    log_event(LOG_INFO, "router_started", "group", cfg.group_id, "input", cfg.input_topic,
              "version", WXB_VERSION, NULL);
    rc = router_run(r, &g_stop, tick, (void *)cli.config) == 0 ? 0 : 1;
out:
    log_event(LOG_INFO, "router_stopping", NULL);
    ops_http_stop(ops);
    router_free(r);
    metrics_free(m);
    router_config_free(&cfg);
    log_event(LOG_INFO, "router_stopped", NULL);
    return rc;
}
