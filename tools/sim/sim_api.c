/*
 * sim_api: configuration, start, signal wait and stop of `wxbridge-sim
 * api`. See sim_api.h; the protocol is in fake_wechat, the transport in
 * sim_api_http.
 *
 * SIGTERM and SIGINT are blocked before any thread starts and taken with
 * sigwait(), so no handler runs on an MHD thread and the stop sequence is
 * ordinary code.
 */
#include "sim_api.h"

#include "fake_wechat.h"
#include "jsonconf.h"
#include "log.h"
#include "sim_api_http.h"
#include "util.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define STOP_TIMEOUT_MS 3000

struct api_settings {
    const char *listen;
    long long threads;
};

/* Loads --config (or an empty object) and validates it; NULL with the problems printed. */
static json_t *load_config(const struct sim_opts *o, struct api_settings *st)
{
    struct jc_errs e = {0};
    json_t *cfg = o->config ? jc_load_file(o->config, &e) : json_object();

    if (cfg) {
        fw_config_check(cfg, &e);
        jc_str(cfg, "$", "listen", 0, "127.0.0.1:0", &st->listen, &e);
        jc_int(cfg, "$", "threads", 2, 1, 64, &st->threads, &e);
    }
    if (e.count) {
        fprintf(stderr, "%s: %d problem(s):\n%s", o->config ? o->config : "config", e.count,
                e.text);
        json_decref(cfg);
        return NULL;
    }
    if (o->listen)
        st->listen = o->listen;
    if (o->threads_set)
        st->threads = o->threads;
    return cfg;
}

int sim_api_run(const struct sim_opts *o)
{
    struct api_settings st = {0};
    sim_api_http *http = NULL;
    json_t *cfg = NULL;
    fw *f = NULL;
    sigset_t set;
    char err[4200];
    enum log_level lvl = LOG_INFO;
    int sig = 0, rc = 1;

    if (o->log_level && log_level_parse(o->log_level, &lvl) == 0)
        log_init("wxbridge-sim", lvl);
    cfg = load_config(o, &st);
    if (!cfg)
        goto out;
    if (o->check_config) {
        printf("config ok\n");
        rc = 0;
        goto out;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    if (fw_create(cfg, NULL, &f, err, sizeof(err)) < 0 ||
        sim_api_http_start(st.listen, (unsigned)st.threads, f, &http, err, sizeof(err)) < 0) {
        log_event(LOG_ERROR, "sim_api_start_failed", "error", err, NULL);
        goto out;
    }
    if (o->ready_file && util_write_ready_file(o->ready_file, sim_api_http_url(http)) < 0) {
        log_event(LOG_ERROR, "ready_file_failed", "path", o->ready_file, NULL);
        goto out;
    }
    log_event(LOG_INFO, "sim_api_ready", "url", sim_api_http_url(http), NULL);
    while (sigwait(&set, &sig) != 0)
        ;
    log_event(LOG_INFO, "sim_api_stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
    rc = 0;
out:
    sim_api_http_stop(http, STOP_TIMEOUT_MS);
    fw_destroy(f);
    json_decref(cfg);
    if (rc == 0 && !o->check_config)
        log_event(LOG_INFO, "sim_api_stopped", NULL);
    return rc;
}
