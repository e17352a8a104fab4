/*
 * util: small helpers every program shares (clocks, ready files, addresses).
 */
#ifndef WXB_UTIL_H
#define WXB_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic milliseconds (for deadlines and latencies). */
int64_t util_mono_ms(void);
/* Monotonic microseconds. */
int64_t util_mono_us(void);
/* Sleeps MS milliseconds (restarting after signals). */
void util_sleep_ms(int64_t ms);

/* Wall-clock milliseconds since the epoch (for records). */
int64_t util_wall_ms(void);

/*
 * Writes LINE and a newline to PATH atomically (temp file + rename), so a
 * reader polling for PATH never sees a partial line. Returns 0 or -errno.
 */
int util_write_ready_file(const char *path, const char *line);

/*
 * Splits "host:port" (IPv4 literal or "localhost"; "[::1]:port" for IPv6)
 * into HOST (HOSTLEN bytes) and *PORT. Port 0 is allowed (pick a free one).
 * Returns 0 or -1.
 */
int util_parse_hostport(const char *s, char *host, size_t hostlen, unsigned *port);

/* strtoll over the whole string with range check; returns 0 or -1. */
int util_parse_ll(const char *s, long long min, long long max, long long *out);

/* Lowercase hex of N bytes into OUT (2N+1 bytes). */
void util_hex(const unsigned char *in, size_t n, char *out);

#endif
