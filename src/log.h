/*
 * Logging for the daemon and the command-line programs.  Libraries
 * (pkcs11/, libanchor-verify, the store) never log; their callers do, with
 * the function name, and cap untrusted strings ("%.100s").
 */
#ifndef ANCHOR_LOG_H
#define ANCHOR_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <syslog.h>

/* Set the program name; to_syslog sends lines to syslog instead of stderr. */
void anchor_log_init(const char *progname, bool to_syslog);
void anchor_log_set_verbose(bool verbose);

void anchor_log(int priority, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define error_f(...)	anchor_log(LOG_ERR, __func__, __VA_ARGS__)
#define warn_f(...)	anchor_log(LOG_WARNING, __func__, __VA_ARGS__)
#define info_f(...)	anchor_log(LOG_INFO, __func__, __VA_ARGS__)
#define debug_f(...)	anchor_log(LOG_DEBUG, __func__, __VA_ARGS__)

/*
 * The start every command-line program shares: logging set up, the global
 * options (-c FILE, -v, -h) read, and argc and argv moved to the command
 * (argv[0] is the command name; getopt is reset for its options).  Returns
 * -1 to go on, or the exit status to end with (usage printed).
 */
int anchor_cli_start(int *argc, char ***argv, const char **config,
    void (*usage)(FILE *));

/* The program name given to anchor_log_init(). */
const char *anchor_progname(void);

#endif /* ANCHOR_LOG_H */
