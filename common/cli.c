/*
 * cli: shared command-line parsing. See cli.h.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f, const char *prog, const char *summary)
{
    fprintf(f,
            "usage: %s --config FILE [--ready-file PATH] [--check-config]\n"
            "       [--log-level debug|info|warn|error] [--help] [--version]\n"
            "%s\n",
            prog, summary);
}

int cli_parse(int argc, char **argv, const char *prog, const char *summary, struct cli_opts *o)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"ready-file", required_argument, NULL, 'r'},
        {"check-config", no_argument, NULL, 'k'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    memset(o, 0, sizeof(*o));
    while ((opt = getopt_long(argc, argv, "c:r:kl:hv", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            o->config = optarg;
            break;
        case 'r':
            o->ready_file = optarg;
            break;
        case 'k':
            o->check_config = 1;
            break;
        case 'l':
            o->log_level = optarg;
            break;
        case 'h':
            usage(stdout, prog, summary);
            return 0;
        case 'v':
            printf("%s %s\n", prog, WXB_VERSION);
            return 0;
        default:
            usage(stderr, prog, summary);
            return 2;
        }
    }
    if (!o->config || optind != argc) {
        usage(stderr, prog, summary);
        return 2;
    }
    return -1;
}
