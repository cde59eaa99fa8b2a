/* SPDX-License-Identifier: ISC */
/*
 * weir's entry point: command line, config load, user switch, daemonizing, pidfile, and the
 * start-up and shutdown order of the registry, the worker, listeners and signals. This is
 * the only place that may die() on bad input; everything after start-up reports and goes on.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ares.h>
#include <openssl/opensslv.h>

#include "auth_file.h"
#include "auth_scram.h"
#include "config.h"
#include "hba.h"
#include "kdf.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "signals.h"
#include "worker.h"

struct options {
	bool daemon;
	bool quiet;
	int verbose;
	const char *user;
	const char *config_path;
};

static void usage(FILE *out)
{
	fprintf(out, "weir is a PostgreSQL connection pooler, compatible with PgBouncer's config.\n"
		     "\n"
		     "Usage:\n"
		     "  weir [OPTION]... weir.ini\n"
		     "\n"
		     "Options:\n"
		     "  -d, --daemon      run in the background (needs pidfile in the config)\n"
		     "  -q, --quiet       do not log to stderr\n"
		     "  -v, --verbose     log more; repeat for even more (same as verbose=N)\n"
		     "  -u, --user=USER   switch to USER at start (weir refuses to run as root)\n"
		     "  -V, --version     print the version and exit\n"
		     "  -h, --help        print this help and exit\n"
		     "\n"
		     "Signals: SIGHUP reloads the config, SIGINT shuts down once servers are\n"
		     "released, SIGTERM once clients have left, SIGQUIT exits at once,\n"
		     "SIGUSR1 pauses and SIGUSR2 resumes.\n"
		     "\n"
		     "Example config: etc/weir.ini; every key: doc/config.md.\n");
}

static void version(void)
{
	printf("weir %s\n", PACKAGE_VERSION);
	printf("libevent %s\n", event_get_version());
	printf("adns: c-ares %s\n", ares_version(NULL));
	printf("tls: %s\n", OPENSSL_VERSION_TEXT);
}

static struct options parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "daemon", no_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "user", required_argument, NULL, 'u' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, "dqvu:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.daemon = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'v':
			o.verbose++;
			break;
		case 'u':
			o.user = optarg;
			break;
		case 'V':
			version();
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(1);
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "weir: %s\n",
			optind >= argc ? "no configuration file specified" : "too many arguments");
		usage(stderr);
		exit(1);
	}
	o.config_path = argv[optind];
	return o;
}

static void switch_user(const char *name)
{
	struct passwd *pw = getpwnam(name);

	if (!pw)
		die("user \"%s\" does not exist", name);
	if (getuid() == pw->pw_uid)
		return;
	if (setgid(pw->pw_gid) != 0 || initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0)
		die("cannot switch to user \"%s\": %s", name, strerror(errno));
}

static void check_pidfile(const char *path)
{
	FILE *f = fopen(path, "r");
	long pid = 0;

	if (!f)
		return;
	if (fscanf(f, "%ld", &pid) == 1 && pid > 0 && kill((pid_t)pid, 0) == 0)
		die("pidfile \"%s\" exists, another instance running?", path);
	fclose(f);
	log_info("removing stale pidfile \"%s\"", path);
	unlink(path);
}

static void write_pidfile(const char *path)
{
	char buf[32];
	int fd, n;

	check_pidfile(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		die("cannot create pidfile \"%s\": %s", path, strerror(errno));
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)n) != n)
		die("cannot write pidfile \"%s\": %s", path, strerror(errno));
	close(fd);
}

static void daemonize(void)
{
	int fd;

	if (fork() > 0)
		_exit(0);
	setsid();
	if (fork() > 0)
		_exit(0);
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

static void setup_logging(const struct config *cfg, const struct options *o)
{
	struct log_settings ls = {
		.logfile = cfg->logfile,
		.syslog = cfg->syslog,
		.syslog_ident = cfg->syslog_ident,
		.syslog_facility = syslog_facility_name(cfg->syslog_facility),
		.quiet = o->quiet || o->daemon,
		.verbose = cfg->verbose + o->verbose,
	};

	if (!log_configure(&ls))
		die("cannot open logfile \"%s\"", cfg->logfile);
}

static void log_fd_limits(const struct config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_info("kernel file descriptor limit: %llu (hard: %llu); max_client_conn: %d",
			 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
			 cfg->max_client_conn);
}

#define CONFIG_ERRORS_LEN (16 * 1024)

/* Logs each line of an error list (one error per line), then exits. */
static NORETURN void die_with_errors(char *err)
{
	char *line, *nl;

	for (line = err; line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		log_fatal("%s", line);
	}
	exit(1);
}

/* Every error of the file, one per line, then exit: the operator fixes them all at once. */
static struct config *load_config(const char *path)
{
	char *err = xmalloc(CONFIG_ERRORS_LEN);
	struct config *cfg = config_load(path, err, CONFIG_ERRORS_LEN);

	if (!cfg)
		die_with_errors(err);
	free(err);
	return cfg;
}

static struct auth_file *load_auth(const struct config *cfg)
{
	char err[512];
	struct auth_file *auth;

	if (!cfg->auth_file[0])
		return NULL;
	auth = auth_file_load(cfg->auth_file, err, sizeof(err));
	if (!auth)
		die("%s", err);
	return auth;
}

/* The HBA rules with auth_type = hba; every error of the files is logged, then exit. */
static struct hba *load_hba(const struct config *cfg)
{
	char *err;
	struct hba *hba;

	if (cfg->auth_type != AUTH_TYPE_HBA)
		return NULL;
	err = xmalloc(CONFIG_ERRORS_LEN);
	hba = hba_load(cfg->auth_hba_file, cfg->auth_ident_file, err, CONFIG_ERRORS_LEN);
	if (!hba)
		die_with_errors(err);
	free(err);
	return hba;
}

static void drop_privileges(const struct options *o, const struct config *cfg)
{
	const char *user = o->user ? o->user : (cfg->user[0] ? cfg->user : NULL);

	if (user && geteuid() == 0)
		switch_user(user);
	if (geteuid() == 0)
		die("weir should not run as root: start it as another user, or give -u USER "
		    "(or user= in the config) to switch");
}

/* The Prometheus endpoint when metrics_port is set; not being able to bind it is fatal. */
static struct metrics *start_metrics(struct worker *w, const struct config *cfg)
{
	char err[512];
	struct metrics *m;

	if (cfg->metrics_port <= 0)
		return NULL;
	m = metrics_start(w, cfg, err, sizeof(err));
	if (!m)
		die("%s", err);
	return m;
}

int main(int argc, char **argv)
{
	struct options o = parse_args(argc, argv);
	struct config *cfg = load_config(o.config_path);
	struct registry *reg;
	struct kdf_pool *kdf;
	struct worker *w, *workers[WEIR_MAX_WORKERS];
	unsigned nworkers;
	struct signals *sig;
	struct metrics *metrics;
	char err[512];

	setup_logging(cfg, &o);
	drop_privileges(&o, cfg);
	if (o.daemon && !cfg->pidfile[0])
		die("daemon needs pidfile configured");
	if (o.daemon)
		daemonize();
	if (cfg->pidfile[0])
		write_pidfile(cfg->pidfile);
	nworkers = registry_worker_count(cfg);
	/* Several workers run, but are not finished: they stay behind a switch until they are. */
	if (nworkers > 1 && !getenv("WEIR_EXPERIMENTAL_WORKERS"))
		die("workers = %d: more than one worker is not supported yet; set workers = 1",
		    cfg->workers);
	reg = registry_create(cfg, load_auth(cfg), o.config_path, nworkers);
	registry_set_hba(reg, load_hba(cfg));
	if (!registry_set_tls(reg, cfg, err, sizeof(err)))
		die("TLS setup failed: %s", err);
	/* Threads only after daemonize(): fork keeps the calling thread alone. */
	kdf = kdf_pool_create(KDF_THREADS);
	if (!kdf)
		die("cannot start the key derivation threads");
	for (unsigned i = 0; i < nworkers; i++)
		workers[i] = worker_create(reg, kdf);
	w = workers[0]; /* the main thread's: listeners, signals, the metrics endpoint */
	if (!listener_open_all(w, cfg, err, sizeof(err)))
		die("%s", err);
	metrics = start_metrics(w, cfg);
	sig = signals_setup(w);
	log_fd_limits(cfg);
	for (unsigned i = 1; i < nworkers; i++)
		worker_start_thread(workers[i]);
	log_info("weir %s started (%u worker%s)", PACKAGE_VERSION, nworkers,
		 nworkers == 1 ? "" : "s");
	worker_run(w);
	log_info("shutting down");
	worker_stop_all(reg);
	if (reg->cfg->pidfile[0])
		unlink(reg->cfg->pidfile);
	signals_free(sig);
	metrics_free(metrics); /* before the worker: it lives on the worker's loop */
	for (unsigned i = 0; i < nworkers; i++)
		worker_free(workers[i]);
	auth_scram_thread_end();
	kdf_pool_free(kdf);
	registry_free(reg);
	return 0;
}
