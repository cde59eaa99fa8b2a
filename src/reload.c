/* SPDX-License-Identifier: ISC */
/*
 * Reload, in four steps. Parse: config_load() reads the whole file, and the auth_file it
 * names is read too, and with auth_type = hba the HBA and ident files. Validate: any error
 * in any of them rejects the reload whole, every error is reported (log and RELOAD error),
 * and nothing of the running state is touched. Diff: the keys that need a restart (no
 * CONFIG_RELOAD in config_keys[]) keep their running value in the new snapshot, so that
 * nothing reads a listen_port or pkt_buf the process does not use; their new values wait in
 * reg->restart_pending for SHOW CONFIG. Apply: the registry takes the snapshot (pools,
 * databases, users, auth_file, HBA rules), then every worker's timers, DNS TTLs and
 * auth_query settings, and logging, follow it. Callers run it with the other workers parked
 * (worker_exclusive): every worker switches snapshots between two of its callbacks.
 *
 * The admin console's SET enters at the diff step (reload_apply) with the snapshot that
 * config_with_value() made. Signals and the console call in; this module calls nobody back.
 *
 * Entry points: reload_run, reload_apply, reload_pending_value, reload_keep_restart_values.
 */
#include <string.h>

#include "auth_file.h"
#include "auth_query.h"
#include "config.h"
#include "deadline.h"
#include "dns.h"
#include "hba.h"
#include "log.h"
#include "registry.h"
#include "reload.h"
#include "worker.h"

#define ERRORS_LEN    (16 * 1024) /* room for every error of a bad file */
#define VALUE_LEN     4096
#define REASON_LEN    4096 /* room for the errors of a bad HBA file */
#define FAILED_PREFIX "reload failed, keeping the old config: "

/* Copies the error list src into err, cut with "..." at the end if it does not fit. */
static void copy_errors(char *err, size_t errlen, const char *src)
{
	size_t len = strlen(src);

	if (!err || errlen == 0)
		return;
	if (len < errlen) {
		memcpy(err, src, len + 1);
		return;
	}
	memcpy(err, src, errlen - 1);
	err[errlen - 1] = '\0';
	if (errlen > 3)
		memcpy(err + errlen - 4, "...", 3);
}

/* Logs each line of a NUL-terminated error list on its own log line. */
static void log_errors(const char *errors)
{
	const char *line = errors, *nl;

	for (; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		log_error(FAILED_PREFIX "%.*s", nl ? (int)(nl - line) : (int)strlen(line), line);
	}
}

static void fail(const char *errors, char *err, size_t errlen)
{
	log_errors(errors);
	copy_errors(err, errlen, errors);
}

size_t reload_keep_restart_values(struct config *next, const struct config *running, char **wanted)
{
	char value[VALUE_LEN];
	size_t n = 0;

	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		wanted[i] = NULL;
		if ((k->flags & CONFIG_RELOAD) || config_same_value(next, running, k))
			continue;
		config_format_value(next, k, value, sizeof(value));
		wanted[i] = xstrdup(value);
		config_copy_value(next, running, k);
		n++;
	}
	return n;
}

static void free_values(char **values)
{
	for (size_t i = 0; i < config_nkeys; i++)
		free(values[i]);
	free(values);
}

/*
 * Keeps the file's values of the restart keys in reg for SHOW CONFIG; each new one is
 * logged, once. from_file: a key that matches the running value again is no longer waiting
 * (a SET, which starts from the running snapshot, leaves the others as they were).
 */
static void note_pending(struct registry *reg, char **wanted, bool from_file)
{
	if (!reg->restart_pending)
		reg->restart_pending = xcalloc(config_nkeys, sizeof(*reg->restart_pending));
	for (size_t i = 0; i < config_nkeys; i++) {
		char **slot = &reg->restart_pending[i];

		if (!wanted[i] && !from_file)
			continue;
		if (wanted[i] && (!*slot || strcmp(*slot, wanted[i]) != 0))
			log_warning(
			    "parameter \"%s\" changed to \"%s\" in the config; a restart is "
			    "needed to apply it",
			    config_keys[i].name, wanted[i]);
		free(*slot);
		*slot = wanted[i];
		wanted[i] = NULL;
	}
	free_values(wanted);
}

/* The auth_file table to run with (see reload_apply); false with the reason in msg. */
static bool pick_auth(const struct registry *reg, const struct config *cfg, struct auth_file **auth,
		      char *msg, size_t len)
{
	if (*auth || !cfg->auth_file[0])
		return true;
	if (strcmp(cfg->auth_file, reg->cfg->auth_file) == 0) {
		*auth = reg->auth;
		return true;
	}
	*auth = auth_file_load(cfg->auth_file, msg, len);
	return *auth != NULL;
}

static bool same_file(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/*
 * The HBA rules to run with: none unless auth_type = hba. A reload from the file reads the
 * HBA and ident files again; a SET keeps the running rules when it names the same files.
 * False with the errors (file:line) in msg.
 */
static bool pick_hba(const struct registry *reg, const struct config *cfg, bool from_file,
		     struct hba **hba, char *msg, size_t len)
{
	*hba = NULL;
	if (cfg->auth_type != AUTH_TYPE_HBA)
		return true;
	if (!from_file && reg->hba && same_file(cfg->auth_hba_file, reg->cfg->auth_hba_file) &&
	    same_file(cfg->auth_ident_file, reg->cfg->auth_ident_file)) {
		*hba = reg->hba;
		return true;
	}
	*hba = hba_load(cfg->auth_hba_file, cfg->auth_ident_file, msg, len);
	return *hba != NULL;
}

/* A logfile that cannot be reopened is reported; logging goes on where it can. */
static void reconfigure_log(const struct config *cfg)
{
	struct log_settings ls = {
		.logfile = cfg->logfile,
		.syslog = cfg->syslog,
		.syslog_ident = cfg->syslog_ident,
		.syslog_facility = syslog_facility_name(cfg->syslog_facility),
		.quiet = log_is_quiet(),
		.verbose = cfg->verbose,
	};

	if (!log_configure(&ls))
		log_error("cannot reopen logfile \"%s\"", cfg->logfile);
}

/* Checks cfg as it will run (restart keys at their running values), then applies it. */
static bool apply(struct worker *w, struct config *cfg, struct auth_file *auth, bool from_file,
		  char *err, size_t errlen)
{
	struct registry *reg = w->reg;
	char **wanted = xcalloc(config_nkeys, sizeof(*wanted));
	char reason[REASON_LEN];
	struct hba *hba;

	if (reload_keep_restart_values(cfg, reg->cfg, wanted) > 0 &&
	    !config_check(cfg, reason, sizeof(reason))) {
		snprintf(reason + strlen(reason), sizeof(reason) - strlen(reason),
			 " (with the running values of the parameters that need a restart)");
		auth_file_free(auth);
	} else if (!pick_auth(reg, cfg, &auth, reason, sizeof(reason))) {
		/* nothing was loaded */
	} else if (!pick_hba(reg, cfg, from_file, &hba, reason, sizeof(reason))) {
		if (auth != reg->auth)
			auth_file_free(auth);
	} else {
		note_pending(reg, wanted, from_file);
		if (!registry_set_tls(reg, cfg, reason, sizeof(reason)))
			log_error("TLS setup failed: %s; keeping the old TLS configuration",
				  reason);
		registry_apply(reg, cfg, auth);
		registry_set_hba(reg, hba);
		deadline_refile_all(reg);
		for (unsigned i = 0; i < reg->nworkers; i++) {
			dns_set_ttls(reg->workers[i]->dns, cfg->dns_max_ttl, cfg->dns_nxdomain_ttl);
			auth_query_reload(reg->workers[i]->auth_query);
		}
		reconfigure_log(cfg);
		return true;
	}
	free_values(wanted);
	config_unref(cfg);
	fail(reason, err, errlen);
	return false;
}

bool reload_apply(struct worker *w, struct config *cfg, struct auth_file *auth, char *err,
		  size_t errlen)
{
	return apply(w, cfg, auth, false, err, errlen);
}

bool reload_run(struct worker *w, char *err, size_t errlen)
{
	struct registry *reg = w->reg;
	char *errors = xmalloc(ERRORS_LEN);
	struct auth_file *auth = NULL;
	struct config *cfg;

	errors[0] = '\0';
	cfg = config_load(reg->conffile, errors, ERRORS_LEN);
	if (cfg && cfg->auth_file[0])
		auth = auth_file_load(cfg->auth_file, errors, ERRORS_LEN);
	if (!cfg || (cfg->auth_file[0] && !auth)) {
		fail(errors, err, errlen);
		config_unref(cfg);
		free(errors);
		return false;
	}
	free(errors);
	if (!apply(w, cfg, auth, true, err, errlen))
		return false;
	log_info("config reloaded from \"%s\"", reg->conffile);
	return true;
}

const char *reload_pending_value(const struct registry *reg, const struct config_key *key)
{
	if (!reg->restart_pending)
		return NULL;
	return reg->restart_pending[key - config_keys];
}
