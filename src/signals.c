/* SPDX-License-Identifier: ISC */
/*
 * Signal handling through libevent (the handlers run as ordinary loop callbacks, so they
 * may touch any state) and reload. A reload parses and validates the whole file first; a
 * bad file or auth_file is reported with file:line and the running config stays.
 */
#include <event2/event.h>
#include <signal.h>
#include <string.h>

#include "auth_file.h"
#include "config.h"
#include "deadline.h"
#include "dns.h"
#include "janitor.h"
#include "listener.h"
#include "log.h"
#include "pool.h"
#include "pool_sched.h"
#include "registry.h"
#include "signals.h"
#include "worker.h"

static const int handled[] = { SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2 };

struct signals {
	struct event *ev[ARRAY_SIZE(handled)]; /* owned */
};

bool weir_reload(struct worker *w)
{
	struct registry *reg = w->reg;
	struct auth_file *auth = NULL;
	struct config *cfg;
	char err[512];

	cfg = config_load(reg->conffile, err, sizeof(err));
	if (!cfg) {
		log_error("reload failed, keeping the old config: %s", err);
		return false;
	}
	if (cfg->auth_file[0] && !(auth = auth_file_load(cfg->auth_file, err, sizeof(err)))) {
		log_error("reload failed, keeping the old config: %s", err);
		config_unref(cfg);
		return false;
	}
	registry_apply(reg, cfg, auth);
	deadline_refile_all(w);
	dns_set_ttls(w->dns, cfg->dns_max_ttl, cfg->dns_nxdomain_ttl);
	{
		struct log_settings ls = { .logfile = cfg->logfile,
					   .syslog = cfg->syslog,
					   .syslog_ident = cfg->syslog_ident,
					   .syslog_facility =
					       syslog_facility_name(cfg->syslog_facility),
					   .quiet = log_is_quiet(),
					   .verbose = cfg->verbose };

		if (!log_configure(&ls))
			log_error("cannot reopen logfile \"%s\"", cfg->logfile);
	}
	log_info("config reloaded from \"%s\"", reg->conffile);
	return true;
}

static void resume_all(struct worker *w)
{
	struct list_node *n, *t;

	w->reg->paused = false;
	list_for_each_safe(n, t, &w->reg->pools) {
		pool_schedule(list_entry(n, struct pool, node), w);
	}
}

static void begin_shutdown(struct worker *w, enum worker_shutdown mode, const char *what)
{
	if (w->shutdown != SHUTDOWN_NONE) {
		log_info("got %s during shutdown, exiting now", what);
		worker_stop(w);
		return;
	}
	log_info("got %s, shutting down once %s", what,
		 mode == SHUTDOWN_WAIT_FOR_CLIENTS ? "clients have left" : "servers are released");
	w->shutdown = mode;
	if (mode == SHUTDOWN_WAIT_FOR_SERVERS)
		w->reg->paused = true;
	listener_close_tcp(w);
	janitor_run(w);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct worker *w = arg;

	switch (sig) {
	case SIGHUP:
		log_info("got SIGHUP, re-reading config");
		(void)weir_reload(w);
		break;
	case SIGINT:
		begin_shutdown(w, SHUTDOWN_WAIT_FOR_SERVERS, "SIGINT");
		break;
	case SIGTERM:
		begin_shutdown(w, SHUTDOWN_WAIT_FOR_CLIENTS, "SIGTERM");
		break;
	case SIGQUIT:
		log_info("got SIGQUIT, fast exit");
		worker_stop(w);
		break;
	case SIGUSR1:
		log_info("got SIGUSR1, pausing all activity");
		w->reg->paused = true;
		break;
	case SIGUSR2:
		if (w->shutdown != SHUTDOWN_NONE) {
			log_info("got SIGUSR2 while shutting down, ignoring");
			break;
		}
		log_info("got SIGUSR2, resuming all activity");
		resume_all(w);
		break;
	}
}

struct signals *signals_setup(struct worker *w)
{
	struct signals *s = xcalloc(1, sizeof(*s));

	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < ARRAY_SIZE(handled); i++) {
		s->ev[i] = evsignal_new(w->base, handled[i], on_signal, w);
		event_add(s->ev[i], NULL);
	}
	return s;
}

void signals_free(struct signals *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(handled); i++)
		event_free(s->ev[i]);
	free(s);
}
