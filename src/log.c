#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *progname = "anchor";
static bool use_syslog;
static bool verbose;

void
anchor_log_init(const char *name, bool to_syslog)
{
	const char *slash = strrchr(name, '/');

	progname = slash ? slash + 1 : name;
	use_syslog = to_syslog;
	if (use_syslog)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
anchor_log_set_verbose(bool v)
{
	verbose = v;
}

const char *
anchor_progname(void)
{
	return progname;
}

void
anchor_log(int priority, const char *func, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (priority == LOG_DEBUG && !verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (use_syslog) {
		syslog(priority, "%s: %s", func, msg);
		return;
	}
	/* Operators read stderr: the function name only when debugging. */
	if (verbose)
		fprintf(stderr, "%s: %s: %s\n", progname, func, msg);
	else
		fprintf(stderr, "%s: %s\n", progname, msg);
}

int
anchor_cli_start(int *argc, char ***argv, const char **config,
    void (*usage)(FILE *))
{
	int c;

	anchor_log_init((*argv)[0], false);
	/* Options before the command only: "+" stops at the first operand. */
	while ((c = getopt(*argc, *argv, "+c:vh")) != -1) {
		switch (c) {
		case 'c':
			*config = optarg;
			break;
		case 'v':
			anchor_log_set_verbose(true);
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= *argc) {
		usage(stderr);
		return 2;
	}
	*argc -= optind;
	*argv += optind;
	optind = 1;
	return -1;
}
