/* SPDX-License-Identifier: ISC */
/*
 * Signal handling through libevent (the handlers run as ordinary loop callbacks, so they
 * may touch any state). SIGHUP hands over to reload.c, the others to control.c: the same
 * operations as the console's RELOAD, SHUTDOWN, PAUSE and RESUME.
 */
#include <event2/event.h>
#include <signal.h>

#include "control.h"
#include "log.h"
#include "pool.h"
#include "reload.h"
#include "signals.h"
#include "worker.h"

static const int handled[] = { SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2 };

struct signals {
	struct event *ev[ARRAY_SIZE(handled)]; /* owned */
};

/* With the other workers parked, as the console's commands run. */
static void handle(struct worker *w, void *arg)
{
	int sig = *(const int *)arg;
	char err[128];

	switch (sig) {
	case SIGHUP:
		log_info("got SIGHUP, re-reading config");
		reload_run(w, NULL, 0);
		break;
	case SIGINT:
		control_shutdown(w, SHUTDOWN_WAIT_FOR_SERVERS, "SIGINT");
		break;
	case SIGTERM:
		control_shutdown(w, SHUTDOWN_WAIT_FOR_CLIENTS, "SIGTERM");
		break;
	case SIGQUIT:
		control_exit(w, "got SIGQUIT");
		break;
	case SIGUSR1:
		log_info("got SIGUSR1, pausing all activity");
		if (!control_pause(w, NULL, err, sizeof(err)))
			log_info("SIGUSR1 ignored: %s", err);
		break;
	case SIGUSR2:
		log_info("got SIGUSR2, resuming all activity");
		if (!control_resume(w, NULL, err, sizeof(err)))
			log_info("SIGUSR2 ignored: %s", err);
		break;
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	int s = (int)sig;

	(void)what;
	worker_exclusive(arg, handle, &s);
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
