/*
 * cli: the command line every wxbridge service program takes —
 * --config FILE, --ready-file PATH, --check-config, --log-level LEVEL,
 * --help, --version — parsed the same way everywhere.
 */
#ifndef WXB_CLI_H
#define WXB_CLI_H

struct cli_opts {
    const char *config;     /* required */
    const char *ready_file; /* NULL if not given */
    const char *log_level;  /* NULL: the config's */
    int check_config;
};

/*
 * Parses ARGV for PROG (e.g. "wxbridge-router"); SUMMARY is the one-line
 * description --help prints. Returns -1 when the program should go on, or
 * the exit code to return at once (0 after --help/--version, 2 on a usage
 * error, with the usage printed).
 */
int cli_parse(int argc, char **argv, const char *prog, const char *summary, struct cli_opts *o);

#endif
