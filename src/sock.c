/* SPDX-License-Identifier: ISC */
/*
 * Socket helpers shared by the listener and by server connections: creating listening TCP and
 * Unix sockets with the options a pooler wants, non-blocking connect and accept, per-connection
 * TCP tuning, address formatting for log lines, and the peer's user id on Unix sockets.
 *
 * Every socket is created non-blocking and close-on-exec in one system call. Failures are
 * returned with a message in the caller's buffer; deciding whether a failure is fatal is the
 * caller's business, so nothing here exits. Event-loop handling, TLS and host name resolution
 * for server connections (see dns.c) live elsewhere.
 *
 * Entry points: sock_listen_tcp(), sock_listen_unix(), sock_connect(), sock_accept(),
 * sock_tune_tcp(), and the small helpers declared in sock.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sock.h"

/*
 * With TCP_DEFER_ACCEPT the kernel hands a connection to accept() only once the client has sent
 * data, which a PostgreSQL client does at once (its startup packet). This many seconds bound how
 * long a silent client is held back; after that it is accepted anyway and login_timeout applies.
 */
#define SOCK_DEFER_ACCEPT_SECS 30

#define SOCK_TYPE_FLAGS (SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC)

/* Options for listening TCP sockets, gathered to keep argument lists short. */
struct sock_listen_opts {
	int backlog;
	bool reuseport;
	bool defer_accept;
};

/* Describes sa for an error message: "<address>" port <n>, or "<path>" of a Unix socket. */
static void sock_describe(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen)
{
	const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
	size_t off = offsetof(struct sockaddr_un, sun_path);
	int name_len = len > off ? (int)(len - off) : 0;
	char addr[INET6_ADDRSTRLEN];
	int port;

	if (sa->sa_family != AF_UNIX) {
		sock_format_addr(sa, addr, sizeof(addr), &port);
		snprintf(buf, buflen, "\"%s\" port %d", addr, port);
	} else if (name_len > 1 && un->sun_path[0] == '\0') {
		snprintf(buf, buflen, "\"@%.*s\"", name_len - 1, un->sun_path + 1);
	} else {
		snprintf(buf, buflen, "\"%.*s\"", name_len, un->sun_path);
	}
}

/* Fills err with "<what> <address>: <strerror(errno)>", keeping errno. */
static void sock_fail(char *err, size_t errlen, const char *what, const struct sockaddr *sa,
		      socklen_t len)
{
	int saved = errno;
	char where[160];

	sock_describe(sa, len, where, sizeof(where));
	snprintf(err, errlen, "%s %s: %s", what, where, strerror(saved));
	errno = saved;
}

static void sock_close_keep_errno(int fd)
{
	int saved = errno;

	close(fd);
	errno = saved;
}

static bool sock_setopt(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value)) == 0;
}

static bool sock_listen_tcp_opts(int fd, int family, const struct sock_listen_opts *o)
{
	if (!sock_setopt(fd, SOL_SOCKET, SO_REUSEADDR, 1))
		return false;
	if (o->reuseport && !sock_setopt(fd, SOL_SOCKET, SO_REUSEPORT, 1))
		return false;
	if (family == AF_INET6 && !sock_setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1))
		return false;
	return true;
}

static int sock_listen_addr(const struct sockaddr *sa, socklen_t len,
			    const struct sock_listen_opts *o, char *err, size_t errlen)
{
	int fd = socket(sa->sa_family, SOCK_TYPE_FLAGS, 0);

	if (fd < 0) {
		sock_fail(err, errlen, "could not create a socket for", sa, len);
		return -1;
	}
	if (!sock_listen_tcp_opts(fd, sa->sa_family, o)) {
		sock_fail(err, errlen, "could not set socket options for", sa, len);
	} else if (bind(fd, sa, len) < 0) {
		sock_fail(err, errlen, "could not bind to", sa, len);
	} else if (listen(fd, o->backlog) < 0) {
		sock_fail(err, errlen, "could not listen on", sa, len);
	} else if (o->defer_accept &&
		   !sock_setopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, SOCK_DEFER_ACCEPT_SECS)) {
		sock_fail(err, errlen, "could not set TCP_DEFER_ACCEPT on", sa, len);
	} else {
		return fd;
	}
	sock_close_keep_errno(fd);
	return -1;
}

static bool sock_port_valid(int port, char *err, size_t errlen)
{
	if (port > 0 && port <= 65535)
		return true;
	snprintf(err, errlen, "invalid port \"%d\"", port);
	return false;
}

int sock_listen_tcp(const char *addr, int port, int backlog, bool reuseport, bool defer_accept,
		    char *err, size_t errlen)
{
	const struct sock_listen_opts o = { backlog, reuseport, defer_accept };
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *list, *ai;
	char service[16];
	int fd = -1, rc;

	if (!sock_port_valid(port, err, errlen))
		return -1;
	if (strcmp(addr, "*") == 0) {
		snprintf(err, errlen,
			 "listen address \"*\" must be given as \"0.0.0.0\" and \"::\"");
		return -1;
	}
	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(addr, service, &hints, &list);
	if (rc != 0) {
		snprintf(err, errlen, "could not resolve listen address \"%s\": %s", addr,
			 gai_strerror(rc));
		return -1;
	}
	for (ai = list; ai && fd < 0; ai = ai->ai_next)
		fd = sock_listen_addr(ai->ai_addr, ai->ai_addrlen, &o, err, errlen);
	freeaddrinfo(list);
	return fd;
}

/* True if a process accepts connections on the Unix socket at un. */
static bool sock_unix_accepting(const struct sockaddr_un *un, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_TYPE_FLAGS, 0);
	bool accepting;

	if (fd < 0)
		return false;
	/* EAGAIN: its backlog is full, so it is alive. */
	accepting = connect(fd, (const struct sockaddr *)un, len) == 0 || errno == EAGAIN ||
		    errno == EINPROGRESS;
	close(fd);
	return accepting;
}

/* Removes a socket file left by a process that is gone; fails if one is still there. */
static bool sock_remove_stale(const struct sockaddr_un *un, socklen_t len, char *err, size_t errlen)
{
	const char *path = un->sun_path;
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return true;
		snprintf(err, errlen, "could not stat \"%s\": %s", path, strerror(errno));
		return false;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "\"%s\" exists and is not a socket", path);
		return false;
	}
	if (sock_unix_accepting(un, len)) {
		snprintf(err, errlen, "unix socket is in use, cannot continue");
		return false;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "could not remove stale socket \"%s\": %s", path,
			 strerror(errno));
		return false;
	}
	return true;
}

static bool sock_unix_perms(const char *path, int mode, const char *group, char *err, size_t errlen)
{
	const struct group *gr;

	if (chmod(path, (mode_t)mode) < 0) {
		snprintf(err, errlen, "could not chmod \"%s\": %s", path, strerror(errno));
		return false;
	}
	if (!group || !*group)
		return true;
	gr = getgrnam(group); /* not thread-safe: listeners are made by the main thread */
	if (!gr) {
		snprintf(err, errlen, "unknown group \"%s\"", group);
		return false;
	}
	if (chown(path, (uid_t)-1, gr->gr_gid) < 0) {
		snprintf(err, errlen, "could not chown \"%s\" to group \"%s\": %s", path, group,
			 strerror(errno));
		return false;
	}
	return true;
}

/*
 * Binds and listens; a socket file gets its permissions before anyone can connect, and is
 * removed again if a later step fails.
 */
static bool sock_unix_bind(int fd, const struct sockaddr_un *un, socklen_t len, int backlog,
			   int mode, const char *group, char *err, size_t errlen)
{
	const struct sockaddr *sa = (const struct sockaddr *)un;
	bool file = un->sun_path[0] != '\0';

	if (bind(fd, sa, len) < 0) {
		if (errno == EADDRINUSE)
			snprintf(err, errlen, "unix socket is in use, cannot continue");
		else
			sock_fail(err, errlen, "could not bind to", sa, len);
		return false;
	}
	if (file && !sock_unix_perms(un->sun_path, mode, group, err, errlen)) {
		unlink(un->sun_path);
		return false;
	}
	if (listen(fd, backlog) < 0) {
		sock_fail(err, errlen, "could not listen on", sa, len);
		if (file)
			unlink(un->sun_path);
		return false;
	}
	return true;
}

int sock_listen_unix(const char *dir, int port, int backlog, int mode, const char *group, char *err,
		     size_t errlen)
{
	struct sockaddr_un un;
	socklen_t len;
	int fd;

	if (!sock_port_valid(port, err, errlen))
		return -1;
	if (!sock_connect_unix_path(dir, port, &un, &len)) {
		snprintf(err, errlen, "unix socket directory \"%s\" is empty or too long", dir);
		return -1;
	}
	if (un.sun_path[0] != '\0' && !sock_remove_stale(&un, len, err, errlen))
		return -1;
	fd = socket(AF_UNIX, SOCK_TYPE_FLAGS, 0);
	if (fd < 0) {
		sock_fail(err, errlen, "could not create a socket for", (struct sockaddr *)&un,
			  len);
		return -1;
	}
	if (!sock_unix_bind(fd, &un, len, backlog, mode, group, err, errlen)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void sock_setopt_or_warn(int fd, int level, int name, int value, const char *what)
{
	if (!sock_setopt(fd, level, name, value))
		log_warning("could not set %s to \"%d\" on fd %d: %s", what, value, fd,
			    strerror(errno));
}

void sock_tune_tcp(int fd, const struct sock_tcp_opts *o)
{
	sock_setopt_or_warn(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
	if (o->keepalive)
		sock_setopt_or_warn(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
	if (o->keepcnt > 0)
		sock_setopt_or_warn(fd, IPPROTO_TCP, TCP_KEEPCNT, o->keepcnt, "TCP_KEEPCNT");
	if (o->keepidle > 0)
		sock_setopt_or_warn(fd, IPPROTO_TCP, TCP_KEEPIDLE, o->keepidle, "TCP_KEEPIDLE");
	if (o->keepintvl > 0)
		sock_setopt_or_warn(fd, IPPROTO_TCP, TCP_KEEPINTVL, o->keepintvl, "TCP_KEEPINTVL");
	if (o->user_timeout_ms > 0)
		sock_setopt_or_warn(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, o->user_timeout_ms,
				    "TCP_USER_TIMEOUT");
	if (o->socket_buffer > 0) {
		sock_setopt_or_warn(fd, SOL_SOCKET, SO_SNDBUF, o->socket_buffer, "SO_SNDBUF");
		sock_setopt_or_warn(fd, SOL_SOCKET, SO_RCVBUF, o->socket_buffer, "SO_RCVBUF");
	}
}

int sock_connect(const struct sockaddr *sa, socklen_t len, bool *in_progress, char *err,
		 size_t errlen)
{
	int fd = socket(sa->sa_family, SOCK_TYPE_FLAGS, 0);

	*in_progress = false;
	if (fd < 0) {
		sock_fail(err, errlen, "could not create a socket for", sa, len);
		return -1;
	}
	if (connect(fd, sa, len) == 0)
		return fd;
	/* EINTR: the connection goes on in the background, as with EINPROGRESS. */
	if (errno == EINPROGRESS || errno == EINTR) {
		*in_progress = true;
		return fd;
	}
	sock_fail(err, errlen, "could not connect to", sa, len);
	sock_close_keep_errno(fd);
	return -1;
}

bool sock_connect_unix_path(const char *dir, int port, struct sockaddr_un *out, socklen_t *len)
{
	int n;

	memset(out, 0, sizeof(*out));
	out->sun_family = AF_UNIX;
	if (!dir[0])
		return false;
	n = snprintf(out->sun_path, sizeof(out->sun_path), "%s/.s.PGSQL.%d", dir, port);
	if (n < 0 || (size_t)n >= sizeof(out->sun_path))
		return false;
	if (dir[0] == '@') {
		/* Abstract: a leading NUL, and the length (not a terminator) ends the name. */
		out->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
	}
	return true;
}

int sock_connect_error(int fd)
{
	int error = 0;
	socklen_t len = sizeof(error);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
		return errno;
	return error;
}

void sock_format_addr(const struct sockaddr *sa, char *buf, size_t len, int *port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	int p = 0;

	if (sa->sa_family == AF_INET && inet_ntop(AF_INET, &sin->sin_addr, buf, (socklen_t)len)) {
		p = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6 &&
		   inet_ntop(AF_INET6, &sin6->sin6_addr, buf, (socklen_t)len)) {
		p = ntohs(sin6->sin6_port);
	} else {
		snprintf(buf, len, "%s", sa->sa_family == AF_UNIX ? "unix" : "unknown");
	}
	if (port)
		*port = p;
}

int sock_accept(int listen_fd, struct sockaddr_storage *sa, socklen_t *len)
{
	*len = sizeof(*sa);
	return accept4(listen_fd, (struct sockaddr *)sa, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

bool sock_peer_uid(int fd, uid_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
		return false;
	*uid = cred.uid;
	return true;
}
