/* SPDX-License-Identifier: ISC */
/*
 * Log output. Owns the log file handle and the syslog connection; everything else calls
 * log_msg(). A line reads
 *   2026-11-22 04:20:01.123 UTC [1234] LOG C-12 db/user@127.0.0.1:5555 closing because: ...
 * so that the grep patterns operators use on PgBouncer logs keep working.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* The one piece of logging state: written at start-up and on reload, read by log_msg(). */
static struct {
	FILE *file;
	char *path;
	bool use_syslog;
	bool quiet;
	int verbose;
} logstate;

static const char *const level_names[] = {
	[LOG_LVL_FATAL] = "FATAL", [LOG_LVL_ERROR] = "ERROR", [LOG_LVL_WARNING] = "WARNING",
	[LOG_LVL_LOG] = "LOG",	   [LOG_LVL_DEBUG] = "DEBUG", [LOG_LVL_NOISE] = "NOISE",
};

static const int syslog_prio[] = {
	[LOG_LVL_FATAL] = LOG_CRIT, [LOG_LVL_ERROR] = LOG_ERR,	 [LOG_LVL_WARNING] = LOG_WARNING,
	[LOG_LVL_LOG] = LOG_INFO,   [LOG_LVL_DEBUG] = LOG_DEBUG, [LOG_LVL_NOISE] = LOG_DEBUG,
};

static const struct {
	const char *name;
	int facility;
} facilities[] = {
	{ "auth", LOG_AUTH },	  { "authpriv", LOG_AUTHPRIV }, { "daemon", LOG_DAEMON },
	{ "user", LOG_USER },	  { "local0", LOG_LOCAL0 },	{ "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },	{ "local4", LOG_LOCAL4 },
	{ "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 },	{ "local7", LOG_LOCAL7 },
};

static int facility_by_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(facilities); i++)
		if (name && strcasecmp(name, facilities[i].name) == 0)
			return facilities[i].facility;
	return LOG_DAEMON;
}

static bool open_logfile(const char *path)
{
	FILE *f = fopen(path, "a");

	if (!f) {
		fprintf(stderr, "cannot open logfile \"%s\": %s\n", path, strerror(errno));
		return false;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	if (logstate.file)
		fclose(logstate.file);
	logstate.file = f;
	return true;
}

bool log_configure(const struct log_settings *s)
{
	const char *path = s->logfile ? s->logfile : "";

	logstate.quiet = s->quiet;
	logstate.verbose = s->verbose;
	if (!*path) {
		if (logstate.file)
			fclose(logstate.file);
		logstate.file = NULL;
	} else if (!logstate.path || strcmp(path, logstate.path) != 0) {
		if (!open_logfile(path))
			return false;
	}
	free(logstate.path);
	logstate.path = *path ? xstrdup(path) : NULL;
	if (s->syslog && !logstate.use_syslog)
		openlog(s->syslog_ident, LOG_PID, facility_by_name(s->syslog_facility));
	else if (!s->syslog && logstate.use_syslog)
		closelog();
	logstate.use_syslog = s->syslog;
	return true;
}

void log_reopen(void)
{
	if (logstate.path)
		(void)open_logfile(logstate.path);
}

bool log_enabled(enum log_level lvl)
{
	return lvl <= LOG_LVL_LOG || (int)lvl - LOG_LVL_LOG <= logstate.verbose;
}

bool log_is_quiet(void)
{
	return logstate.quiet;
}

static size_t format_time(char *buf, size_t cap)
{
	struct timeval tv;
	struct tm tm;
	size_t n;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	n = strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
	n += (size_t)snprintf(buf + n, cap - n, ".%03d ", (int)(tv.tv_usec / 1000));
	n += strftime(buf + n, cap - n, "%Z", &tm);
	return n;
}

static void log_vmsg(enum log_level lvl, const char *tag, const char *fmt, va_list ap)
{
	char msg[2048], ts[64];
	int saved_errno = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	format_time(ts, sizeof(ts));
	if (!logstate.quiet)
		fprintf(stderr, "%s [%d] %s %s%s%s\n", ts, (int)getpid(), level_names[lvl],
			tag ? tag : "", tag ? " " : "", msg);
	if (logstate.file)
		fprintf(logstate.file, "%s [%d] %s %s%s%s\n", ts, (int)getpid(), level_names[lvl],
			tag ? tag : "", tag ? " " : "", msg);
	if (logstate.use_syslog)
		syslog(syslog_prio[lvl], "%s %s%s%s", level_names[lvl], tag ? tag : "",
		       tag ? " " : "", msg);
	errno = saved_errno;
}

void log_msg(enum log_level lvl, const char *tag, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	log_vmsg(lvl, tag, fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_FATAL, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
