/* SPDX-License-Identifier: ISC */
/*
 * Signals, handled on the worker's loop: SIGHUP reloads the config and auth_file, SIGINT
 * shuts down once servers are released, SIGTERM once clients have left (a second SIGINT or
 * SIGTERM exits at once), SIGQUIT exits at once, SIGUSR1 pauses and SIGUSR2 resumes.
 */
#pragma once

#include "common.h"

struct worker;
struct signals;

struct signals *signals_setup(struct worker *w);
void signals_free(struct signals *s);
