/*
 * replay_opts: the command line of wxbridge-replay (see README.md):
 *
 *   wxbridge-replay inbound-dlq --ingress-config FILE [common flags]
 *   wxbridge-replay replies-dlq [common flags]
 *   wxbridge-replay reroute [--rules FILE] (--to-topic-prefix P | --into-live)
 *                           [--no-replies] [common flags]
 *
 * Parsing only checks the flags themselves (syntax, ranges, combinations);
 * files are read by main. Strings point into ARGV.
 */
#ifndef WXB_REPLAY_OPTS_H
#define WXB_REPLAY_OPTS_H

#include "replay_entry.h"
#include "replay_select.h"

#include <stdio.h>

struct replay_opts {
    enum replay_kind kind;
    const char *command;        /* the subcommand as typed */
    const char *brokers;        /* --brokers: bootstrap.servers */
    const char *config;         /* --config: {"kafka":{...}} */
    const char *ingress_config; /* inbound-dlq */
    const char *rules;          /* reroute; NULL = default routes */
    const char *prefix;         /* reroute --to-topic-prefix */
    int into_live;              /* reroute --into-live */
    int no_replies;             /* reroute --no-replies */
    const char *topic;          /* --topic: source (default per subcommand) */
    const char *output_topic;   /* --output-topic (dlq subcommands) */
    const char *reply_topic;    /* reroute --reply-topic (default wx.replies) */
    const char *log_level;      /* NULL = info */
    int dry_run;
    int check_config;
    struct replay_filter filter;
    long long limit;           /* 0 = none */
    long long idle_timeout_ms; /* default 30000 */
    long long flush_timeout_ms;
    long long dedup_max_ids;
};

/*
 * Parses ARGV into O. Returns -1 when the program should go on, or the exit
 * code to return at once: 0 after --help / --version (printed on OUT), 2 on
 * a usage error (the message and a hint printed on ERRF).
 */
int replay_opts_parse(int argc, char **argv, struct replay_opts *o, FILE *out, FILE *errf);

#endif
