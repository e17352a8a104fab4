/*
 * wxbridge-replay: republishes dead letters and reroutes wx.inbound, for
 * operators (tools/replay/README.md). Wiring only: flags (replay_opts),
 * configs, then replay_run; the summary goes to stdout.
 */
#include "ingress_config.h"
#include "jsonconf.h"
#include "log.h"
#include "replay_opts.h"
#include "replay_run.h"
#include "route_rules.h"
#include "wx_parse.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

struct loaded {
    json_t *kafka; /* owned */
    struct ingress_config ingress;
    int have_ingress;
    route_rules *rules;
};

static int report(const char *file, const struct jc_errs *e)
{
    fprintf(stderr, "%s: %d problem(s):\n%s", file, e->count, e->text);
    return -1;
}

/* The "kafka" object: --config's, else the ingress config's, with --brokers on top. */
static int load_kafka(const struct replay_opts *o, struct loaded *l)
{
    static const char *const known[] = {"kafka", "_comment", NULL};
    struct jc_errs e = {0};
    json_t *root = NULL;

    if (o->config) {
        root = jc_load_file(o->config, &e);
        if (root) {
            jc_known_keys(root, "$", known, &e);
            if (!json_is_object(json_object_get(root, "kafka")))
                jc_error(&e, "$", "required object \"kafka\" is missing");
        }
        if (e.count) {
            json_decref(root);
            return report(o->config, &e);
        }
        l->kafka = json_deep_copy(json_object_get(root, "kafka"));
        json_decref(root);
    } else if (l->have_ingress) {
        l->kafka = json_deep_copy(l->ingress.kafka);
    } else {
        l->kafka = json_object();
    }
    if (!l->kafka ||
        (o->brokers && json_object_set_new(l->kafka, "bootstrap.servers", json_string(o->brokers))))
        return -1;
    return 0;
}

static int load_files(const struct replay_opts *o, struct loaded *l)
{
    struct jc_errs e = {0};
    json_t *root;

    if (o->ingress_config) {
        root = jc_load_file(o->ingress_config, &e);
        if (!root || ingress_config_load(root, &l->ingress, &e) < 0) {
            json_decref(root);
            return report(o->ingress_config, &e);
        }
        json_decref(root);
        l->have_ingress = 1;
    }
    if (o->kind == REPLAY_REROUTE) {
        root = o->rules ? jc_load_file(o->rules, &e) : json_object();
        if (!root || route_rules_load(root, "$", &l->rules, &e) != ROUTE_OK) {
            json_decref(root);
            return report(o->rules ? o->rules : "default rules", &e);
        }
        json_decref(root);
    }
    return load_kafka(o, l);
}

/* Fills the run from the flags and the loaded files. */
static void wire(const struct replay_opts *o, struct loaded *l, struct ingress_config *replay_cfg,
                 struct replay_run_cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->command = o->command;
    c->kafka = l->kafka;
    c->filter = &o->filter;
    c->limit = o->limit;
    c->dry_run = o->dry_run;
    c->idle_timeout_ms = (int)o->idle_timeout_ms;
    c->flush_timeout_ms = (int)o->flush_timeout_ms;
    c->dedup_max_ids = (size_t)o->dedup_max_ids;
    c->stop = &g_stop;
    c->ctx.kind = o->kind;
    switch (o->kind) {
    case REPLAY_INBOUND_DLQ:
        /* The stored push is older than any replay window: the window is skipped (its
         * signatures are still verified). See README.md "Signatures and the replay window". */
        *replay_cfg = l->ingress;
        replay_cfg->timestamp_tolerance_s = 0;
        c->ctx.ingress = replay_cfg;
        c->ctx.output_topic = o->output_topic ? o->output_topic : l->ingress.topic;
        c->source = o->topic ? o->topic : l->ingress.dlq_topic;
        break;
    case REPLAY_REPLIES_DLQ:
        c->ctx.output_topic = o->output_topic ? o->output_topic : "wx.replies";
        c->source = o->topic ? o->topic : "wx.replies.dlq";
        break;
    case REPLAY_REROUTE:
        c->ctx.rules = l->rules;
        c->ctx.prefix = o->into_live ? "" : o->prefix;
        c->ctx.reply_topic = o->reply_topic ? o->reply_topic : "wx.replies";
        c->ctx.no_replies = o->no_replies;
        c->source = o->topic ? o->topic : "wx.inbound";
        break;
    }
}

int main(int argc, char **argv)
{
    struct replay_opts o;
    struct loaded l = {0};
    struct ingress_config replay_cfg;
    struct replay_run_cfg c;
    struct replay_tally *t = NULL;
    enum log_level lvl = LOG_INFO;
    char err[512], *summary = NULL;
    int rc = replay_opts_parse(argc, argv, &o, stdout, stderr), ran;

    if (rc >= 0)
        return rc;
    if (o.log_level && log_level_parse(o.log_level, &lvl) < 0) {
        fprintf(stderr, "wxbridge-replay: unknown log level %s\n", o.log_level);
        return 2;
    }
    log_init("wxbridge-replay", lvl);
    wxp_global_init();
    rc = 1;
    if (load_files(&o, &l) < 0)
        goto out;
    if (o.check_config) {
        printf("config ok\n");
        rc = 0;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    wire(&o, &l, &replay_cfg, &c);
    if (c.ctx.output_topic && strcmp(c.ctx.output_topic, c.source) == 0) {
        fprintf(stderr, "wxbridge-replay: the source and output topics are both %s\n", c.source);
        goto out;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        goto out;
    ran = replay_run(&c, t, stdout, err, sizeof(err));
    if (ran < 0)
        log_event(LOG_ERROR, "replay_stopped", "error", err, NULL);
    summary = replay_tally_json(t, o.command, o.dry_run, ran < 0 ? err : NULL);
    if (summary)
        printf("%s\n", summary);
    fflush(stdout);
    log_event(LOG_INFO, "replay_finished", "complete", ran < 0 ? "false" : "true", NULL);
    rc = ran < 0 || !summary ? 1 : t->c[RT_FAILED] > 0 ? 3 : 0;
out:
    free(summary);
    free(t);
    route_rules_free(l.rules);
    json_decref(l.kafka);
    if (l.have_ingress)
        ingress_config_free(&l.ingress);
    wxp_thread_cleanup();
    wxp_global_cleanup();
    return rc;
}
