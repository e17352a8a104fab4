/*
 * replay_opts: flag parsing for wxbridge-replay. See replay_opts.h.
 */
#include "replay_opts.h"

#include "route_rules.h"
#include "util.h"

#include <getopt.h>
#include <string.h>

#define PREFIX_MAX 200 /* leaves room for the topic names themselves (249 in all) */

static const char usage_text[] =
    "usage: wxbridge-replay inbound-dlq --ingress-config FILE [flags]\n"
    "       wxbridge-replay replies-dlq [flags]\n"
    "       wxbridge-replay reroute [--rules FILE] (--to-topic-prefix P | --into-live)\n"
    "                               [--no-replies] [--reply-topic T] [flags]\n"
    "Republishes dead letters, or routes a time range of wx.inbound again, for operators.\n"
    "Prints a summary JSON object on stdout; logs are JSON lines on stderr.\n"
    "\n"
    "  inbound-dlq       wx.inbound.dlq entries through the ingress pipeline again (with\n"
    "                    --ingress-config's apps and keys) into the inbound topic\n"
    "  replies-dlq       wx.replies.dlq commands back to wx.replies, id \"replay:<id>\"\n"
    "  reroute           wx.inbound records through routing rules into prefixed topics\n"
    "\n"
    "  --brokers LIST          bootstrap.servers\n"
    "  --config FILE           JSON {\"kafka\":{librdkafka properties}} (inbound-dlq: defaults\n"
    "                          to the ingress config's \"kafka\")\n"
    "  --ingress-config FILE   inbound-dlq: the ingress config whose apps replay the pushes\n"
    "  --rules FILE            reroute: a rules document (default: the default routes)\n"
    "  --to-topic-prefix P     reroute: prefix of every output topic, e.g. backfill.\n"
    "  --into-live             reroute: publish into the live topics themselves\n"
    "  --no-replies            reroute: do not publish the rules' reply commands\n"
    "  --reply-topic T         reroute: reply topic before the prefix (default wx.replies)\n"
    "  --topic T               source topic (default wx.inbound.dlq (the ingress config's\n"
    "                          dlq_topic), wx.replies.dlq, wx.inbound)\n"
    "  --output-topic T        dlq commands: target (default the ingress config's topic,\n"
    "                          wx.replies)\n"
    "  --from TIME, --to TIME  range [from, to) of the entries' own times: RFC 3339\n"
    "                          (2026-11-27T10:00:00Z, +08:00 offsets) or unix ms\n"
    "  --appid A               only this app (repeatable)\n"
    "  --reason R              dlq commands: only this stored reason (repeatable)\n"
    "  --limit N               stop after N selected entries\n"
    "  --dry-run               publish nothing; one JSON line per selected entry on stdout\n"
    "  --idle-timeout-ms N     give up when nothing is read for N ms (default 30000)\n"
    "  --flush-timeout-ms N    wait for Kafka's acknowledgements (default 60000)\n"
    "  --dedup-max-ids N       ids remembered to publish each id once (default 1048576)\n"
    "  --check-config          validate the flags and files, then exit\n"
    "  --log-level L           debug, info, warn, error (default info)\n"
    "  --help, --version\n"
    "Exit: 0 done, 3 done but some entries failed, 1 stopped by an error, 2 usage.\n";

enum {
    O_BROKERS = 256,
    O_CONFIG,
    O_INGRESS,
    O_RULES,
    O_PREFIX,
    O_LIVE,
    O_NO_REPLIES,
    O_TOPIC,
    O_OUTPUT,
    O_REPLY_TOPIC,
    O_FROM,
    O_TO,
    O_APPID,
    O_REASON,
    O_LIMIT,
    O_DRY,
    O_IDLE,
    O_FLUSH,
    O_DEDUP,
    O_CHECK,
    O_LOG,
    O_HELP,
    O_VERSION,
};

static const struct option k_opts[] = {
    {"brokers", required_argument, NULL, O_BROKERS},
    {"config", required_argument, NULL, O_CONFIG},
    {"ingress-config", required_argument, NULL, O_INGRESS},
    {"rules", required_argument, NULL, O_RULES},
    {"to-topic-prefix", required_argument, NULL, O_PREFIX},
    {"into-live", no_argument, NULL, O_LIVE},
    {"no-replies", no_argument, NULL, O_NO_REPLIES},
    {"topic", required_argument, NULL, O_TOPIC},
    {"output-topic", required_argument, NULL, O_OUTPUT},
    {"reply-topic", required_argument, NULL, O_REPLY_TOPIC},
    {"from", required_argument, NULL, O_FROM},
    {"to", required_argument, NULL, O_TO},
    {"appid", required_argument, NULL, O_APPID},
    {"reason", required_argument, NULL, O_REASON},
    {"limit", required_argument, NULL, O_LIMIT},
    {"dry-run", no_argument, NULL, O_DRY},
    {"idle-timeout-ms", required_argument, NULL, O_IDLE},
    {"flush-timeout-ms", required_argument, NULL, O_FLUSH},
    {"dedup-max-ids", required_argument, NULL, O_DEDUP},
    {"check-config", no_argument, NULL, O_CHECK},
    {"log-level", required_argument, NULL, O_LOG},
    {"help", no_argument, NULL, O_HELP},
    {"version", no_argument, NULL, O_VERSION},
    {NULL, 0, NULL, 0},
};

static int usage_error(FILE *errf, const char *msg, const char *arg)
{
    fprintf(errf, "wxbridge-replay: %s%s%s\n(wxbridge-replay --help lists the flags)\n", msg,
            arg ? ": " : "", arg ? arg : "");
    return 2;
}

/* A topic name (or prefix) of [A-Za-z0-9._-], 1..MAX bytes. */
static int valid_topic(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int parse_kind(const char *s, enum replay_kind *k)
{
    if (strcmp(s, "inbound-dlq") == 0)
        *k = REPLAY_INBOUND_DLQ;
    else if (strcmp(s, "replies-dlq") == 0)
        *k = REPLAY_REPLIES_DLQ;
    else if (strcmp(s, "reroute") == 0)
        *k = REPLAY_REROUTE;
    else
        return -1;
    return 0;
}

/* The checks that need every flag. Returns -1 (fine) or 2. */
static int check_combination(const struct replay_opts *o, FILE *errf)
{
    int reroute = o->kind == REPLAY_REROUTE;

    if (!o->brokers && !o->config && !(o->kind == REPLAY_INBOUND_DLQ && o->ingress_config))
        return usage_error(errf, "--brokers or --config is required", NULL);
    if (o->kind == REPLAY_INBOUND_DLQ && !o->ingress_config)
        return usage_error(errf, "inbound-dlq needs --ingress-config", NULL);
    if (o->kind != REPLAY_INBOUND_DLQ && o->ingress_config)
        return usage_error(errf, "--ingress-config is for inbound-dlq only", NULL);
    if (!reroute && (o->rules || o->prefix || o->into_live || o->no_replies || o->reply_topic))
        return usage_error(
            errf,
            "--rules, --to-topic-prefix, --into-live, --no-replies and --reply-topic are "
            "for reroute only",
            NULL);
    if (reroute && !o->prefix == !o->into_live)
        return usage_error(errf, "reroute needs exactly one of --to-topic-prefix and --into-live",
                           NULL);
    if (reroute && o->filter.nreasons)
        return usage_error(errf, "--reason is for the dead-letter commands only", NULL);
    if (reroute && o->output_topic)
        return usage_error(errf, "reroute takes --to-topic-prefix, not --output-topic", NULL);
    if (o->filter.from_ms != REPLAY_TIME_MIN && o->filter.to_ms != REPLAY_TIME_MAX &&
        o->filter.from_ms >= o->filter.to_ms)
        return usage_error(errf, "--from must be before --to", NULL);
    if (o->topic && o->output_topic && strcmp(o->topic, o->output_topic) == 0)
        return usage_error(errf, "--topic and --output-topic must differ", o->topic);
    return -1;
}

static int set_flag(struct replay_opts *o, int opt, const char *arg, FILE *errf)
{
    long long v;

    switch (opt) {
    case O_BROKERS:
        o->brokers = arg;
        break;
    case O_CONFIG:
        o->config = arg;
        break;
    case O_INGRESS:
        o->ingress_config = arg;
        break;
    case O_RULES:
        o->rules = arg;
        break;
    case O_PREFIX:
        if (!valid_topic(arg, PREFIX_MAX))
            return usage_error(errf, "--to-topic-prefix must be 1-200 characters of [A-Za-z0-9._-]",
                               arg);
        o->prefix = arg;
        break;
    case O_LIVE:
        o->into_live = 1;
        break;
    case O_NO_REPLIES:
        o->no_replies = 1;
        break;
    case O_TOPIC:
    case O_OUTPUT:
    case O_REPLY_TOPIC:
        if (!valid_topic(arg, ROUTE_TOPIC_MAX))
            return usage_error(errf, "not a topic name", arg);
        *(opt == O_TOPIC ? &o->topic : opt == O_OUTPUT ? &o->output_topic : &o->reply_topic) = arg;
        break;
    case O_FROM:
    case O_TO:
        if (replay_parse_time(arg, opt == O_FROM ? &o->filter.from_ms : &o->filter.to_ms) < 0)
            return usage_error(errf, "not an RFC 3339 time or unix milliseconds", arg);
        break;
    case O_APPID:
    case O_REASON:
        if (!*arg || (opt == O_APPID ? replay_filter_add_appid(&o->filter, arg)
                                     : replay_filter_add_reason(&o->filter, arg)) < 0)
            return usage_error(errf, "empty, or more than 16 --appid / --reason values", arg);
        break;
    case O_LIMIT:
    case O_IDLE:
    case O_FLUSH:
    case O_DEDUP:
        if (util_parse_ll(arg, 1, opt == O_DEDUP ? (1LL << 28) : (1LL << 40), &v) < 0)
            return usage_error(errf, "not a positive integer in range", arg);
        *(opt == O_LIMIT   ? &o->limit
          : opt == O_IDLE  ? &o->idle_timeout_ms
          : opt == O_FLUSH ? &o->flush_timeout_ms
                           : &o->dedup_max_ids) = v;
        break;
    case O_DRY:
        o->dry_run = 1;
        break;
    case O_CHECK:
        o->check_config = 1;
        break;
    case O_LOG:
        o->log_level = arg;
        break;
    default:
        return usage_error(errf, "unknown flag", NULL);
    }
    return -1;
}

int replay_opts_parse(int argc, char **argv, struct replay_opts *o, FILE *out, FILE *errf)
{
    int opt, rc;

    memset(o, 0, sizeof(*o));
    replay_filter_init(&o->filter);
    o->idle_timeout_ms = 30000;
    o->flush_timeout_ms = 60000;
    o->dedup_max_ids = 1 << 20;
    if (argc < 2)
        return usage_error(errf, "a subcommand is required", NULL);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_text, out);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        fprintf(out, "wxbridge-replay %s\n", WXB_VERSION);
        return 0;
    }
    if (parse_kind(argv[1], &o->kind) < 0)
        return usage_error(errf, "unknown subcommand", argv[1]);
    o->command = argv[1];
    optind = 0; /* GNU: full reinitialisation (tests parse several command lines) */
    opterr = 0;
    while ((opt = getopt_long(argc - 1, argv + 1, "", k_opts, NULL)) != -1) {
        if (opt == O_HELP) {
            fputs(usage_text, out);
            return 0;
        }
        if (opt == O_VERSION) {
            fprintf(out, "wxbridge-replay %s\n", WXB_VERSION);
            return 0;
        }
        if (opt == '?' || opt == ':')
            return usage_error(errf, "unknown flag or missing value",
                               optind >= 1 && optind <= argc - 1 ? argv[optind] : NULL);
        rc = set_flag(o, opt, optarg, errf);
        if (rc >= 0)
            return rc;
    }
    if (optind < argc - 1)
        return usage_error(errf, "unexpected argument", argv[optind + 1]);
    return check_combination(o, errf);
}
