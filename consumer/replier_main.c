/*
 * wxbridge-replier: sends the reply commands of wx.replies through the WeChat
 * customer-service API, one result each on wx.replies.results. Wiring only;
 * the work is in replier.c, replier_send.c and the modules they use.
 */
#include "cli.h"
#include "log.h"
#include "metrics.h"
#include "ops_http.h"
#include "replier.h"
#include "replier_config.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int ready_fn(void *arg, char *buf, size_t len)
{
    int ok = replier_ready(arg);
    snprintf(buf, len, "{\"ready\":%s}", ok ? "true" : "false");
    return ok;
}

int main(int argc, char **argv)
{
    struct cli_opts cli;
    struct jc_errs errs = {0};
    struct replier_config cfg;
    struct ops_http_conf oc = {0};
    ops_http *ops = NULL;
    replier *r = NULL;
    metrics *m = NULL;
    enum log_level lvl;
    char err[512], url[128];
    int rc;
    json_t *root;

    rc = cli_parse(argc, argv, "wxbridge-replier",
                   "Sends wx.replies commands through the WeChat customer-service API.", &cli);
    if (rc >= 0)
        return rc;
    rc = 1;
    root = jc_load_file(cli.config, &errs);
    if (root)
        replier_config_load(root, &cfg, &errs);
    json_decref(root);
    if (errs.count) {
        fprintf(stderr, "%s: %d problem(s):\n%s", cli.config, errs.count, errs.text);
        return 1;
    }
    if (cli.check_config) {
        printf("config ok (%d apps)\n", cfg.napps);
        replier_config_free(&cfg);
        return 0;
    }
    if (log_level_parse(cli.log_level ? cli.log_level : cfg.log_level, &lvl) < 0) {
        fprintf(stderr, "unknown log level\n");
        replier_config_free(&cfg);
        return 1;
    }
    log_init("wxbridge-replier", lvl);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
        log_event(LOG_ERROR, "replier_start_failed", "error", "curl_global_init failed", NULL);
        replier_config_free(&cfg);
        return 1;
    }

    m = metrics_new();
    if (!m || replier_new(&cfg, m, cli.ready_file, &r, err, sizeof(err)) < 0) {
        log_event(LOG_ERROR, "replier_start_failed", "error", m ? err : "out of memory", NULL);
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
        log_event(LOG_INFO, "replier_ops_ready", "ops_url", url, NULL);
    }
    log_event(LOG_INFO, "replier_started", "group", cfg.group_id, "input", cfg.input_topic,
              "api_base", cfg.api_base, "version", WXB_VERSION, NULL);
    rc = replier_run(r, &g_stop) == 0 ? 0 : 1;
out:
    log_event(LOG_INFO, "replier_stopping", NULL);
    ops_http_stop(ops);
    replier_free(r);
    metrics_free(m);
    replier_config_free(&cfg);
    curl_global_cleanup();
    log_event(LOG_INFO, "replier_stopped", NULL);
    return rc;
}
