/* SPDX-License-Identifier: ISC */
/*
 * Reload (RELOAD, SIGHUP) and the apply step of the admin console's SET, as parse ->
 * validate -> diff -> apply. A config with errors is rejected whole, every error reported,
 * and the running config stays. A key that needs a restart (no CONFIG_RELOAD in
 * config_keys[]) keeps its running value when the file changes it; the change is logged
 * once and remembered for SHOW CONFIG until the file matches the running value again.
 * Everything else takes effect at once: pools, limits, timeouts, databases and users added,
 * removed or changed, auth_file, DNS TTLs, logging. Clients are never dropped by a reload.
 */
#pragma once

#include "common.h"

struct auth_file;
struct config;
struct config_key;
struct registry;
struct worker;

/*
 * Re-reads the config file (reg->conffile) and the auth_file it names (and with
 * auth_type = hba its HBA and ident files), validates them whole, and applies them with
 * reload_apply(). On any error the running config, auth_file and HBA rules stay untouched, each error is logged as "reload failed, keeping the old config:
 * <file:line: message>", and err (may be NULL) receives them all, one per line (cut with
 * "..." if err is too small). On success logs `config reloaded from "<file>"`. Errors are
 * logged here, so a caller with no one to tell (SIGHUP) may ignore the result.
 */
bool reload_run(struct worker *w, char *err, size_t errlen);

/*
 * The diff and apply step, shared by reload_run() and SET (cfg from config_with_value()).
 * cfg and auth are taken, whatever the outcome. auth is the auth_file table read for cfg;
 * NULL means none when cfg has no auth_file, the running table when cfg names the same file
 * as the running config, and else the file is read here. Keys that need a restart keep their
 * running value in cfg (the change is logged and kept for reload_pending_value()). With
 * auth_type = hba the HBA and ident files are read here: always for a reload from the file,
 * for a SET only when it names other files than the running config. False, with the
 * running config untouched, the reason logged and written into err (may be NULL), when the
 * auth_file or an HBA or ident file cannot be read or has errors, or when cfg with the
 * running values of the restart keys fails the checks that span keys (max_packet_size
 * against the running pkt_buf).
 */
MUST_CHECK bool reload_apply(struct worker *w, struct config *cfg, struct auth_file *auth,
			     char *err, size_t errlen);

/*
 * For SHOW CONFIG: the value the config file (or a SET) gives key while the process keeps
 * another one until a restart, or NULL. Borrowed from reg: valid until the next reload.
 */
const char *reload_pending_value(const struct registry *reg, const struct config_key *key);

/*
 * The restart-key step on its own, pure: for each key without CONFIG_RELOAD whose value in
 * next (a snapshot not yet shared) differs from running, wanted[i] (i indexes config_keys[])
 * receives next's value as SHOW CONFIG prints it (owned by the caller) and next takes
 * running's value; every other wanted[i] is set to NULL. Returns how many keys differ.
 */
size_t reload_keep_restart_values(struct config *next, const struct config *running, char **wanted);
