/*
 * sim_push: the `wxbridge-sim push` subcommand. Sends one push (or the GET
 * URL check) to an app URL exactly as the WeChat server would, with libcurl,
 * and prints one JSON line per response on stdout.
 */
#ifndef WXB_SIM_PUSH_H
#define WXB_SIM_PUSH_H

#include "sim_opts.h"

/*
 * Runs the push described by O (parsed for SIM_CMD_PUSH): --count identical
 * requests on one keep-alive connection, each answer printed as
 * {"status":200,"body":"success","ms":1.2} ({"status":0,"error":..} when the
 * transport failed). Needs curl_global_init() done. Returns the process exit
 * code: 0 when every answer was 200 with body "success" (the echostr for
 * --verify), 1 otherwise, 2 when the request could not be built from the
 * flags (e.g. an unreadable --file).
 */
int sim_push_run(const struct sim_opts *o);

#endif
