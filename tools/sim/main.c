/*
 * wxbridge-sim: the WeChat side of wxbridge, for local runs, tests and
 * benchmarks. main() only dispatches on the subcommand; each subcommand
 * lives in its own module (sim_push, sim_load, sim_api).
 */
#include "log.h"
#include "sim_api.h"
#include "sim_load.h"
#include "sim_opts.h"
#include "sim_push.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

struct subcommand {
    const char *name;
    enum sim_cmd cmd;
    int (*run)(const struct sim_opts *o);
    const char *summary;
};

static const struct subcommand subcommands[] = {
    {"push", SIM_CMD_PUSH, sim_push_run, "send one signed/encrypted push as WeChat does"},
    {"load", SIM_CMD_LOAD, sim_load_run, "push load generator (keep-alive, pre-built requests)"},
    {"api", SIM_CMD_API, sim_api_run, "fake WeChat API (tokens, send, typing, media, faults)"},
};

#define NSUB (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *f)
{
    fputs("usage: wxbridge-sim SUBCOMMAND [flags]   (SUBCOMMAND --help for its flags)\n\n", f);
    for (size_t i = 0; i < NSUB; i++)
        fprintf(f, "  %-6s %s\n", subcommands[i].name, subcommands[i].summary);
    fputs("\n  --help, --version\n", f);
}

int main(int argc, char **argv)
{
    const struct subcommand *sub = NULL;
    struct sim_opts opts;
    char err[256];
    int rc;

    log_init("wxbridge-sim", LOG_INFO);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        puts("wxbridge-sim " WXB_VERSION);
        return 0;
    }
    for (size_t i = 0; i < NSUB; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            sub = &subcommands[i];
    if (!sub) {
        fprintf(stderr, "wxbridge-sim: unknown subcommand '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    rc = sim_opts_parse(sub->cmd, argc - 1, argv + 1, &opts, err, sizeof(err));
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "wxbridge-sim %s: %s (try --help)\n", sub->name, err);
        return rc < 0 ? 2 : 0;
    }
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
        fprintf(stderr, "wxbridge-sim: curl_global_init failed\n");
        return 1;
    }
    rc = sub->run(&opts);
    curl_global_cleanup();
    return rc;
}
