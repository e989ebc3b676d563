/*
 * pg_live: lib/pg's deadlines (pg_conn_set_deadline) against the stack's
 * real PostgreSQL, run by tests/integration/test_pg_prepared.sh. A
 * statement the server holds past the deadline (pg_sleep: to a client, the
 * same as a frozen server) is abandoned with its connection; a transaction
 * is never left open on a connection, whether its caller ran out of time
 * before its ROLLBACK or a new caller comes.
 *
 * Environment: PG_LIVE_URL (required), a database it may create a scratch
 * table in (dropped at the end). Output: "ok"/"FAIL" lines, then
 * "pg_live: N passed, M failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "comanda/rpc.pb-c.h"
#include "live.h"
#include "log.h"
#include "pg.h"

static char table[64];

/* A deadline ms from now. */
static void deadline_in(pg_conn *c, int64_t ms)
{
	pg_conn_set_deadline(c, clock_mono_us() + ms * 1000);
}

/* Rows in the scratch table, on a fresh deadline (so a new caller). */
static long rows(pg_conn *c)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	deadline_in(c, 5000);
	PGresult *r = NULL;
	long n = pg_exec(c, sql, 0, NULL, &r) == COMANDA__CODE__OK ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
	PQclear(r);
	return n;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("pg_live");
	const char *url = getenv("PG_LIVE_URL");
	if (url == NULL || url[0] == '\0') {
		fprintf(stderr, "pg_live: PG_LIVE_URL is not set\n");
		return 2;
	}
	snprintf(table, sizeof(table), "pg_live_%ld", (long)getpid());
	pg_conn *c = pg_conn_new(url, 2, "pg_live");
	char sql[160];
	snprintf(sql, sizeof(sql), "CREATE TABLE %s (n int)", table);
	check(c != NULL && pg_conn_ok(c) && pg_run(c, sql, 0, NULL) == COMANDA__CODE__OK, "set up: a scratch table", NULL);

	/* the server holds the statement past the deadline */
	deadline_in(c, 300);
	int64_t t0 = clock_mono_us();
	int code = pg_run(c, "SELECT pg_sleep(2)", 0, NULL);
	int64_t took = (clock_mono_us() - t0) / 1000;
	check(code == COMANDA__CODE__UNAVAILABLE, "a statement still running at the deadline is UNAVAILABLE", "code %d",
	    code);
	check(took >= 250 && took < 1500, "... given up at the deadline, not when the server answers",
	    "after %lld ms", (long long)took);
	check(!pg_conn_ok(c), "... and its connection is closed", NULL);
	deadline_in(c, 5000);
	check(pg_run(c, "SELECT 1", 0, NULL) == COMANDA__CODE__OK, "the next caller connects again and is served",
	    NULL);

	/* a caller out of time before its ROLLBACK */
	char ins[128];
	snprintf(ins, sizeof(ins), "INSERT INTO %s VALUES (1)", table);
	deadline_in(c, 300);
	check(pg_run(c, "BEGIN", 0, NULL) == COMANDA__CODE__OK && pg_run(c, ins, 0, NULL) == COMANDA__CODE__OK,
	    "set up: a transaction with an insert", NULL);
	clock_sleep_ms(400);
	code = pg_run(c, "ROLLBACK", 0, NULL);
	check(code == COMANDA__CODE__DEADLINE_EXCEEDED, "past the deadline even ROLLBACK is not sent", "code %d", code);
	check(!pg_conn_ok(c), "... but the connection is closed, so the server rolls the transaction back", NULL);
	check(rows(c) == 0, "... and the insert is not there", NULL);

	/* a new caller never inherits a transaction */
	deadline_in(c, 5000);
	check(pg_run(c, "BEGIN", 0, NULL) == COMANDA__CODE__OK && pg_run(c, ins, 0, NULL) == COMANDA__CODE__OK,
	    "set up: a caller leaves a transaction open", NULL);
	check(rows(c) == 0, "the next caller (another deadline) starts outside it: the insert was rolled back", NULL);
	deadline_in(c, 5000);
	check(pg_run(c, ins, 0, NULL) == COMANDA__CODE__OK && rows(c) == 1,
	    "same deadline, same caller: statements outside a transaction commit as before", NULL);

	snprintf(sql, sizeof(sql), "DROP TABLE %s", table);
	deadline_in(c, 5000);
	pg_run(c, sql, 0, NULL);
	pg_conn_free(c);
	return live_finish("pg_live");
}
