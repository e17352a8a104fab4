/*
 * mhd_tuning: the libmicrohttpd settings of the ingress, shared with
 * wxbridge-bench-ceiling so that the benchmark's ceiling runs exactly the
 * same HTTP machinery and the ratio measures only what the ingress adds.
 */
#ifndef WXB_MHD_TUNING_H
#define WXB_MHD_TUNING_H

#include <microhttpd.h>

/* epoll worker pool; suspended connections are resumed from other threads. */
#define WXB_MHD_FLAGS                                                                              \
    (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC)

/*
 * Per-connection memory pool. MHD clears the pool between requests, so its
 * size is paid on every request (the 32 KiB default was ~5% of the ingress's
 * CPU); WeChat's requests have a few hundred bytes of headers, and bodies are
 * copied out as they stream in.
 */
#define WXB_MHD_CONN_MEMORY ((size_t)8192)

/* The options after MHD_OPTION_SOCK_ADDR and the thread count. */
#define WXB_MHD_COMMON_OPTIONS                                                                     \
    MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,                        \
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,                 \
        WXB_MHD_CONN_MEMORY

#endif
