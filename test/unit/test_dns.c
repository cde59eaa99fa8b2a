/* SPDX-License-Identifier: ISC */
/*
 * Tests for dns.c against the real resolver configuration: literals, /etc/hosts ("localhost"),
 * the cache, shared queries, cancel, failures; and, until they get a file of their own, for
 * sock.c over loopback TCP and Unix sockets. Waits on the event loop are bounded by a deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "dns.h"
#include "harness.h"
#include "sock.h"

#define LOOP_DEADLINE_SECS 5

/* A lookup and what its callback saw; breaks the loop once *remaining reaches zero. */
struct waiter {
	struct dns_request req;
	struct event_base *base;
	int *remaining;
	int calls;
	struct dns_result res;
};

static void waiter_init(struct waiter *w, struct event_base *base, int *remaining)
{
	memset(w, 0, sizeof(*w));
	w->base = base;
	w->remaining = remaining;
}

static void waiter_done(void *arg, const struct dns_result *res)
{
	struct waiter *w = arg;

	w->calls++;
	w->res = *res;
	if (--*w->remaining == 0)
		event_base_loopbreak(w->base);
}

static enum dns_status waiter_lookup(struct waiter *w, struct dns *dns, const char *host, int port)
{
	return dns_lookup(dns, host, port, &w->req, waiter_done, w, &w->res);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Runs the loop until a waiter breaks it or the deadline passes. */
static void run_loop(struct event_base *base, int secs)
{
	struct timeval tv = { secs, 0 };
	struct event *deadline = evtimer_new(base, deadline_cb, base);

	evtimer_add(deadline, &tv);
	event_base_dispatch(base);
	event_free(deadline);
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	return ss->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
}

static int addr_port(const struct sockaddr_storage *ss)
{
	int port = -1;
	char buf[INET6_ADDRSTRLEN];

	sock_format_addr((const struct sockaddr *)ss, buf, sizeof(buf), &port);
	return port;
}

TEST(dns_numeric_ipv4_answers_at_once)
{
	struct event_base *base = event_base_new();
	struct dns *dns = dns_create(base);
	int remaining = 1;
	struct waiter w;
	char buf[INET6_ADDRSTRLEN];
	int port = 0;

	waiter_init(&w, base, &remaining);
	CHECK(dns != NULL);
	CHECK_INT(waiter_lookup(&w, dns, "10.1.2.3", 6432), DNS_DONE);
	CHECK_INT(w.res.naddrs, 1);
	CHECK(w.res.error == NULL);
	sock_format_addr((struct sockaddr *)&w.res.addrs[0], buf, sizeof(buf), &port);
	CHECK_STR(buf, "10.1.2.3");
	CHECK_INT(port, 6432);
	CHECK_INT(dns_names_count(dns), 0);
	CHECK_INT(w.calls, 0);
	dns_free(dns);
	event_base_free(base);
}

TEST(dns_numeric_ipv6_answers_at_once)
{
	struct event_base *base = event_base_new();
	struct dns *dns = dns_create(base);
	int remaining = 1;
	struct waiter w;
	char buf[INET6_ADDRSTRLEN];
	int port = 0;

	waiter_init(&w, base, &remaining);
	CHECK_INT(waiter_lookup(&w, dns, "fd00::17", 5432), DNS_DONE);
	CHECK_INT(w.res.naddrs, 1);
	CHECK_INT(w.res.addrs[0].ss_family, AF_INET6);
	sock_format_addr((struct sockaddr *)&w.res.addrs[0], buf, sizeof(buf), &port);
	CHECK_STR(buf, "fd00::17");
	CHECK_INT(port, 5432);
	CHECK_INT(dns_pending_count(dns), 0);
	dns_free(dns);
	event_base_free(base);
}

TEST(dns_localhost_answers_from_the_loop_then_from_cache)
{
	struct event_base *base = event_base_new();
	struct dns *dns = dns_create(base);
	int remaining = 1;
	struct waiter w, again;

	waiter_init(&w, base, &remaining);
	CHECK_INT(waiter_lookup(&w, dns, "localhost", 6543), DNS_PENDING);
	CHECK_INT(w.calls, 0); /* /etc/hosts answers inside c-ares, yet no call from lookup */
	run_loop(base, LOOP_DEADLINE_SECS);
	CHECK_INT(w.calls, 1);
	CHECK(w.res.error == NULL);
	CHECK(w.res.naddrs >= 1);
	for (int i = 0; i < w.res.naddrs; i++) {
		CHECK(is_loopback(&w.res.addrs[i]));
		CHECK_INT(addr_port(&w.res.addrs[i]), 6543);
	}
	CHECK(w.req.name == NULL);

	waiter_init(&again, base, &remaining);
	CHECK_INT(waiter_lookup(&again, dns, "LOCALHOST", 6543), DNS_DONE);
	CHECK_INT(again.res.naddrs, w.res.naddrs);
	CHECK(is_loopback(&again.res.addrs[0]));
	CHECK_INT(dns_names_count(dns), 1);
	CHECK_INT(dns_pending_count(dns), 0);
	dns_free(dns);
	event_base_free(base);
}

TEST(dns_cache_is_per_port)
{
	struct event_base *base = event_base_new();
	struct dns *dns = dns_create(base);
	int remaining = 1;
	struct waiter a, b;

	waiter_init(&a, base, &remaining);
	CHECK_INT(waiter_lookup(&a, dns, "localhost", 1111), DNS_PENDING);
	run_loop(base, LOOP_DEADLINE_SECS);
	remaining = 1;
	waiter_init(&b, base, &remaining);
	CHECK_INT(waiter_lookup(&b, dns, "localhost", 2222), DNS_PENDING);
	run_loop(base, LOOP_DEADLINE_SECS);
	CHECK_INT(b.calls, 1);
	CHECK(b.res.naddrs >= 1);
	CHECK_INT(addr_port(&b.res.addrs[0]), 2222);
	CHECK_INT(dns_names_count(dns), 2);
	dns_free(dns);
	event_base_free(base);
}

TEST(dns_expired_answer_is_asked_again)
{
	struct event_base *base = event_base_new();
	struct dns *dns = dns_create(base);
	int remaining = 1;
	struct waiter w;

	dns_set_ttls(dns, 0, 0);
	waiter_init(&w, base, &remaining);
	CHECK_INT(waiter_lookup(&w, dns, "localhost", 6432), DNS_PENDING);
	run_loop(base, LOOP_DEADLINE_SECS);
	CHECK_INT(w.calls, 1);
	remaining = 1;
	CHECK_INT(waiter_lookup(&w, dns, "localhost", 6432), DNS_PENDING);
	run_loop(base, LOOP_DEADLINE_SECS);
	CHECK_INT(w.calls, 2);
	CHECK(w.res.naddrs >= 1);
	CHECK_INT(dns_names_count(dns), 1);
	dns_free(dns);
	event_base_free(base);
}

/*
 * Two requests for a name that needs the DNS server share one query. Without a network the
 * query may time out first, and only the sharing is checked; or c-ares may fail it at once
 * (no route to the server), and the second request is a cached failure.
 */
TEST(dns_concurrent_waiters_share_one_query)
{
	struct event_base *base = event_base_new();
	struct dns *dns = dns_create(base);
	int remaining = 2;
	struct waiter a, b;

	waiter_init(&a, base, &remaining);
	waiter_init(&b, base, &remaining);
	CHECK_INT(waiter_lookup(&a, dns, "nonexistent.invalid", 6432), DNS_PENDING);
	if (dns_pending_count(dns) == 0) {
		printf("# the resolver failed at once; checking the cached failure instead\n");
		CHECK_INT(waiter_lookup(&b, dns, "nonexistent.invalid", 6432), DNS_DONE);
		CHECK(b.res.error != NULL);
		dns_free(dns);
		event_base_free(base);
		return;
	}
	CHECK_INT(waiter_lookup(&b, dns, "nonexistent.invalid", 6432), DNS_PENDING);
	CHECK_INT(dns_pending_count(dns), 1);
	CHECK_INT(dns_names_count(dns), 1);
	run_loop(base, LOOP_DEADLINE_SECS);
	CHECK_INT(a.calls, b.calls);
	if (a.calls) {
		CHECK_INT(a.calls, 1);
		CHECK(a.res.error != NULL && b.res.error != NULL);
		CHECK_INT(a.res.naddrs + b.res.naddrs, 0);
	}
	dns_free(dns);
	event_base_free(base);
}

TEST(dns_unresolvable_name_reports_an_error)
{
	struct event_base *base = event_base_new();
	struct dns *dns = dns_create(base);
	int remaining = 1;
	struct waiter w;

	waiter_init(&w, base, &remaining);
	CHECK_INT(waiter_lookup(&w, dns, "nonexistent.invalid", 6432), DNS_PENDING);
	run_loop(base, LOOP_DEADLINE_SECS);
	if (w.calls) {
		CHECK_INT(w.calls, 1);
		CHECK(w.res.error != NULL);
		CHECK_INT(w.res.naddrs, 0);
		CHECK_INT(dns_pending_count(dns), 0);
	}
	dns_free(dns);
	event_base_free(base);
}

/* c-ares refuses .onion names itself (RFC 7686), so this failure needs no network. */
TEST(dns_failures_are_cached)
{
	struct event_base *base = event_base_new();
	struct dns *dns = dns_create(base);
	int remaining = 1;
	struct waiter w, again;

	waiter_init(&w, base, &remaining);
	CHECK_INT(waiter_lookup(&w, dns, "weir-test.onion", 6432), DNS_PENDING);
	CHECK_INT(w.calls, 0);
	run_loop(base, LOOP_DEADLINE_SECS);
	CHECK_INT(w.calls, 1);
	CHECK(w.res.error != NULL);
	CHECK_INT(w.res.naddrs, 0);

	waiter_init(&again, base, &remaining);
	CHECK_INT(waiter_lookup(&again, dns, "weir-test.onion", 6432), DNS_DONE);
	CHECK(again.res.error != NULL);
	CHECK_INT(again.res.naddrs, 0);
	CHECK_INT(again.calls, 0);
	dns_free(dns);
	event_base_free(base);
}

TEST(dns_cancelled_request_is_not_called)
{
	struct event_base *base = event_base_new();
	struct dns *dns = dns_create(base);
	int remaining = 1;
	struct waiter gone, kept;

	waiter_init(&gone, base, &remaining);
	waiter_init(&kept, base, &remaining);
	CHECK_INT(waiter_lookup(&gone, dns, "localhost", 1111), DNS_PENDING);
	dns_cancel(&gone.req);
	CHECK(gone.req.name == NULL);
	dns_cancel(&gone.req); /* a second cancel does nothing */
	CHECK_INT(waiter_lookup(&kept, dns, "localhost", 2222), DNS_PENDING);
	run_loop(base, LOOP_DEADLINE_SECS);
	event_base_loop(base, EVLOOP_NONBLOCK); /* whatever else was due runs now */
	CHECK_INT(kept.calls, 1);
	CHECK_INT(gone.calls, 0);
	CHECK_INT(dns_names_count(dns), 2); /* the cancelled answer is still cached */
	dns_free(dns);
	event_base_free(base);
}

TEST(dns_free_drops_pending_requests_silently)
{
	struct event_base *base = event_base_new();
	struct dns *dns = dns_create(base);
	int remaining = 2;
	struct waiter local, remote;

	waiter_init(&local, base, &remaining);
	waiter_init(&remote, base, &remaining);
	CHECK_INT(waiter_lookup(&local, dns, "localhost", 6432), DNS_PENDING);
	CHECK_INT(waiter_lookup(&remote, dns, "nonexistent.invalid", 6432), DNS_PENDING);
	dns_free(dns);
	CHECK(local.req.name == NULL);
	CHECK(remote.req.name == NULL);
	dns_cancel(&local.req);
	run_loop(base, 0);
	CHECK_INT(local.calls + remote.calls, 0);
	event_base_free(base);
}

/* A callback may look the same name up again: that is a cache hit, answered in place. */
struct chained {
	struct waiter w;
	struct dns *dns;
	enum dns_status second;
};

static void chained_done(void *arg, const struct dns_result *res)
{
	struct chained *c = arg;
	struct dns_result again;

	waiter_done(&c->w, res);
	c->second = dns_lookup(c->dns, "localhost", 6432, &c->w.req, chained_done, c, &again);
}

TEST(dns_callback_may_look_up_again)
{
	struct event_base *base = event_base_new();
	struct dns *dns = dns_create(base);
	int remaining = 1;
	struct chained c;
	struct dns_result res;

	waiter_init(&c.w, base, &remaining);
	c.dns = dns;
	c.second = DNS_PENDING;
	CHECK_INT(dns_lookup(dns, "localhost", 6432, &c.w.req, chained_done, &c, &res),
		  DNS_PENDING);
	run_loop(base, LOOP_DEADLINE_SECS);
	CHECK_INT(c.w.calls, 1);
	CHECK_INT(c.second, DNS_DONE);
	dns_free(dns);
	event_base_free(base);
}

/* sock.c */

/* A TCP port on 127.0.0.1 that nothing listens on right now. */
static int free_tcp_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port = -1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, len) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static bool wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, LOOP_DEADLINE_SECS * 1000) == 1;
}

static bool fd_nonblock_cloexec(int fd)
{
	return (fcntl(fd, F_GETFL) & O_NONBLOCK) && (fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

static int getsockopt_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, name, &v, &len) < 0)
		return -1;
	return v;
}

/*
 * Connects to sa, sends a byte (a listener with TCP_DEFER_ACCEPT waits for data) and accepts on
 * lfd; returns the accepted fd, the client's in *client.
 */
static int connect_and_accept(int lfd, const struct sockaddr *sa, socklen_t len, int *client,
			      struct sockaddr_storage *peer)
{
	char err[256] = "";
	bool in_progress;
	socklen_t plen;

	*client = sock_connect(sa, len, &in_progress, err, sizeof(err));
	CHECK_STR(err, "");
	if (*client < 0)
		return -1;
	CHECK(fd_nonblock_cloexec(*client));
	if (in_progress)
		CHECK(wait_fd(*client, POLLOUT));
	CHECK_INT(sock_connect_error(*client), 0);
	CHECK_INT(write(*client, "x", 1), 1);
	CHECK(wait_fd(lfd, POLLIN));
	return sock_accept(lfd, peer, &plen);
}

TEST(sock_tcp_listen_connect_accept)
{
	int port = free_tcp_port();
	char err[256] = "", buf[INET6_ADDRSTRLEN];
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct sockaddr_storage peer, local;
	socklen_t llen = sizeof(local);
	int lfd, cfd = -1, afd, peer_port = 0;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = sock_listen_tcp("127.0.0.1", port, 16, false, true, err, sizeof(err));
	CHECK(lfd >= 0);
	CHECK_STR(err, "");
	CHECK(fd_nonblock_cloexec(lfd));
	CHECK_INT(getsockopt_int(lfd, SOL_SOCKET, SO_REUSEADDR), 1);
	afd = connect_and_accept(lfd, (struct sockaddr *)&sin, sizeof(sin), &cfd, &peer);
	CHECK(afd >= 0);
	CHECK(fd_nonblock_cloexec(afd));
	sock_format_addr((struct sockaddr *)&peer, buf, sizeof(buf), &peer_port);
	CHECK_STR(buf, "127.0.0.1");
	CHECK(getsockname(cfd, (struct sockaddr *)&local, &llen) == 0);
	CHECK_INT(peer_port, addr_port(&local));
	close(afd);
	close(cfd);
	close(lfd);
}

TEST(sock_tcp_listen_refuses_star_port_zero_and_busy_port)
{
	int port = free_tcp_port();
	char err[256] = "";
	int a, b;

	CHECK_INT(sock_listen_tcp("*", port, 16, false, false, err, sizeof(err)), -1);
	CHECK(strstr(err, "\"*\"") != NULL);
	CHECK_INT(sock_listen_tcp("127.0.0.1", 0, 16, false, false, err, sizeof(err)), -1);
	CHECK(strstr(err, "invalid port") != NULL);
	a = sock_listen_tcp("127.0.0.1", port, 16, false, false, err, sizeof(err));
	CHECK(a >= 0);
	err[0] = '\0';
	CHECK_INT(sock_listen_tcp("127.0.0.1", port, 16, false, false, err, sizeof(err)), -1);
	CHECK(strstr(err, "could not bind to \"127.0.0.1\" port") != NULL);
	close(a);
	a = sock_listen_tcp("127.0.0.1", port, 16, true, false, err, sizeof(err));
	b = sock_listen_tcp("127.0.0.1", port, 16, true, false, err, sizeof(err));
	CHECK(a >= 0 && b >= 0);
	CHECK_INT(getsockopt_int(b, SOL_SOCKET, SO_REUSEPORT), 1);
	close(a);
	close(b);
}

/* "0.0.0.0" and "::" on one port: possible because IPv6 sockets are IPv6-only. */
TEST(sock_tcp_listen_ipv4_and_ipv6_share_a_port)
{
	int port = free_tcp_port();
	char err[256] = "";
	int v4 = sock_listen_tcp("0.0.0.0", port, 16, false, false, err, sizeof(err));
	int v6 = sock_listen_tcp("::", port, 16, false, false, err, sizeof(err));

	CHECK(v4 >= 0);
	if (v6 < 0 && strstr(err, "Address family not supported")) {
		printf("# no IPv6 here: %s\n", err);
	} else {
		CHECK(v6 >= 0);
		CHECK_INT(getsockopt_int(v6, IPPROTO_IPV6, IPV6_V6ONLY), 1);
		close(v6);
	}
	close(v4);
}

TEST(sock_tune_tcp_sets_what_is_asked)
{
	int port = free_tcp_port();
	char err[256] = "";
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	const struct sock_tcp_opts opts = { .keepalive = true, .keepidle = 77, .keepintvl = 9 };
	struct sockaddr_storage peer;
	int lfd, cfd = -1, afd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = sock_listen_tcp("127.0.0.1", port, 16, false, false, err, sizeof(err));
	afd = connect_and_accept(lfd, (struct sockaddr *)&sin, sizeof(sin), &cfd, &peer);
	CHECK(afd >= 0);
	sock_tune_tcp(afd, &opts);
	CHECK_INT(getsockopt_int(afd, IPPROTO_TCP, TCP_NODELAY), 1);
	CHECK_INT(getsockopt_int(afd, SOL_SOCKET, SO_KEEPALIVE), 1);
	CHECK_INT(getsockopt_int(afd, IPPROTO_TCP, TCP_KEEPIDLE), 77);
	CHECK_INT(getsockopt_int(afd, IPPROTO_TCP, TCP_KEEPINTVL), 9);
	CHECK_INT(getsockopt_int(afd, IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
	close(afd);
	close(cfd);
	close(lfd);
}

TEST(sock_connect_to_closed_port_fails)
{
	int port = free_tcp_port();
	char err[256] = "";
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	bool in_progress = false;
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = sock_connect((struct sockaddr *)&sin, sizeof(sin), &in_progress, err, sizeof(err));
	if (fd >= 0) {
		CHECK(in_progress);
		CHECK(wait_fd(fd, POLLOUT));
		CHECK_INT(sock_connect_error(fd), ECONNREFUSED);
		close(fd);
	} else {
		CHECK(strstr(err, "could not connect to \"127.0.0.1\"") != NULL);
	}
}

TEST(sock_unix_path_is_built_and_bounded)
{
	struct sockaddr_un un;
	socklen_t len = 0;
	char dir[200];

	CHECK(sock_connect_unix_path("/tmp", 6432, &un, &len));
	CHECK_STR(un.sun_path, "/tmp/.s.PGSQL.6432");
	CHECK_INT(len, offsetof(struct sockaddr_un, sun_path) + strlen("/tmp/.s.PGSQL.6432") + 1);
	CHECK(sock_connect_unix_path("@weir", 6432, &un, &len));
	CHECK(un.sun_path[0] == '\0');
	CHECK(memcmp(un.sun_path + 1, "weir/.s.PGSQL.6432", 18) == 0);
	CHECK_INT(len, offsetof(struct sockaddr_un, sun_path) + 1 + 18);
	memset(dir, 'd', sizeof(dir) - 1);
	dir[0] = '/';
	dir[sizeof(dir) - 1] = '\0';
	CHECK(!sock_connect_unix_path(dir, 6432, &un, &len));
	CHECK(!sock_connect_unix_path("", 6432, &un, &len));
}

TEST(sock_unix_listen_detects_use_and_replaces_stale_file)
{
	char dir[] = "/tmp/weir-sock-XXXXXX";
	char err[256] = "", buf[16];
	struct sockaddr_un un;
	struct sockaddr_storage peer;
	struct stat st;
	socklen_t len;
	int lfd, second, cfd = -1, afd;
	uid_t uid = (uid_t)-1;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(sock_connect_unix_path(dir, 6432, &un, &len));
	lfd = sock_listen_unix(dir, 6432, 16, 0700, NULL, err, sizeof(err));
	CHECK(lfd >= 0);
	CHECK(stat(un.sun_path, &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK_INT(st.st_mode & 0777, 0700);
	CHECK_INT(sock_listen_unix(dir, 6432, 16, 0700, NULL, err, sizeof(err)), -1);
	CHECK_STR(err, "unix socket is in use, cannot continue");

	afd = connect_and_accept(lfd, (struct sockaddr *)&un, len, &cfd, &peer);
	CHECK(afd >= 0);
	CHECK(sock_peer_uid(afd, &uid));
	CHECK_INT(uid, getuid());
	sock_format_addr((struct sockaddr *)&peer, buf, sizeof(buf), NULL);
	CHECK_STR(buf, "unix");
	close(afd);
	close(cfd);

	close(lfd); /* the file stays behind, as after a crash */
	second = sock_listen_unix(dir, 6432, 16, 0777, NULL, err, sizeof(err));
	CHECK(second >= 0);
	close(second);
	unlink(un.sun_path);
	rmdir(dir);
}

TEST(sock_unix_listen_refuses_non_socket_and_unknown_group)
{
	char dir[] = "/tmp/weir-sock-XXXXXX";
	char err[256] = "";
	struct sockaddr_un un;
	socklen_t len;
	int fd;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(sock_connect_unix_path(dir, 6432, &un, &len));
	fd = open(un.sun_path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	CHECK_INT(sock_listen_unix(dir, 6432, 16, 0700, NULL, err, sizeof(err)), -1);
	CHECK(strstr(err, "is not a socket") != NULL);
	unlink(un.sun_path);
	CHECK_INT(sock_listen_unix(dir, 6432, 16, 0700, "weir-no-such-group", err, sizeof(err)),
		  -1);
	CHECK(strstr(err, "unknown group") != NULL);
	CHECK(access(un.sun_path, F_OK) < 0); /* the half-made socket was removed */
	rmdir(dir);
}

TEST(sock_unix_listen_abstract)
{
	char dir[64], err[256] = "";
	struct sockaddr_un un;
	struct sockaddr_storage peer;
	socklen_t len;
	int lfd, cfd = -1, afd;

	snprintf(dir, sizeof(dir), "@weir-test-%d", (int)getpid());
	lfd = sock_listen_unix(dir, 6432, 16, 0700, NULL, err, sizeof(err));
	CHECK(lfd >= 0);
	CHECK_INT(sock_listen_unix(dir, 6432, 16, 0700, NULL, err, sizeof(err)), -1);
	CHECK_STR(err, "unix socket is in use, cannot continue");
	CHECK(sock_connect_unix_path(dir, 6432, &un, &len));
	afd = connect_and_accept(lfd, (struct sockaddr *)&un, len, &cfd, &peer);
	CHECK(afd >= 0);
	close(afd);
	close(cfd);
	close(lfd);
}
