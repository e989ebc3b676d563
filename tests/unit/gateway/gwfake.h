/*
 * gwfake: the gateway under test against fake services. One in-process RPC
 * server (ipc://) serves the fake implementations a test brings; the
 * gateway's clients it asks for dial it; lib/httpd serves the gateway's real
 * route table on a loopback port; a customer's (user 7) and an admin's
 * (user 1) bearer tokens are signed with the fixture's key. Used by the
 * gateway's route tests (test_users, test_orders).
 *
 * Threading: start and stop on the test's thread; requests from any.
 */
#ifndef COMANDA_GWFAKE_H
#define COMANDA_GWFAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_app.h"
#include "httpd.h"
#include "jwt.h"
#include "rpc.h"

/* Which of gw_app's clients dial the fake server. */
enum { GWFAKE_USER = 1u << 0, GWFAKE_ORDER = 1u << 1, GWFAKE_PAYMENT = 1u << 2 };

typedef struct gwfake {
	rpc_server *server;
	gw_app app;
	httpd *http;
	int port;
	char customer[JWT_MAX_LEN + 8];  /* "Bearer <token>" of user 7 */
	char admin[JWT_MAX_LEN + 8];     /* "Bearer <token>" of user 1 */
} gwfake;

/* Starts it all: bindings[i] served with impls[i] (i < n) by two RPC
 * workers, the clients in `clients` (GWFAKE_*) connected, http_threads HTTP
 * threads (0: 2). tag names the socket and the server in logs. Returns
 * false (a CHECK has failed) when something did not start; gwfake_stop is
 * still safe then. */
bool gwfake_start(gwfake *f, const char *tag, const rpc_service_binding *const bindings[], const void *const impls[],
    size_t n, unsigned clients, int http_threads);

/* Stops the HTTP server, the clients and the fake server. */
void gwfake_stop(gwfake *f);

/* One request (see testhttp_request): auth NULL is anonymous, else the
 * Authorization value (f->customer, f->admin); extra is more header lines;
 * a body gets Content-Type: application/json. The response is malloc'd. */
char *gwfake_request(const gwfake *f, const char *method, const char *target, const char *auth, const char *extra,
    const char *body);

#endif
