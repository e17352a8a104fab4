/*
 * sim_api: the `wxbridge-sim api` subcommand, a fake WeChat API for local
 * runs, tests and benchmarks (fake_wechat behind sim_api_http).
 */
#ifndef WXB_SIM_API_H
#define WXB_SIM_API_H

#include "sim_opts.h"

/*
 * Loads and validates --config (none: every default), serves until
 * SIGTERM/SIGINT, writes the base URL to --ready-file once listening.
 * With --check-config only validates. Returns the process exit code:
 * 0 after a clean stop (or a valid config), 1 on a configuration or start
 * error.
 */
int sim_api_run(const struct sim_opts *o);

#endif
