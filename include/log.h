/* SPDX-License-Identifier: ISC */
/*
 * Logging: one line per event with timestamp, pid, level, an optional connection tag and a
 * lowercase message. Destinations are stderr (unless quiet), a log file and syslog, set by
 * log_configure() from the config snapshot; log_reopen() reopens the file after a reload.
 */
#pragma once

#include "common.h"

enum log_level {
	LOG_LVL_FATAL,
	LOG_LVL_ERROR,
	LOG_LVL_WARNING,
	LOG_LVL_LOG,   /* normal operational messages */
	LOG_LVL_DEBUG, /* verbose >= 1 */
	LOG_LVL_NOISE, /* verbose >= 2 */
};

struct log_settings {
	const char *logfile; /* "" = none */
	bool syslog;
	const char *syslog_ident;
	const char *syslog_facility;
	bool quiet; /* no stderr */
	int verbose;
};

/* Applies settings; reopens the log file when its name changed. False if it cannot be opened. */
MUST_CHECK bool log_configure(const struct log_settings *s);
void log_reopen(void);
bool log_enabled(enum log_level lvl);
bool log_is_quiet(void);

/* tag is a connection tag such as "C-12 db/user@1.2.3.4:5678", or NULL. */
void log_msg(enum log_level lvl, const char *tag, const char *fmt, ...) PRINTF_FMT(3, 4);

#define log_fatal(...)	 log_msg(LOG_LVL_FATAL, NULL, __VA_ARGS__)
#define log_error(...)	 log_msg(LOG_LVL_ERROR, NULL, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, NULL, __VA_ARGS__)
#define log_info(...)	 log_msg(LOG_LVL_LOG, NULL, __VA_ARGS__)
#define log_debug(...)                                             \
	do {                                                       \
		if (log_enabled(LOG_LVL_DEBUG))                    \
			log_msg(LOG_LVL_DEBUG, NULL, __VA_ARGS__); \
	} while (0)

/* Logs at FATAL and exits with status 1. Start-up only. */
NORETURN void die(const char *fmt, ...) PRINTF_FMT(1, 2);
