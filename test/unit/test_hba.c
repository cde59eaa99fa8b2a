/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for the HBA rules and ident maps: every field kind, @file lists, errors with
 * their file and line, first-match order, IPv4 and IPv6 prefixes and masks, the replication
 * keyword, and ident lookups.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"
#include "hba.h"
#include "ident.h"

#define ERRLEN 1024

/* A TCP (or, with addr NULL, Unix-socket) connection for db/user from addr. */
struct probe {
	struct hba_conn c;
	uint8_t addr[16];
};

static const struct hba_conn *tcp(struct probe *p, const char *addr, const char *db,
				  const char *user)
{
	memset(p, 0, sizeof(*p));
	p->c.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	CHECK(inet_pton(p->c.family, addr, p->addr) == 1);
	p->c.addr = p->addr;
	p->c.db_name = db;
	p->c.user_name = user;
	return &p->c;
}

static const struct hba_conn *local(struct probe *p, const char *db, const char *user)
{
	memset(p, 0, sizeof(*p));
	p->c.unix_socket = true;
	p->c.family = AF_UNIX;
	p->c.db_name = db;
	p->c.user_name = user;
	return &p->c;
}

static struct hba *parse(const char *text)
{
	char err[ERRLEN];
	struct hba *hba = hba_parse(text, "/etc/weir/hba.conf", err, sizeof(err));

	if (!hba)
		printf("#   unexpected errors: %s\n", err);
	CHECK(hba != NULL);
	return hba;
}

static void check_error(const char *text, const char *want)
{
	char err[ERRLEN];
	struct hba *hba = hba_parse(text, "hba.conf", err, sizeof(err));

	CHECK(hba == NULL);
	CHECK_STR(err, want);
	hba_free(hba);
}

/* The line of the rule that matches c, or 0 when none does. */
static int line_of(const struct hba *hba, const struct hba_conn *c)
{
	const struct hba_rule *r = hba_match(hba, c);

	return r ? r->line : 0;
}

TEST(hba_every_record_type_and_method_parses)
{
	struct hba *hba = parse("# comment\n"
				"\n"
				"local all all peer map=os\n"
				"host all all all trust   # trailing comment\n"
				"hostssl all all 10.0.0.0/8 cert map=certs\n"
				"hostnossl all all 10.0.0.0/8 md5\n"
				"host all all ::1/128 scram-sha-256\n"
				"host all all 192.168.0.0 255.255.0.0 password\n"
				"host all all 0.0.0.0/0 reject\n");
	const struct hba_rule *r;

	CHECK_INT(hba_count(hba), 7);
	if (hba_count(hba) != 7)
		return;
	r = hba_rule_at(hba, 0);
	CHECK_INT(r->line, 3);
	CHECK_INT(r->type, HBA_LOCAL);
	CHECK_INT(r->method, AUTH_TYPE_PEER);
	CHECK_STR(r->map, "os");
	CHECK(r->any_addr);
	CHECK_INT(hba_rule_at(hba, 1)->type, HBA_HOST);
	CHECK_INT(hba_rule_at(hba, 1)->method, AUTH_TYPE_TRUST);
	CHECK(hba_rule_at(hba, 1)->any_addr);
	CHECK(hba_rule_at(hba, 1)->map == NULL);
	CHECK_INT(hba_rule_at(hba, 2)->type, HBA_HOSTSSL);
	CHECK_INT(hba_rule_at(hba, 2)->method, AUTH_TYPE_CERT);
	CHECK_STR(hba_rule_at(hba, 2)->map, "certs");
	CHECK_INT(hba_rule_at(hba, 3)->type, HBA_HOSTNOSSL);
	CHECK_INT(hba_rule_at(hba, 3)->method, AUTH_TYPE_MD5);
	CHECK_INT(hba_rule_at(hba, 4)->method, AUTH_TYPE_SCRAM);
	CHECK_INT(hba_rule_at(hba, 4)->family, AF_INET6);
	CHECK_INT(hba_rule_at(hba, 5)->method, AUTH_TYPE_PLAIN);
	CHECK_INT(hba_rule_at(hba, 5)->family, AF_INET);
	CHECK_INT(hba_rule_at(hba, 6)->method, AUTH_TYPE_REJECT);
	CHECK_INT(hba_rule_at(hba, 6)->line, 9);
	hba_free(hba);
}

TEST(hba_name_fields_keywords_lists_and_quotes)
{
	struct hba *hba =
	    parse("host sameuser all 127.0.0.1/32 trust\n"
		  "host \"all\" bob 127.0.0.1/32 md5\n"
		  "host app,\"Big Db\", other alice,\"carol \"\"c\"\"\" 127.0.0.1/32 md5\n"
		  "host \"sameuser\" \"all\" 127.0.0.1/32 password\n");
	const struct hba_rule *r;
	struct probe p;

	CHECK_INT(hba_count(hba), 4);
	if (hba_count(hba) != 4)
		return;
	CHECK_INT(hba_rule_at(hba, 0)->db.v[0].kind, HBA_NAME_SAMEUSER);
	CHECK_INT(hba_rule_at(hba, 1)->db.v[0].kind, HBA_NAME_LITERAL);
	CHECK_STR(hba_rule_at(hba, 1)->db.v[0].text, "all");
	r = hba_rule_at(hba, 2);
	CHECK_INT(r->db.n, 3);
	CHECK_STR(r->db.v[1].text, "Big Db");
	CHECK_STR(r->db.v[2].text, "other");
	CHECK_INT(r->user.n, 2);
	CHECK_STR(r->user.v[1].text, "carol \"c\"");
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "eve", "eve")), 1);
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "all", "bob")), 2);
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "app", "bob")), 0);
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "Big Db", "carol \"c\"")), 3);
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "big db", "alice")), 0);
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "sameuser", "all")), 4);
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "sameuser", "bob")), 0);
	hba_free(hba);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

TEST(hba_at_file_lists_are_read_relative_to_the_hba_file)
{
	char dir[64], path[128], err[ERRLEN], want[256];
	struct hba *hba;
	struct probe p;

	snprintf(dir, sizeof(dir), "/tmp/weir-hba-%d", (int)getpid());
	CHECK(mkdir(dir, 0700) == 0);
	snprintf(path, sizeof(path), "%s/dbs.txt", dir);
	write_file(path, "# the databases\nsales, \"Q A\"\n  hr\n");
	snprintf(path, sizeof(path), "%s/users.txt", dir);
	write_file(path, "ann bob\n\"all\"\n");
	snprintf(path, sizeof(path), "%s/hba.conf", dir);
	write_file(path, "host @dbs.txt,app @users.txt 127.0.0.1/32 md5\n");
	hba = hba_load(path, NULL, err, sizeof(err));
	CHECK(hba != NULL);
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "hr", "bob")), 1);
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "Q A", "ann")), 1);
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "app", "all")), 1);
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "app", "carl")), 0);
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "q a", "ann")), 0);
	hba_free(hba);

	write_file(path, "host all all all trust\nhost all @missing.txt all md5\n");
	CHECK(hba_load(path, NULL, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want),
		 "%s:2: could not open \"%s/missing.txt\": No such file or directory", path, dir);
	CHECK_STR(err, want);
	snprintf(path, sizeof(path), "%s/users.txt", dir);
	write_file(path, "ann\n@more\n");
	snprintf(path, sizeof(path), "%s/hba.conf", dir);
	write_file(path, "host all @users.txt all md5\n");
	CHECK(hba_load(path, NULL, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "%s/users.txt:2: nested @file is not supported: \"@more\"",
		 dir);
	CHECK_STR(err, want);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	CHECK(system(path) == 0);
}

TEST(hba_errors_name_file_and_line)
{
	check_error("host all all all trust\nhostgssenc all all all trust\n",
		    "hba.conf:2: connection type \"hostgssenc\" is not supported");
	check_error("hosts all all all trust\n", "hba.conf:1: invalid connection type \"hosts\"");
	check_error("host all all samehost trust\n", "hba.conf:1: \"samehost\" is not supported");
	check_error("host all all samenet trust\n", "hba.conf:1: \"samenet\" is not supported");
	check_error("host all all db.example.com trust\n",
		    "hba.conf:1: host names are not supported: \"db.example.com\"");
	check_error("host all +admins all trust\n",
		    "hba.conf:1: +group names are not supported: \"+admins\"");
	check_error("host samerole all all trust\n", "hba.conf:1: \"samerole\" is not supported");
	check_error("host all all all ident\n",
		    "hba.conf:1: authentication method \"ident\" is not supported");
	check_error("host all all all ldap ldapserver=x\n",
		    "hba.conf:1: authentication method \"ldap\" is not supported");
	check_error("host all all all magic\n",
		    "hba.conf:1: invalid authentication method \"magic\"");
	check_error("host all all all md5 map=x\n",
		    "hba.conf:1: authentication option \"map\" is only valid for cert and peer");
	check_error("local all all peer clientcert=verify-ca\n",
		    "hba.conf:1: authentication option \"clientcert\" is not supported");
	check_error("local all all peer mapx\n",
		    "hba.conf:1: authentication option not in name=value format: \"mapx\"");
	check_error("local all all peer map=\n", "hba.conf:1: empty map name");
	check_error("local all all trust,md5\n",
		    "hba.conf:1: multiple values in authentication method");
	check_error("local\n", "hba.conf:1: end of line before database specification");
	check_error("local all\n", "hba.conf:1: end of line before role specification");
	check_error("local all all\n", "hba.conf:1: end of line before authentication method");
	check_error("host all all\n", "hba.conf:1: end of line before IP address specification");
	check_error("host all all 10.0.0.1/33 trust\n",
		    "hba.conf:1: invalid CIDR mask in address \"10.0.0.1/33\"");
	check_error("host all all 10.0.0.1/x trust\n",
		    "hba.conf:1: invalid CIDR mask in address \"10.0.0.1/x\"");
	check_error("host all all 10.0.0.300/8 trust\n",
		    "hba.conf:1: invalid IP address \"10.0.0.300/8\"");
	check_error("host all all 10.0.0.1 trust\n", "hba.conf:1: invalid IP mask \"trust\"");
	check_error("host all all 10.0.0.1\n",
		    "hba.conf:1: end of line before netmask specification");
	check_error("host all all 10.0.0.1 ffff:: trust\n",
		    "hba.conf:1: IP address and mask do not match: \"10.0.0.1 ffff::\"");
	check_error("host \"all all all trust\n", "hba.conf:1: unterminated quoted string");
	check_error("host a,,b all all trust\n",
		    "hba.conf:1: empty item in a comma-separated list");
	check_error("host all all all @x trust\n",
		    "hba.conf:1: invalid authentication method \"@x\"");
}

TEST(hba_every_bad_line_is_reported)
{
	check_error("local all all trust\n"
		    "local all all nope\n"
		    "host all all all trust\n"
		    "host all all 1.2.3.4/99 trust\n",
		    "hba.conf:2: invalid authentication method \"nope\"\n"
		    "hba.conf:4: invalid CIDR mask in address \"1.2.3.4/99\"");
}

TEST(hba_first_matching_rule_wins)
{
	struct hba *hba = parse("host app alice 127.0.0.1/32 reject\n"
				"host app all 127.0.0.1/32 md5\n"
				"host all all 127.0.0.0/8 scram-sha-256\n"
				"local all all peer\n"
				"hostssl all all all cert\n"
				"hostnossl all all all password\n");
	struct probe p;

	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "app", "alice")), 1);
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "app", "bob")), 2);
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.2", "app", "alice")), 3);
	CHECK_INT(line_of(hba, local(&p, "app", "alice")), 4);
	CHECK_INT(line_of(hba, tcp(&p, "10.1.1.1", "app", "alice")), 6);
	tcp(&p, "10.1.1.1", "app", "alice");
	p.c.tls = true;
	CHECK_INT(line_of(hba, &p.c), 5);
	hba_free(hba);
}

TEST(hba_no_matching_rule_is_null)
{
	struct hba *hba = parse("local all all trust\n");
	struct probe p;

	CHECK(hba_match(hba, tcp(&p, "127.0.0.1", "app", "bob")) == NULL);
	CHECK(hba_match(NULL, local(&p, "app", "bob")) == NULL);
	hba_free(hba);
	hba = parse("# only comments\n\n");
	CHECK_INT(hba_count(hba), 0);
	CHECK(hba_match(hba, local(&p, "app", "bob")) == NULL);
	hba_free(hba);
}

TEST(hba_ipv4_prefixes_and_masks)
{
	struct hba *hba = parse("host all all 127.0.0.1/32 trust\n"
				"host all all 10.0.0.0/8 trust\n"
				"host all all 192.168.4.77 255.255.255.0 trust\n"
				"host all all 172.16.0.0/12 trust\n"
				"host all all 0.0.0.0/0 trust\n");
	struct probe p;

	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "d", "u")), 1);
	CHECK_INT(line_of(hba, tcp(&p, "10.255.0.1", "d", "u")), 2);
	CHECK_INT(line_of(hba, tcp(&p, "192.168.4.1", "d", "u")), 3);
	CHECK_INT(line_of(hba, tcp(&p, "192.168.5.77", "d", "u")), 5);
	CHECK_INT(line_of(hba, tcp(&p, "172.31.255.255", "d", "u")), 4);
	CHECK_INT(line_of(hba, tcp(&p, "172.32.0.0", "d", "u")), 5);
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.2", "d", "u")), 5);
	/* an IPv4 rule matches an IPv4-mapped IPv6 address, no other IPv6 one */
	CHECK_INT(line_of(hba, tcp(&p, "::ffff:10.1.2.3", "d", "u")), 2);
	CHECK_INT(line_of(hba, tcp(&p, "::1", "d", "u")), 0);
	CHECK_INT(line_of(hba, local(&p, "d", "u")), 0);
	hba_free(hba);
}

TEST(hba_ipv6_prefixes_and_masks)
{
	struct hba *hba = parse("host all all ::1/128 trust\n"
				"host all all fd00:1234::/32 trust\n"
				"host all all 2001:db8:: ffff:ffff:ffff:ffff:: trust\n"
				"host all all fe80::/10 trust\n");
	struct probe p;

	CHECK_INT(line_of(hba, tcp(&p, "::1", "d", "u")), 1);
	CHECK_INT(line_of(hba, tcp(&p, "::2", "d", "u")), 0);
	CHECK_INT(line_of(hba, tcp(&p, "fd00:1234:ffff::9", "d", "u")), 2);
	CHECK_INT(line_of(hba, tcp(&p, "fd00:1235::9", "d", "u")), 0);
	CHECK_INT(line_of(hba, tcp(&p, "2001:db8:0:1::", "d", "u")), 0);
	CHECK_INT(line_of(hba, tcp(&p, "2001:db8:0:0:1::", "d", "u")), 3);
	CHECK_INT(line_of(hba, tcp(&p, "2001:db8::42", "d", "u")), 3);
	CHECK_INT(line_of(hba, tcp(&p, "febf::1", "d", "u")), 4);
	CHECK_INT(line_of(hba, tcp(&p, "fec0::1", "d", "u")), 0);
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "d", "u")), 0);
	hba_free(hba);
}

TEST(hba_replication_keyword_matches_only_physical_replication)
{
	struct hba *hba = parse("host all all 127.0.0.1/32 reject\n"
				"host replication repl 127.0.0.1/32 scram-sha-256\n"
				"host replication,app all 127.0.0.1/32 md5\n");
	struct probe p;

	tcp(&p, "127.0.0.1", "replication", "repl");
	p.c.replication = true;
	CHECK_INT(line_of(hba, &p.c), 2);
	tcp(&p, "127.0.0.1", "app", "other");
	p.c.replication = true;
	CHECK_INT(line_of(hba, &p.c), 3);
	/* a database named "replication" asked for normally is matched by `all` */
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "replication", "repl")), 1);
	hba_free(hba);
	hba = parse("host sameuser,db1 all 127.0.0.1/32 trust\n");
	tcp(&p, "127.0.0.1", "u", "u");
	p.c.replication = true;
	CHECK_INT(line_of(hba, &p.c), 0);
	tcp(&p, "127.0.0.1", "db1", "u");
	p.c.replication = true;
	CHECK_INT(line_of(hba, &p.c), 0);
	CHECK_INT(line_of(hba, tcp(&p, "127.0.0.1", "db1", "u")), 1);
	hba_free(hba);
}

TEST(ident_maps_parse_and_look_up)
{
	char err[ERRLEN];
	struct ident *id = ident_parse("# map  system  database\n"
				       "os     weir    weir\n"
				       "os     weir    app_user   # a comment\n"
				       "os     root    all\n"
				       "certs  \"CN x\" \"all\"\n",
				       "ident.conf", err, sizeof(err));

	CHECK(id != NULL);
	CHECK_INT(ident_count(id), 4);
	CHECK(ident_match(id, "os", "weir", "weir"));
	CHECK(ident_match(id, "os", "weir", "app_user"));
	CHECK(!ident_match(id, "os", "weir", "postgres"));
	CHECK(ident_match(id, "os", "root", "anyone"));
	CHECK(!ident_match(id, "certs", "weir", "weir"));
	CHECK(!ident_match(id, "os2", "weir", "weir"));
	CHECK(ident_match(id, "certs", "CN x", "all"));
	CHECK(!ident_match(id, "certs", "CN x", "bob"));
	CHECK(!ident_match(NULL, "os", "weir", "weir"));
	ident_free(id);
}

static void check_ident_error(const char *text, const char *want)
{
	char err[ERRLEN];
	struct ident *id = ident_parse(text, "ident.conf", err, sizeof(err));

	CHECK(id == NULL);
	CHECK_STR(err, want);
	ident_free(id);
}

TEST(ident_errors_name_file_and_line)
{
	check_ident_error("os weir weir\nos /^(.*)$ \\1\n",
			  "ident.conf:2: regular expressions are not supported");
	check_ident_error("os weir +admins\n", "ident.conf:1: +group names are not supported");
	check_ident_error("include other.conf\n",
			  "ident.conf:1: include directives are not supported");
	check_ident_error("\nos weir\n",
			  "ident.conf:2: syntax error: expected map-name system-username "
			  "database-username");
	check_ident_error("os weir a,b\n",
			  "ident.conf:1: syntax error: a field holds a comma-separated list");
	check_ident_error("os \"weir b\n", "ident.conf:1: unterminated quoted string");
}

TEST(hba_load_takes_its_ident_maps_and_reports_their_errors)
{
	char hba_path[64], id_path[64], err[ERRLEN], want[256];
	struct hba *hba;

	snprintf(hba_path, sizeof(hba_path), "/tmp/weir-hba-%d.conf", (int)getpid());
	snprintf(id_path, sizeof(id_path), "/tmp/weir-ident-%d.conf", (int)getpid());
	write_file(hba_path, "local all all peer map=os\n");
	write_file(id_path, "os weir app\n");
	hba = hba_load(hba_path, id_path, err, sizeof(err));
	CHECK(hba != NULL);
	CHECK(hba_map_allows(hba, "os", "weir", "app"));
	CHECK(!hba_map_allows(hba, "os", "weir", "other"));
	hba_free(hba);
	hba = hba_load(hba_path, "", err, sizeof(err));
	CHECK(hba != NULL);
	CHECK(!hba_map_allows(hba, "os", "weir", "app"));
	hba_free(hba);
	write_file(hba_path, "local all all peer map=os\nlocal all all nope\n");
	write_file(id_path, "os weir\n");
	CHECK(hba_load(hba_path, id_path, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want),
		 "%s:2: invalid authentication method \"nope\"\n"
		 "%s:1: syntax error: expected map-name system-username database-username",
		 hba_path, id_path);
	CHECK_STR(err, want);
	unlink(hba_path);
	unlink(id_path);
	CHECK(hba_load(hba_path, NULL, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "could not open \"%s\": No such file or directory", hba_path);
	CHECK_STR(err, want);
}

TEST(hba_comment_may_follow_a_token_directly)
{
	struct hba *hba = parse("local all all trust#no blank before\n"
				"local \"a#b\" all md5 # quoted # is a name\r\n");

	CHECK_INT(hba_count(hba), 2);
	if (hba_count(hba) != 2)
		return;
	CHECK_INT(hba_rule_at(hba, 0)->method, AUTH_TYPE_TRUST);
	CHECK_STR(hba_rule_at(hba, 1)->db.v[0].text, "a#b");
	CHECK_INT(hba_rule_at(hba, 1)->method, AUTH_TYPE_MD5);
	hba_free(hba);
}
