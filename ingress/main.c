/*
 * wxbridge-ingress: receives WeChat pushes and hands them durably to Kafka.
 * Wiring only; the work is in push_handler, publisher, http_server, spool.
 */
#include "cli.h"
#include "http_server.h"
#include "ingress_config.h"
#include "log.h"
#include "metrics.h"
#include "publisher.h"
#include "spool.h"
#include "util.h"
#include "wx_parse.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int main(int argc, char **argv)
{
    struct cli_opts cli;
    int rc = 1;
    struct jc_errs errs = {0};
    struct ingress_config cfg;
    json_t *root;
    char err[512];
    enum log_level lvl;
    spool *sp = NULL;
    publisher *pub = NULL;
    http_server *srv = NULL;
    metrics *m = NULL;

    rc =
        cli_parse(argc, argv, "wxbridge-ingress",
                  "Receives WeChat Mini Program pushes and publishes them durably to Kafka.", &cli);
    if (rc >= 0)
        return rc;
    rc = 1;
    root = jc_load_file(cli.config, &errs);
    if (root && ingress_config_load(root, &cfg, &errs) == 0 && cli.check_config) {
        printf("config ok\n");
        ingress_config_free(&cfg);
        json_decref(root);
        return 0;
    }
    json_decref(root);
    if (errs.count) {
        fprintf(stderr, "%s: %d problem(s):\n%s", cli.config, errs.count, errs.text);
        return 1;
    }
    if (log_level_parse(cli.log_level ? cli.log_level : cfg.log_level, &lvl) < 0) {
        fprintf(stderr, "unknown log level\n");
        goto out;
    }
    log_init("wxbridge-ingress", lvl);
    wxp_global_init();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    m = metrics_new();
    struct spool_opts so = {.max_bytes = (uint64_t)cfg.spool_max_bytes};
    if (!m || spool_open(cfg.spool_dir, &so, &sp, err, sizeof(err)) < 0) {
        log_event(LOG_ERROR, "spool_open_failed", "error", err, NULL);
        goto out;
    }
    const char *topics[] = {cfg.topic, cfg.dlq_topic, NULL};
    struct publisher_opts po = {cfg.kafka, "$.kafka", (int)cfg.ack_timeout_ms, topics, sp, m};
    if (publisher_new(&po, &pub, err, sizeof(err)) < 0) {
        log_event(LOG_ERROR, "kafka_start_failed", "error", err, NULL);
        goto out;
    }
    if (http_server_start(&cfg, pub, sp, m, &srv, err, sizeof(err)) < 0) {
        log_event(LOG_ERROR, "listen_failed", "error", err, NULL);
        goto out;
    }
    log_event(LOG_INFO, "ingress_ready", "url", http_server_url(srv), "ops_url",
              http_server_ops_url(srv), "version", WXB_VERSION, NULL);
    if (cli.ready_file && util_write_ready_file(cli.ready_file, http_server_url(srv)) < 0) {
        log_event(LOG_ERROR, "ready_file_failed", "path", cli.ready_file, NULL);
        goto out;
    }
    while (!g_stop)
        pause();
    rc = 0;
out:
    log_event(LOG_INFO, "ingress_stopping", NULL);
    if (srv && http_server_stop(srv, (int)cfg.shutdown_timeout_ms) > 0)
        rc = 1;
    publisher_free(pub, (int)cfg.shutdown_timeout_ms);
    spool_close(sp);
    metrics_free(m);
    ingress_config_free(&cfg);
    wxp_thread_cleanup();
    wxp_global_cleanup();
    log_event(LOG_INFO, "ingress_stopped", NULL);
    return rc;
}
