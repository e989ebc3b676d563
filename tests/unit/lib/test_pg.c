/* lib/pg: migration names and lists, SQLSTATE codes, and the behaviour of a
 * connection whose database is not there (a closed local port) or never
 * answers (a local listener that accepts nothing): no server needed. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "comanda/rpc.pb-c.h"
#include "payment_migrations.h"
#include "pg.h"
#include "stopsig.h"
#include "test.h"
#include "teststop.h"
#include "user_migrations.h"

TEST(pg_migration_name_parses)
{
	int v = 0;
	char name[32];
	CHECK(pg_migration_parse_name("001_users.sql", &v, name, sizeof(name)));
	CHECK_EQ_INT(v, 1);
	CHECK_STREQ(name, "users");
	CHECK(pg_migration_parse_name("12_add_index_2.sql", &v, name, sizeof(name)));
	CHECK_EQ_INT(v, 12);
	CHECK_STREQ(name, "add_index_2");
	CHECK(pg_migration_parse_name("999999999_x.sql", &v, name, sizeof(name)));
	CHECK_EQ_INT(v, 999999999);
}

TEST(pg_migration_name_refuses_malformed)
{
	int v = 0;
	char name[8];
	const char *bad[] = { "000_zero.sql", "users.sql", "_users.sql", "001users.sql", "001_.sql", "001_Users.sql",
		"001_users.SQL", "001_users.sql~", "001_us-ers.sql", "1234567890_long.sql", "001_users", "",
		"001_name_too_long.sql" /* does not fit 8 bytes */, NULL };
	for (int i = 0; bad[i] != NULL; i++)
		if (pg_migration_parse_name(bad[i], &v, name, sizeof(name)))
			test_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
}

TEST(pg_migrations_check_wants_increasing_versions)
{
	const pg_migration ok[] = { { 1, "a", "" }, { 2, "b", "" }, { 7, "c", "" } };
	const pg_migration dup[] = { { 1, "a", "" }, { 1, "b", "" } };
	const pg_migration down[] = { { 2, "a", "" }, { 3, "b", "" }, { 1, "c", "" } };
	const pg_migration zero[] = { { 0, "a", "" } };
	CHECK_EQ_INT(pg_migrations_check(ok, 3), -1);
	CHECK_EQ_INT(pg_migrations_check(ok, 0), -1);
	CHECK_EQ_INT(pg_migrations_check(dup, 2), 1);
	CHECK_EQ_INT(pg_migrations_check(down, 3), 2);
	CHECK_EQ_INT(pg_migrations_check(zero, 1), 0);
}

TEST(pg_sqlstates_map_to_codes)
{
	CHECK_EQ_INT(pg_code_for_sqlstate("23505"), COMANDA__CODE__ALREADY_EXISTS);
	CHECK_EQ_INT(pg_code_for_sqlstate("23514"), COMANDA__CODE__FAILED_PRECONDITION);
	CHECK_EQ_INT(pg_code_for_sqlstate("P0001"), COMANDA__CODE__FAILED_PRECONDITION);
	CHECK_EQ_INT(pg_code_for_sqlstate("40001"), COMANDA__CODE__ABORTED);
	CHECK_EQ_INT(pg_code_for_sqlstate("40P01"), COMANDA__CODE__ABORTED);
	CHECK_EQ_INT(pg_code_for_sqlstate("57014"), COMANDA__CODE__DEADLINE_EXCEEDED);
	CHECK_EQ_INT(pg_code_for_sqlstate("55P03"), COMANDA__CODE__DEADLINE_EXCEEDED); /* lock_timeout */
	CHECK_EQ_INT(pg_code_for_sqlstate("08006"), COMANDA__CODE__UNAVAILABLE);
	CHECK_EQ_INT(pg_code_for_sqlstate("57P01"), COMANDA__CODE__UNAVAILABLE);
	CHECK_EQ_INT(pg_code_for_sqlstate("53300"), COMANDA__CODE__UNAVAILABLE);
	CHECK_EQ_INT(pg_code_for_sqlstate("22003"), COMANDA__CODE__INVALID_ARGUMENT);
	CHECK_EQ_INT(pg_code_for_sqlstate("42P01"), COMANDA__CODE__INTERNAL);
	CHECK_EQ_INT(pg_code_for_sqlstate(NULL), COMANDA__CODE__INTERNAL);
	CHECK_EQ_INT(pg_code_for_sqlstate("235"), COMANDA__CODE__INTERNAL);
}

TEST(pg_unreachable_database_is_unavailable)
{
	/* Port 1 on loopback: refused at once. */
	pg_conn *c = pg_conn_new("postgresql://nobody@127.0.0.1:1/none", 1, "unit-test");
	CHECK(c != NULL);
	CHECK(!pg_conn_ok(c));
	PGresult *r = (PGresult *)1;
	CHECK_EQ_INT(pg_exec(c, "SELECT 1", 0, NULL, &r), COMANDA__CODE__UNAVAILABLE);
	CHECK(r == NULL);
	CHECK(!pg_probe(c));
	CHECK_EQ_INT(pg_run(NULL, "SELECT 1", 0, NULL), COMANDA__CODE__UNAVAILABLE);
	pg_conn_free(c);
	const pg_migration m[] = { { 1, "a", "SELECT 1" } };
	CHECK_EQ_INT(pg_migrate("postgresql://nobody@127.0.0.1:1/none", 1, 60, "unit-test", m, 1),
	    COMANDA__CODE__UNAVAILABLE);
}

TEST(pg_deadline_bounds_a_server_that_never_answers)
{
	int port = 0;
	int fd = teststop_silent_server(&port);
	CHECK(fd >= 0);
	char url[96];
	snprintf(url, sizeof(url), "postgresql://nobody@127.0.0.1:%d/none?sslmode=disable", port);
	/* No deadline: the connect timeout (1 s) ends the first attempt. */
	int64_t t0 = clock_mono_us();
	pg_conn *c = pg_conn_new(url, 1, "unit-test");
	int64_t took = (clock_mono_us() - t0) / 1000;
	CHECK(c != NULL && !pg_conn_ok(c));
	CHECK(took >= 900);
	/* A deadline 200 ms away ends the next one sooner than the connect
	 * timeout would, and the answer is UNAVAILABLE, in time to be passed on. */
	pg_conn_set_deadline(c, clock_mono_us() + 200 * 1000);
	t0 = clock_mono_us();
	PGresult *r = (PGresult *)1;
	CHECK_EQ_INT(pg_exec(c, "SELECT 1", 0, NULL, &r), COMANDA__CODE__UNAVAILABLE);
	took = (clock_mono_us() - t0) / 1000;
	CHECK(r == NULL);
	CHECK(took >= 150 && took < 900);
	/* A caller already past its deadline sends nothing at all. */
	pg_conn_set_deadline(c, clock_mono_us() - 1000);
	CHECK_EQ_INT(pg_exec(c, "SELECT 1", 0, NULL, &r), COMANDA__CODE__DEADLINE_EXCEEDED);
	CHECK(r == NULL);
	pg_conn_free(c);
	if (fd >= 0)
		close(fd);
}

/* A connect to a server that never answers, with a connect timeout of 30 s,
 * the stop begun 200 ms into it: it ends at the stop's grace, UNAVAILABLE;
 * after the grace nothing is even tried. */
static int pg_stop_cuts_a_connect(void *arg)
{
	const char *url = arg;
	if (teststop_begin_after(200) != 0)
		return 10;
	int64_t t0 = clock_mono_us();
	pg_conn *c = pg_conn_new(url, 30, "unit-test");
	int64_t took = (clock_mono_us() - t0) / 1000;
	if (c == NULL || pg_conn_ok(c))
		return 11;
	if (took < 200 + STOPSIG_GRACE_MS - 50 || took > 200 + STOPSIG_GRACE_MS + 1000)
		return 12;
	t0 = clock_mono_us();
	PGresult *r = NULL;
	int code = pg_exec(c, "SELECT 1", 0, NULL, &r);
	PQclear(r);
	pg_conn_free(c);
	if (code != COMANDA__CODE__UNAVAILABLE || (clock_mono_us() - t0) / 1000 > 100)
		return 13;
	/* so is a migration's start */
	const pg_migration m[] = { { 1, "a", "SELECT 1" } };
	return pg_migrate(url, 30, 60, "unit-test", m, 1) == COMANDA__CODE__UNAVAILABLE ? 0 : 14;
}

TEST(pg_stop_cuts_a_wait_on_a_server_that_never_answers)
{
	int port = 0;
	int fd = teststop_silent_server(&port);
	CHECK(fd >= 0);
	char url[96];
	snprintf(url, sizeof(url), "postgresql://nobody@127.0.0.1:%d/none?sslmode=disable", port);
	CHECK_EQ_INT(teststop_in_child(pg_stop_cuts_a_connect, url), 0);
	if (fd >= 0)
		close(fd);
}

/* Reads a whole file into a malloc'd string. */
static char *test_pg_slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while (buf != NULL && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == cap) {
			char *bigger = realloc(buf, cap * 2);
			if (bigger == NULL)
				free(buf);
			buf = bigger;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf != NULL)
		buf[len] = '\0';
	return buf;
}

/* The embedded migrations are exactly the .sql files (run from the repo
 * root, as `make unit` does): a .sql edited without re-running
 * tools/embed_sql.py fails here. */
static void test_pg_embedded_match(const char *dir, const pg_migration *m, size_t n)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		test_fail(__FILE__, __LINE__, "cannot open %s (run from the repository root)", dir);
		return;
	}
	size_t files = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		int v = 0;
		char name[128];
		if (strstr(e->d_name, ".sql") == NULL)
			continue;
		files++;
		if (!pg_migration_parse_name(e->d_name, &v, name, sizeof(name))) {
			test_fail(__FILE__, __LINE__, "%s/%s: not NNN_name.sql", dir, e->d_name);
			continue;
		}
		const pg_migration *found = NULL;
		for (size_t i = 0; i < n; i++)
			if (m[i].version == v)
				found = &m[i];
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		char *text = test_pg_slurp(path);
		if (found == NULL || text == NULL || strcmp(found->name, name) != 0 || strcmp(found->sql, text) != 0)
			test_fail(__FILE__, __LINE__, "%s differs from the embedded copy: run tools/embed_sql.py", path);
		free(text);
	}
	closedir(d);
	CHECK_EQ_INT(files, n);
	CHECK_EQ_INT(pg_migrations_check(m, n), -1);
}

TEST(pg_embedded_migrations_match_the_files)
{
	test_pg_embedded_match("svc-user/migrations", user_migrations, USER_MIGRATIONS_COUNT);
	test_pg_embedded_match("svc-payment/migrations", payment_migrations, PAYMENT_MIGRATIONS_COUNT);
}
