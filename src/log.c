#include "config.h"

#include <stdio.h>
#include <string.h>

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
