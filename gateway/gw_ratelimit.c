/*
 * gw_ratelimit: the gateway's policies over lib/ratelimit. See gw_ratelimit.h.
 */
#include "gw_ratelimit.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "gw_errors.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"
#include "ratelimit.h"

/* E-mails are at most 254 characters (svc-user refuses longer ones); a
 * longer text is cut here, which only merges keys of invalid addresses. */
#define GW_RL_EMAIL_MAX 320
#define GW_RL_KEY_MAX (NETADDR_TEXT_MAX + GW_RL_EMAIL_MAX + 4)
/* A full login table is logged at most this often. */
#define GW_RL_WARN_EVERY_US (10LL * 1000000LL)

typedef struct gw_rl_policy {
	ratelimit *table;                 /* NULL: the policy is off */
	const char *name;                 /* "default", "login", "login-addr" */
	char item[80];                    /* its RateLimit-Policy item */
	metric *refused;                  /* comanda_http_rate_limited_total{policy} */
} gw_rl_policy;

struct gw_ratelimit {
	gw_rl_policy def, login, login_addr;
	_Atomic int64_t last_full_warning_us;
};

/* ------------------------------------------------------------------------ */
/* set-up                                                                   */
/* ------------------------------------------------------------------------ */

/* A policy of `limit` tokens refilled `limit` per window_us (burst = limit). */
static int gw_rl_policy_init(gw_rl_policy *p, const char *name, const char *table, int64_t burst,
    int64_t interval_us, int64_t window_s, size_t capacity, bool fail_closed)
{
	p->name = name;
	snprintf(p->item, sizeof(p->item), "\"%s\";q=%" PRId64 ";w=%" PRId64, name, burst, window_s);
	char labels[64];
	snprintf(labels, sizeof(labels), "policy=\"%s\"", name);
	p->refused = metrics_counter("comanda_http_rate_limited_total", "Requests refused with 429 by rate-limit policy",
	    labels);
	ratelimit_config rc = { .name = table, .interval_us = interval_us, .burst = burst, .capacity = capacity,
		.fail_closed = fail_closed };
	return ratelimit_new(&p->table, &rc);
}

int gw_ratelimit_new(gw_ratelimit **out, const gw_ratelimit_config *cfg)
{
	*out = NULL;
	bool def_on = cfg->rps > 0, login_on = cfg->login_fail_limit > 0, addr_on = cfg->login_fail_addr_limit > 0;
	if (!def_on && !login_on && !addr_on)
		return 0;
	if ((def_on && cfg->burst < 1) || ((login_on || addr_on) && cfg->login_fail_window_s < 1) || cfg->table_size < 1) {
		log_printf(LOG_ERROR, "gateway: rate limits: burst, window and table size must be at least 1");
		return -1;
	}
	gw_ratelimit *rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return -1;
	atomic_init(&rl->last_full_warning_us, 0);
	int rc = 0;
	if (def_on) {
		/* the window a client sees: how long an empty bucket takes to refill */
		int64_t w = ((int64_t)cfg->burst + cfg->rps - 1) / cfg->rps;
		rc = gw_rl_policy_init(&rl->def, "default", "caller", cfg->burst, 1000000 / cfg->rps, w, cfg->table_size,
		    false);
	}
	int64_t window_us = (int64_t)cfg->login_fail_window_s * 1000000;
	if (rc == 0 && login_on)
		rc = gw_rl_policy_init(&rl->login, "login", "login", cfg->login_fail_limit,
		    window_us / cfg->login_fail_limit, cfg->login_fail_window_s, cfg->table_size, true);
	if (rc == 0 && addr_on)
		rc = gw_rl_policy_init(&rl->login_addr, "login-addr", "login_addr", cfg->login_fail_addr_limit,
		    window_us / cfg->login_fail_addr_limit, cfg->login_fail_window_s, cfg->table_size, true);
	if (rc != 0) {
		gw_ratelimit_free(rl);
		return -1;
	}
	*out = rl;
	return 0;
}

void gw_ratelimit_free(gw_ratelimit *rl)
{
	if (rl == NULL)
		return;
	ratelimit_free(rl->def.table);
	ratelimit_free(rl->login.table);
	ratelimit_free(rl->login_addr.table);
	free(rl);
}

/* ------------------------------------------------------------------------ */
/* headers and refusals                                                     */
/* ------------------------------------------------------------------------ */

static int64_t gw_rl_seconds(int64_t us)
{
	return us <= 0 ? 0 : (us + 999999) / 1000000;
}

/* Adds item to the List field `name` of resp: appended to a field already
 * there (one line per field is what most clients read), else a new one. */
static void gw_rl_field_add(httpd_response *resp, const char *name, const char *item)
{
	for (size_t i = 0; i < resp->n_headers && i < HTTPD_MAX_HEADERS; i++) {
		if (strcasecmp(resp->headers[i].name, name) != 0)
			continue;
		char *v = resp->headers[i].value;
		size_t vl = strlen(v), il = strlen(item);
		if (vl + 2 + il < sizeof(resp->headers[i].value)) {
			memcpy(v + vl, ", ", 2);
			memcpy(v + vl + 2, item, il + 1);
			return;
		}
		break; /* no room: a second field line is just as valid */
	}
	httpd_add_header(resp, name, item);
}

/* Adds the RateLimit item of policy p: r remaining, t seconds. */
static void gw_rl_state_add(httpd_response *resp, const gw_rl_policy *p, int64_t r, int64_t t)
{
	char item[96];
	snprintf(item, sizeof(item), "\"%s\";r=%" PRId64 ";t=%" PRId64, p->name, r, t);
	gw_rl_field_add(resp, "RateLimit", item);
}

static void gw_rl_refuse(httpd_response *resp, const gw_request *req, const gw_rl_policy *p, const char *message,
    int64_t retry_s)
{
	char ra[24];
	snprintf(ra, sizeof(ra), "%" PRId64, retry_s);
	gw_errors_respond_code(resp, req->http, COMANDA__CODE__RESOURCE_EXHAUSTED, message);
	httpd_add_header(resp, "Retry-After", ra);
	metrics_add(p->refused, 1);
}

/* ------------------------------------------------------------------------ */
/* the default policy                                                       */
/* ------------------------------------------------------------------------ */

/* "a:<address key>" for the client of req. */
static size_t gw_rl_addr_key(const gw_request *req, char *key, size_t cap)
{
	char k[NETADDR_TEXT_MAX];
	netaddr_key(req->http->client_addr, k, sizeof(k));
	int n = snprintf(key, cap, "a:%s", k);
	return n > 0 && (size_t)n < cap ? (size_t)n : strlen(key);
}

bool gw_ratelimit_request(gw_ratelimit *rl, const gw_request *req, httpd_response *resp)
{
	if (rl == NULL || rl->def.table == NULL)
		return true;
	char key[GW_RL_KEY_MAX];
	size_t len;
	if (req->caller_id > 0) {
		int n = snprintf(key, sizeof(key), "u:%" PRId64, req->caller_id);
		len = n > 0 ? (size_t)n : 0;
	} else {
		len = gw_rl_addr_key(req, key, sizeof(key));
	}
	ratelimit_state st;
	if (ratelimit_take(rl->def.table, key, len, clock_mono_us(), &st) == RATELIMIT_ALLOWED) {
		gw_rl_field_add(resp, "RateLimit-Policy", rl->def.item);
		gw_rl_state_add(resp, &rl->def, st.remaining, gw_rl_seconds(st.reset_us));
		return true;
	}
	/* whatever was decided before (a 401) gives way to the 429 */
	httpd_response_reset(resp);
	int64_t retry = gw_rl_seconds(st.retry_after_us);
	gw_rl_field_add(resp, "RateLimit-Policy", rl->def.item);
	gw_rl_state_add(resp, &rl->def, 0, retry);
	gw_rl_refuse(resp, req, &rl->def, "Too many requests; retry later", retry);
	return false;
}

/* ------------------------------------------------------------------------ */
/* failed logins                                                            */
/* ------------------------------------------------------------------------ */

/* key1 "<address key>\n<email>" (trimmed, ASCII lower-cased), key2 the
 * address key; returns key1's length, *len2 key2's. */
static size_t gw_rl_login_keys(const gw_request *req, const char *email, char *key1, char *key2, size_t cap,
    size_t *len2)
{
	*len2 = gw_rl_addr_key(req, key2, cap);
	size_t n = *len2;
	memcpy(key1, key2, n);
	key1[n++] = '\n';
	const char *e = email != NULL ? email : "";
	size_t el = strlen(e);
	while (el > 0 && (*e == ' ' || *e == '\t')) {
		e++;
		el--;
	}
	while (el > 0 && (e[el - 1] == ' ' || e[el - 1] == '\t'))
		el--;
	for (size_t i = 0; i < el && n + 1 < cap; i++) {
		char c = e[i];
		key1[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	key1[n] = '\0';
	return n;
}

static bool gw_rl_login_on(const gw_ratelimit *rl)
{
	return rl != NULL && (rl->login.table != NULL || rl->login_addr.table != NULL);
}

/* Adds the login policies' items; refused (may be NULL) reports r=0 and
 * t=retry_s, the other tables their state at now_us. */
static void gw_rl_login_headers(gw_ratelimit *rl, httpd_response *resp, const char *key1, size_t len1,
    const char *key2, size_t len2, const gw_rl_policy *refused, int64_t retry_s, int64_t now_us)
{
	const gw_rl_policy *ps[2] = { &rl->login, &rl->login_addr };
	const char *keys[2] = { key1, key2 };
	size_t lens[2] = { len1, len2 };
	for (int k = 0; k < 2; k++) {
		const gw_rl_policy *p = ps[k];
		if (p->table == NULL)
			continue;
		gw_rl_field_add(resp, "RateLimit-Policy", p->item);
		if (p == refused) {
			gw_rl_state_add(resp, p, 0, retry_s);
		} else {
			ratelimit_state st;
			ratelimit_peek(p->table, keys[k], lens[k], now_us, &st);
			gw_rl_state_add(resp, p, st.remaining, gw_rl_seconds(st.reset_us));
		}
	}
}

/* The one reservation of a password guess, for a login and a password
 * change alike. what names the attempts in the refusal ("login attempts"). */
static bool gw_rl_guess_begin(gw_ratelimit *rl, const gw_request *req, const char *email, const char *what,
    httpd_response *resp)
{
	if (!gw_rl_login_on(rl))
		return true;
	char key1[GW_RL_KEY_MAX], key2[GW_RL_KEY_MAX];
	size_t len2, len1 = gw_rl_login_keys(req, email, key1, key2, sizeof(key1), &len2);
	int64_t now = clock_mono_us();
	ratelimit_state st = { 0 };
	ratelimit_verdict v = RATELIMIT_ALLOWED;
	const gw_rl_policy *refused = NULL;
	if (rl->login.table != NULL) {
		v = ratelimit_take(rl->login.table, key1, len1, now, &st);
		if (v != RATELIMIT_ALLOWED)
			refused = &rl->login;
	}
	if (refused == NULL && rl->login_addr.table != NULL) {
		v = ratelimit_take(rl->login_addr.table, key2, len2, now, &st);
		if (v != RATELIMIT_ALLOWED) {
			refused = &rl->login_addr;
			if (rl->login.table != NULL)
				ratelimit_refund(rl->login.table, key1, len1, now); /* this attempt is not made */
		}
	}
	if (refused == NULL)
		return true;
	if (v == RATELIMIT_FULL) {
		/* fail closed, loudly: new keys are refused until buckets go idle */
		int64_t last = atomic_load(&rl->last_full_warning_us);
		if (now - last >= GW_RL_WARN_EVERY_US && atomic_compare_exchange_strong(&rl->last_full_warning_us, &last, now))
			log_printf(LOG_WARN,
			    "gateway: rate-limit table of policy %s is full of active buckets: new login keys get 429 "
			    "(raise RATE_LIMIT_TABLE_SIZE if this is not an attack)",
			    refused->name);
	}
	int64_t retry = gw_rl_seconds(st.retry_after_us);
	if (retry < 1)
		retry = 1;
	gw_rl_login_headers(rl, resp, key1, len1, key2, len2, refused, retry, now);
	char message[96];
	snprintf(message, sizeof(message),
	    v == RATELIMIT_FULL ? "Too many %s at the moment; retry later" : "Too many failed %s; retry later", what);
	gw_rl_refuse(resp, req, refused, message, retry);
	return false;
}

bool gw_ratelimit_login_begin(gw_ratelimit *rl, const gw_request *req, const char *email, httpd_response *resp)
{
	return gw_rl_guess_begin(rl, req, email, "login attempts", resp);
}

bool gw_ratelimit_password_begin(gw_ratelimit *rl, const gw_request *req, const char *email, httpd_response *resp)
{
	return gw_rl_guess_begin(rl, req, email, "password checks", resp);
}

bool gw_ratelimit_passwords_limited(const gw_ratelimit *rl)
{
	return gw_rl_login_on(rl);
}

void gw_ratelimit_login_peek(gw_ratelimit *rl, const gw_request *req, const char *email, httpd_response *resp)
{
	if (!gw_rl_login_on(rl))
		return;
	char key1[GW_RL_KEY_MAX], key2[GW_RL_KEY_MAX];
	size_t len2, len1 = gw_rl_login_keys(req, email, key1, key2, sizeof(key1), &len2);
	gw_rl_login_headers(rl, resp, key1, len1, key2, len2, NULL, 0, clock_mono_us());
}

void gw_ratelimit_password_end(gw_ratelimit *rl, const gw_request *req, const char *email, gw_rl_verdict verdict,
    httpd_response *resp)
{
	if (!gw_rl_login_on(rl))
		return;
	char key1[GW_RL_KEY_MAX], key2[GW_RL_KEY_MAX];
	size_t len2, len1 = gw_rl_login_keys(req, email, key1, key2, sizeof(key1), &len2);
	int64_t now = clock_mono_us();
	if (verdict == GW_RL_PASSWORD_RIGHT) {
		/* the right password: past typos of this e-mail no longer count */
		if (rl->login.table != NULL)
			ratelimit_forget(rl->login.table, key1, len1);
		if (rl->login_addr.table != NULL)
			ratelimit_refund(rl->login_addr.table, key2, len2, now);
	} else if (verdict != GW_RL_PASSWORD_WRONG) {
		/* not a judgement on the password (bad request, service down) */
		if (rl->login.table != NULL)
			ratelimit_refund(rl->login.table, key1, len1, now);
		if (rl->login_addr.table != NULL)
			ratelimit_refund(rl->login_addr.table, key2, len2, now);
	}
	gw_rl_login_headers(rl, resp, key1, len1, key2, len2, NULL, 0, now);
}

void gw_ratelimit_login_end(gw_ratelimit *rl, const gw_request *req, const char *email, int code,
    httpd_response *resp)
{
	/* svc-user's Login answers a wrong password (or an unknown e-mail)
	 * with UNAUTHENTICATED, and only then */
	gw_rl_verdict v = GW_RL_PASSWORD_UNCHECKED;
	if (code == COMANDA__CODE__OK)
		v = GW_RL_PASSWORD_RIGHT;
	else if (code == COMANDA__CODE__UNAUTHENTICATED)
		v = GW_RL_PASSWORD_WRONG;
	gw_ratelimit_password_end(rl, req, email, v, resp);
}
