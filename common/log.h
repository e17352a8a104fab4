/*
 * log: one JSON object per line on stderr, with a stable event name.
 *
 *   log_event(LOG_WARN, "kafka_delivery_failed", "topic", topic, "err", msg, NULL);
 *
 * Fields are key/value string pairs ended by NULL; values are JSON-escaped.
 * A key that starts with '#' marks a value that is already a JSON number or
 * literal and is copied as-is (the '#' is dropped). The level is checked
 * before anything is formatted. Lines are written with one write(2) so
 * concurrent threads never interleave. Never pass a secret.
 */
#ifndef WXB_LOG_H
#define WXB_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Sets the process-wide minimum level and the "prog" field of every line. */
void log_init(const char *prog, enum log_level min);

/* Parses "debug", "info", "warn" or "error"; returns 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);

int log_enabled(enum log_level lvl);

/* Emits one line: {"ts":..,"level":..,"prog":..,"event":..,<fields>}. */
void log_event(enum log_level lvl, const char *event, ...) __attribute__((sentinel));

#endif
