/*
 * wxbridge-devbroker: librdkafka's mock Kafka cluster as a long-running
 * process, for local runs and tests, with an HTTP admin endpoint for fault
 * injection (see admin_http.h). Writes its bootstrap list to --ready-file
 * once brokers, topics and the admin endpoint are all up.
 *
 * Exit status: 0 after SIGTERM/SIGINT or a passing --check-config, 1 when the
 * config is invalid or start-up fails, 2 for a command-line mistake.
 */
#include "admin_http.h"
#include "devbroker_conf.h"
#include "jsonconf.h"
#include "log.h"
#include "mock_cluster.h"
#include "util.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROG "wxbridge-devbroker"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " [options]\n"
               "  --config FILE            JSON config: brokers, partitions, topics, admin_listen\n"
               "  --brokers N              number of brokers (default 3)\n"
               "  --partitions N           default partitions of created topics (default 3)\n"
               "  --topic NAME[:PARTS]     pre-create a topic (repeatable)\n"
               "  --ready-file PATH        write the bootstrap list here once ready\n"
               "  --admin-listen HOST:PORT admin HTTP address (default 127.0.0.1:0)\n"
               "  --admin-ready-file PATH  write the admin base URL here once ready\n"
               "  --log-level LEVEL        debug|info|warn|error (default info)\n"
               "  --check-config           validate the config, print problems, exit\n"
               "  --help, --version\n");
}

/* Parses a numeric flag into *OUT; returns 0 or -1 after saying what is wrong. */
static int flag_int(const char *v, long long max, int *out)
{
    long long n;

    if (util_parse_ll(v, 1, max, &n) < 0) {
        fprintf(stderr, PROG ": \"%s\" must be a number between 1 and %lld\n", v, max);
        return -1;
    }
    *out = (int)n;
    return 0;
}

/* Creates every configured topic; returns 0 or -1 after logging. */
static int create_topics(struct mock_cluster *mc, const struct devbroker_conf *c)
{
    char err[256], parts[16];

    for (int i = 0; i < c->ntopics; i++) {
        int n = c->topics[i].partitions ? c->topics[i].partitions : c->partitions;
        if (mock_cluster_topic_create(mc, c->topics[i].name, n, err, sizeof(err)) < 0) {
            log_event(LOG_ERROR, "topic_create_failed", "topic", c->topics[i].name, "err", err,
                      NULL);
            return -1;
        }
        snprintf(parts, sizeof(parts), "%d", n);
        log_event(LOG_DEBUG, "topic_created", "topic", c->topics[i].name, "#partitions", parts,
                  NULL);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"brokers", required_argument, NULL, 'b'},
        {"partitions", required_argument, NULL, 'p'},
        {"topic", required_argument, NULL, 't'},
        {"ready-file", required_argument, NULL, 'r'},
        {"admin-listen", required_argument, NULL, 'a'},
        {"admin-ready-file", required_argument, NULL, 'A'},
        {"log-level", required_argument, NULL, 'l'},
        {"check-config", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    /* Both are large (~32 KiB, ~1 KiB) and live for the whole run. */
    static struct devbroker_conf conf;
    static struct devbroker_overrides ov;
    const char *config = NULL, *ready = NULL, *admin_ready = NULL;
    int check = 0, rc = 1, started = 0, opt;
    enum log_level level = LOG_INFO;
    struct jc_errs errs = {0};
    struct mock_cluster *mc = NULL;
    struct admin_http *admin = NULL;
    char err[512], *save = NULL;
    struct sigaction sa;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'c') {
            config = optarg;
        } else if (opt == 'r') {
            ready = optarg;
        } else if (opt == 'A') {
            admin_ready = optarg;
        } else if (opt == 'a') {
            ov.admin_listen = optarg;
        } else if (opt == 'C') {
            check = 1;
        } else if (opt == 'b') {
            if (flag_int(optarg, MOCK_CLUSTER_BROKERS_MAX, &ov.brokers) < 0)
                return 2;
        } else if (opt == 'p') {
            if (flag_int(optarg, MOCK_CLUSTER_PARTITIONS_MAX, &ov.partitions) < 0)
                return 2;
        } else if (opt == 't') {
            if (ov.ntopics == DEVBROKER_TOPICS_MAX) {
                fprintf(stderr, PROG ": more than %d --topic flags\n", DEVBROKER_TOPICS_MAX);
                return 2;
            }
            ov.topics[ov.ntopics++] = optarg;
        } else if (opt == 'l') {
            if (log_level_parse(optarg, &level) < 0) {
                fprintf(stderr, PROG ": --log-level must be debug, info, warn or error\n");
                return 2;
            }
        } else if (opt == 'h') {
            usage(stdout);
            return 0;
        } else if (opt == 'V') {
            printf(PROG " " WXB_VERSION "\n");
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    log_init(PROG, level);

    devbroker_conf_load(&conf, config, &ov, &errs);
    /* --check-config prints plain lines for people; a service logs JSON. */
    for (char *line = strtok_r(errs.text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (check)
            fprintf(stderr, "%s\n", line);
        else
            log_event(LOG_ERROR, "config_invalid", "problem", line, NULL);
    }
    if (errs.count || check) {
        if (errs.count == 0)
            printf("config ok\n");
        return errs.count ? 1 : 0;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (mock_cluster_new(conf.brokers, &mc, err, sizeof(err)) < 0) {
        log_event(LOG_ERROR, "mock_cluster_failed", "err", err, NULL);
        goto out;
    }
    if (create_topics(mc, &conf) < 0)
        goto out;
    if (admin_http_start(conf.admin_listen, mc, conf.partitions, &admin, err, sizeof(err)) < 0) {
        log_event(LOG_ERROR, "admin_listen_failed", "err", err, NULL);
        goto out;
    }
    /* Admin URL first: once the bootstrap ready file exists, everything is up. */
    if ((admin_ready && util_write_ready_file(admin_ready, admin_http_url(admin)) < 0) ||
        (ready && util_write_ready_file(ready, mock_cluster_bootstrap(mc)) < 0)) {
        log_event(LOG_ERROR, "ready_file_failed", "path", ready, "admin_path", admin_ready, NULL);
        goto out;
    }
    started = 1;
    snprintf(err, sizeof(err), "%d", conf.ntopics);
    log_event(LOG_INFO, "devbroker_ready", "bootstrap", mock_cluster_bootstrap(mc), "admin",
              admin_http_url(admin), "#topics", err, NULL);

    /* A signal may land on any thread, so poll the flag rather than pause(). */
    while (!g_stop) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    rc = 0;
out:
    /* Admin first (no callback may still use the cluster), then the cluster. */
    admin_http_stop(admin);
    mock_cluster_destroy(mc);
    if (started) {
        /* Stale ready files would point the next reader at dead ports. */
        if (ready)
            unlink(ready);
        if (admin_ready)
            unlink(admin_ready);
        log_event(LOG_INFO, "devbroker_stopped", NULL);
    }
    return rc;
}
