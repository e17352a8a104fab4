/*
 * wxbridge-bench-ceiling: runs ceiling_server until SIGTERM/SIGINT.
 *
 * The benchmark's ceiling: point `wxbridge-sim load` at it to learn how many
 * requests per second libmicrohttpd, configured exactly like the ingress, can
 * answer on this machine when the handler does nothing.
 */
#include "ceiling_server.h"
#include "log.h"
#include "util.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: wxbridge-bench-ceiling [--listen HOST:PORT] [--threads N] [--ready-file PATH]\n"
          "\n"
          "A libmicrohttpd server configured exactly like wxbridge-ingress that answers\n"
          "200 \"success\" to every request (the ceiling for benchmarks).\n"
          "\n"
          "  --listen HOST:PORT   bind address (default 127.0.0.1:0, a free port)\n"
          "  --threads N          MHD thread pool size (default 2)\n"
          "  --ready-file PATH    write http://HOST:PORT to PATH once serving\n"
          "  --help, --version\n"
          "SIGTERM or SIGINT stops it.\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},     {"threads", required_argument, NULL, 't'},
        {"ready-file", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},          {NULL, 0, NULL, 0},
    };
    const char *listen = "127.0.0.1:0", *ready_file = NULL;
    long long threads = 2;
    ceiling_server *srv = NULL;
    char err[256], num[32];
    sigset_t set;
    int c, sig, rc = 1;

    log_init("wxbridge-bench-ceiling", LOG_INFO);
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 't':
            if (util_parse_ll(optarg, 1, 256, &threads) < 0) {
                fprintf(stderr, "--threads: want 1..256\n");
                return 2;
            }
            break;
        case 'r':
            ready_file = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            puts("wxbridge-bench-ceiling " WXB_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    /* Block the stop signals before MHD starts its threads so that they all
     * inherit the mask and only sigwait() below receives them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (ceiling_server_start(listen, (unsigned)threads, &srv, err, sizeof(err)) < 0) {
        log_event(LOG_ERROR, "start_failed", "err", err, NULL);
        goto out;
    }
    if (ready_file) {
        int wrc = util_write_ready_file(ready_file, ceiling_server_url(srv));
        if (wrc < 0) {
            log_event(LOG_ERROR, "ready_file_failed", "path", ready_file, "err", strerror(-wrc),
                      NULL);
            goto out;
        }
    }
    snprintf(num, sizeof(num), "%lld", threads);
    log_event(LOG_INFO, "ready", "url", ceiling_server_url(srv), "#threads", num, NULL);
    sigwait(&set, &sig);
    rc = 0;
out:
    if (srv) {
        snprintf(num, sizeof(num), "%llu", ceiling_server_requests(srv));
        ceiling_server_stop(srv);
        log_event(LOG_INFO, "stopped", "#requests", num, NULL);
    }
    return rc;
}
