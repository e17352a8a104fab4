/*
 * sim_load: the `wxbridge-sim load` subcommand. Builds a pool of distinct,
 * fully signed (and encrypted) push requests before the clock starts, drives
 * them through load_engine, and prints requests, ok, non-success answers by
 * status, transport errors by kind, elapsed time, rps and latency
 * percentiles (from every sample, via lat_hist).
 */
#ifndef WXB_SIM_LOAD_H
#define WXB_SIM_LOAD_H

#include "sim_opts.h"

/*
 * Runs the load described by O (parsed for SIM_CMD_LOAD) against O->url,
 * which must be http://IPv4:PORT/..., http://localhost:PORT/... or
 * http://[IPv6]:PORT/... (no DNS: load runs only target this machine).
 * SIGINT/SIGTERM stop it early (the summary is still printed). Returns the
 * process exit code: 0 when every request got 200 "success", 1 otherwise,
 * 2 when the flags cannot be turned into a run.
 */
int sim_load_run(const struct sim_opts *o);

#endif
