/*
 * ceiling_server: the benchmark's ceiling. A libmicrohttpd daemon started with
 * exactly the daemon flags and options of wxbridge-ingress that reads every
 * request body and answers 200 "success" without doing anything else, so a
 * load run against it measures what MHD plus the kernel can do on this
 * machine: the best any ingress built on the same configuration could reach.
 */
#ifndef WXB_CEILING_SERVER_H
#define WXB_CEILING_SERVER_H

#include <stddef.h>

typedef struct ceiling_server ceiling_server;

/*
 * Starts the daemon on LISTEN ("host:port", IPv4 literal, "localhost" or
 * "[v6]:port"; port 0 picks a free one) with a pool of THREADS polling threads
 * (1..256). On success *OUT owns the running daemon (stop it with
 * ceiling_server_stop) and 0 is returned; otherwise -1 with a message in ERR.
 */
int ceiling_server_start(const char *listen, unsigned threads, ceiling_server **out, char *err,
                         size_t errlen);

/* The bound URL, "http://127.0.0.1:PORT" (the real port, even when 0 was asked). Borrowed. */
const char *ceiling_server_url(const ceiling_server *s);

/* Requests answered so far (all threads). */
unsigned long long ceiling_server_requests(const ceiling_server *s);

/* Stops the daemon (waits for its threads) and frees S. NULL-safe. */
void ceiling_server_stop(ceiling_server *s);

#endif
