/*
 * sim_opts: the command-line flags shared by the wxbridge-sim subcommands.
 *
 * One table lists every flag with the subcommands that accept it, its help
 * text and its target; sim_opts_parse() applies it, checks values and the
 * flags' consistency (safe/compat need an AES key, ...), and fills the
 * defaults that are random or depend on the clock. Option strings are
 * borrowed from argv.
 */
#ifndef WXB_SIM_OPTS_H
#define WXB_SIM_OPTS_H

#include "push_builder.h"
#include "wx_crypto.h"

#include <stdint.h>
#include <stdio.h>

/* Subcommands (bit flags, so a flag can belong to several). */
enum sim_cmd { SIM_CMD_PUSH = 1, SIM_CMD_LOAD = 2, SIM_CMD_API = 4 };

struct sim_opts {
    enum sim_cmd cmd;
    /* the app */
    const char *url, *token, *aes_key;
    char appid[WXC_APPID_MAX + 1]; /* --appid, or the last segment of --url's path */
    struct wx_aes_key key;         /* decoded --aes-key (have_key) */
    int have_key;
    enum pb_mode mode;
    enum pb_format format;
    enum pb_type type;
    /* the message */
    const char *file;      /* plaintext document to send instead of a generated one */
    struct pb_message msg; /* strings borrowed from argv, static samples or this struct */
    char msg_id_buf[24];   /* the random default MsgId */
    int msg_id_set;        /* --msg-id given (push) */
    int create_time_set;   /* --create-time given */
    /* the query */
    char timestamp[24], nonce[64];
    int timestamp_set, nonce_set;
    unsigned corrupt; /* PB_CORRUPT_* */
    long long timeout_ms;
    /* push */
    long long count;
    int verify, print_request;
    /* load */
    long long concurrency, duration_s, max_requests, pool, threads, users;
    int duration_set, json;
    /* api (threads above: its HTTP worker threads) */
    const char *listen, *ready_file, *config, *log_level;
    int check_config, threads_set;
};

/*
 * Parses ARGV[1..ARGC) (ARGV[0] is the subcommand's name) for CMD into O,
 * then fills defaults: random --msg-id and --nonce, the current time for
 * --create-time and --timestamp. Returns 0 when O is ready, 1 when --help
 * was printed to stdout (exit 0), -1 on a usage error with a message in ERR
 * (exit 2). O points into itself (msg.app_id, msg.msg_id): do not copy it.
 */
int sim_opts_parse(enum sim_cmd cmd, int argc, char **argv, struct sim_opts *o, char *err,
                   size_t errlen);

/* Prints CMD's usage (flags from the table) to F. */
void sim_opts_usage(enum sim_cmd cmd, FILE *f);

/* Fills P from O for building requests (random = NULL: OpenSSL's). P borrows from O. */
void sim_opts_params(const struct sim_opts *o, struct pb_params *p);

/*
 * The plaintext document the flags ask for: --file's bytes (at most
 * PB_DOC_MAX), or pb_document(M, O->format). *DOC is malloc'd and
 * NUL-terminated, owned by the caller. Returns 0, or -1 with ERR set.
 */
int sim_opts_document(const struct sim_opts *o, const struct pb_message *m, char **doc,
                      size_t *doc_len, char *err, size_t errlen);

/* 64 random bits from the kernel (getrandom). */
uint64_t sim_rand_u64(void);

/* Writes a random MsgId-like decimal in [2^62, 2^63) (above 2^53, below LLONG_MAX) into OUT. */
void sim_rand_msg_id(char *out, size_t outlen);

/* Writes a random 10-digit nonce, like WeChat's, into OUT. */
void sim_rand_nonce(char *out, size_t outlen);

#endif
