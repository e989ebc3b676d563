/*
 * gw_ratelimit: the gateway's rate limits (../API.md "Rate limits"), on
 * lib/ratelimit token buckets. Three policies, each its own table:
 *
 *   "default"     every request of a caller, except on the routes flagged
 *                 GW_ROUTE_UNLIMITED (/health, /status, /ready, /metrics)
 *                 and CORS preflights. The caller is the user when the
 *                 request carries a valid token ("u:<id>"), else the client
 *                 address (netaddr_key: an IPv6 client by its /64). A bucket
 *                 of RATE_LIMIT_BURST requests refilled at RATE_LIMIT_RPS a
 *                 second. A full table evicts (fail open, counted).
 *   "login"       WRONG PASSWORDS per (client address, account e-mail
 *                 lower-cased): LOGIN_FAIL_LIMIT failures, refilled at that
 *                 many per LOGIN_FAIL_WINDOW_S. One person's typos lock out
 *                 only that e-mail from that address.
 *   "login-addr"  wrong passwords per client address, all e-mails together:
 *                 LOGIN_FAIL_ADDR_LIMIT per LOGIN_FAIL_WINDOW_S, so an address
 *                 cannot try many e-mails either.
 * A wrong password is a failed POST /api/auth/login (its 401) or a wrong
 * current_password of a change of one's own password (PATCH
 * /api/users/{id}, gw_users): both guess the same secret, so they are one
 * budget, under the same key: the e-mail the login names, the e-mail of
 * the account whose password is changed.
 * The login tables fail closed: when full of active buckets a NEW key is
 * refused (429) rather than anyone's failures forgotten.
 *
 * A guess holds one token of each login bucket while svc-user checks it
 * (so parallel guesses cannot overshoot the limit); only a wrong password
 * keeps them. The right one gives back the address token and forgets the
 * (address, e-mail) bucket; any other outcome (400, 503...) gives both back.
 *
 * Headers (draft-ietf-httpapi-ratelimit-headers-11, Structured Fields):
 *   RateLimit-Policy: "default";q=<RATE_LIMIT_BURST>;w=<ceil(burst / rps)>
 *   RateLimit: "default";r=<requests left now>;t=<seconds until the bucket is full>
 * on every response the default policy applies to (401, 404 and 405
 * included); on a refusal r=0 and t equals Retry-After (seconds until one
 * request is allowed). Login answers, and the answers of a password change
 * whose current password was (or would have been) checked, add the items
 *   "login";q=<LOGIN_FAIL_LIMIT>;w=<window>, "login-addr";q=..;w=..
 * to both fields, with r = failures still allowed.
 * Refusals: 429 {"success":false,"error","code":"RESOURCE_EXHAUSTED",
 * "request_id"} with Retry-After, counted in
 * comanda_http_rate_limited_total{policy}.
 *
 * Threading: any thread, concurrently; a NULL gw_ratelimit (unit tests, or
 * every policy off) allows everything and adds no header.
 */
#ifndef COMANDA_GW_RATELIMIT_H
#define COMANDA_GW_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_routes.h"
#include "httpd.h"

typedef struct gw_ratelimit gw_ratelimit;

typedef struct gw_ratelimit_config {
	int rps;                    /* RATE_LIMIT_RPS; 0: the default policy is off */
	int burst;                  /* RATE_LIMIT_BURST (>= 1 when rps > 0) */
	int login_fail_limit;       /* LOGIN_FAIL_LIMIT; 0: that policy is off */
	int login_fail_addr_limit;  /* LOGIN_FAIL_ADDR_LIMIT; 0: that policy is off */
	int login_fail_window_s;    /* LOGIN_FAIL_WINDOW_S (>= 1 when a login policy is on) */
	size_t table_size;          /* RATE_LIMIT_TABLE_SIZE: keys per table */
} gw_ratelimit_config;

/* Makes the tables of the policies that are on. 0 with *out (NULL when all
 * are off), or -1 (logged) on a bad configuration or no memory. */
int gw_ratelimit_new(gw_ratelimit **out, const gw_ratelimit_config *cfg);

/* Frees rl (NULL is fine); no call may be in progress. */
void gw_ratelimit_free(gw_ratelimit *rl);

/* Charges req (after gw_auth set its caller) to the default policy. True:
 * go on (the RateLimit headers are in resp already). False: resp was reset
 * and now holds the 429. */
bool gw_ratelimit_request(gw_ratelimit *rl, const gw_request *req, httpd_response *resp);

/* Before a login's RPC: reserves one failure of (client, email) and of the
 * client. True: go on, and call gw_ratelimit_login_end with the outcome.
 * False: resp holds the 429 ("Too many failed login attempts; retry
 * later") and the attempt must not be made. */
bool gw_ratelimit_login_begin(gw_ratelimit *rl, const gw_request *req, const char *email, httpd_response *resp);

/* gw_ratelimit_login_begin for any other check of a password, the same
 * reservation in the same buckets (one implementation): email is the
 * account's stored e-mail. Then gw_ratelimit_password_end. Its 429 says
 * "Too many failed password checks; retry later". */
bool gw_ratelimit_password_begin(gw_ratelimit *rl, const gw_request *req, const char *email, httpd_response *resp);

/* What a password check came to. */
typedef enum gw_rl_verdict {
	GW_RL_PASSWORD_RIGHT = 0,   /* checked and right: gives back, forgets (client, email) */
	GW_RL_PASSWORD_WRONG,       /* checked and wrong: the failure stays charged */
	GW_RL_PASSWORD_UNCHECKED,   /* no verdict (bad input, service down, no answer): gives back */
} gw_rl_verdict;

/* After a password_begin's RPC (or after giving up before it): settles the
 * reservation by verdict and adds the login items to resp's RateLimit
 * headers. */
void gw_ratelimit_password_end(gw_ratelimit *rl, const gw_request *req, const char *email, gw_rl_verdict verdict,
    httpd_response *resp);

/* True when a failed-password policy ("login" or "login-addr") is on:
 * otherwise begin/end do nothing, and a caller that must look something up
 * to call them need not. */
bool gw_ratelimit_passwords_limited(const gw_ratelimit *rl);

/* A login answered before any attempt is made (its body refused: 400,
 * 415): adds the login items of (client, email) as they stand, taking
 * nothing, so that every answer of the route carries them. email may be
 * NULL when the body named none (then the (client, "") bucket, which no
 * attempt ever charges, is reported: full). */
void gw_ratelimit_login_peek(gw_ratelimit *rl, const gw_request *req, const char *email, httpd_response *resp);

/* After the login's RPC (or after giving up before it): code is its
 * canonical code (COMANDA__CODE__*): OK is the right password,
 * UNAUTHENTICATED a wrong one, anything else no verdict
 * (gw_ratelimit_password_end). */
void gw_ratelimit_login_end(gw_ratelimit *rl, const gw_request *req, const char *email, int code,
    httpd_response *resp);

#endif
