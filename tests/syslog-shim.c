/*
 * A stand-in for syslog(3) in tests: LD_PRELOAD it and every message goes,
 * one line each with its priority, to the file named by ANCHOR_SYSLOG_FILE.
 * Test machines run no syslog daemon.
 */
#include "config.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

void
vsyslog(int priority, const char *fmt, va_list ap)
{
	const char *path = getenv("ANCHOR_SYSLOG_FILE");
	char msg[4096];
	int fd, n;

	if (path == NULL)
		return;
	n = snprintf(msg, sizeof(msg), "<%d> ", priority);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return;
	vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	strcat(msg, "\n");
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return;
	if (write(fd, msg, strlen(msg)) < 0)
		n = 0;
	close(fd);
}

void
syslog(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsyslog(priority, fmt, ap);
	va_end(ap);
}

/* What _FORTIFY_SOURCE builds call instead of syslog(3). */
void __syslog_chk(int priority, int flag, const char *fmt, ...);
void __vsyslog_chk(int priority, int flag, const char *fmt, va_list ap);

void
__vsyslog_chk(int priority, int flag, const char *fmt, va_list ap)
{
	(void)flag;
	vsyslog(priority, fmt, ap);
}

void
__syslog_chk(int priority, int flag, const char *fmt, ...)
{
	va_list ap;

	(void)flag;
	va_start(ap, fmt);
	vsyslog(priority, fmt, ap);
	va_end(ap);
}

void
openlog(const char *ident, int option, int facility)
{
	(void)ident;
	(void)option;
	(void)facility;
}

void
closelog(void)
{
}
