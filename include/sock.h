/* SPDX-License-Identifier: ISC */
/*
 * Socket helpers: listening TCP and Unix sockets, non-blocking connect and accept, TCP tuning,
 * address formatting and peer credentials. Every socket made here is non-blocking and
 * close-on-exec. Nothing here exits; a failure comes back as -1 or false, with a lowercase
 * message (no trailing period) in the caller's err buffer where there is one.
 */
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "common.h"

/*
 * Listens on one TCP address: an IPv4 or IPv6 literal or a host name (resolved now, blocking:
 * start-up and reload only; the first address that binds wins). "*" is refused: the caller
 * listens on "0.0.0.0" and "::" instead. port must be 1..65535. IPv6 sockets are IPv6-only, so
 * both can share a port. SO_REUSEADDR is always set; SO_REUSEPORT and TCP_DEFER_ACCEPT when
 * asked. Returns the listening fd, or -1 with err filled.
 */
MUST_CHECK int sock_listen_tcp(const char *addr, int port, int backlog, bool reuseport,
			       bool defer_accept, char *err, size_t errlen);

/*
 * Listens on <dir>/.s.PGSQL.<port>, or in the Linux abstract namespace when dir starts with
 * '@' (the name is then dir without the '@', followed by /.s.PGSQL.<port>). A socket file left
 * behind is removed first unless something still accepts connections on it; then err is
 * "unix socket is in use, cannot continue". A non-socket file in the way is an error too. The
 * file gets mode, and group (a group name, looked up now) unless group is NULL or "".
 * Returns the listening fd, or -1 with err filled.
 */
MUST_CHECK int sock_listen_unix(const char *dir, int port, int backlog, int mode, const char *group,
				char *err, size_t errlen);

/* TCP options for a connection; a field <= 0 (or false) leaves the system default. */
struct sock_tcp_opts {
	bool keepalive;
	int keepcnt;
	int keepidle;	     /* seconds */
	int keepintvl;	     /* seconds */
	int user_timeout_ms; /* TCP_USER_TIMEOUT */
	int socket_buffer;   /* bytes, for both SO_SNDBUF and SO_RCVBUF */
};

/*
 * Sets TCP_NODELAY, and those options of o that are set, on a connected TCP socket (not a
 * Unix one). A refused option is logged as a warning; the connection is still usable.
 */
void sock_tune_tcp(int fd, const struct sock_tcp_opts *o);

/*
 * Starts a non-blocking connect to sa. Returns the new fd with *in_progress false when already
 * connected, or true when the caller must wait for the fd to become writable and then ask
 * sock_connect_error(). Returns -1 with err filled when the connect failed at once.
 */
MUST_CHECK int sock_connect(const struct sockaddr *sa, socklen_t len, bool *in_progress, char *err,
			    size_t errlen);

/*
 * Builds the address of <dir>/.s.PGSQL.<port> ('@' = abstract namespace, as above) in *out,
 * with its length in *len. False if dir is empty or the path does not fit in sun_path.
 */
MUST_CHECK bool sock_connect_unix_path(const char *dir, int port, struct sockaddr_un *out,
				       socklen_t *len);

/* After a non-blocking connect completed: 0 if connected, else the errno value it failed with. */
int sock_connect_error(int fd);

/*
 * Writes "127.0.0.1", "::1", "unix" (any AF_UNIX address) or "unknown" into buf, and the port
 * into *port (0 for Unix sockets and unknown families) unless port is NULL.
 */
void sock_format_addr(const struct sockaddr *sa, char *buf, size_t len, int *port);

/*
 * Accepts one connection as a non-blocking, close-on-exec socket, its peer address in *sa and
 * *len. Returns the fd, or -1 with errno set (EAGAIN when there is nothing to accept).
 */
MUST_CHECK int sock_accept(int listen_fd, struct sockaddr_storage *sa, socklen_t *len);

/* The user id of the process at the other end of a Unix socket; false if unknown. */
MUST_CHECK bool sock_peer_uid(int fd, uid_t *uid);
