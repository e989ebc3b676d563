#include "user_password.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "metrics.h"

#define USER_PW_OPSLIMIT 2
#define USER_PW_MEMLIMIT (19u * 1024u * 1024u)

_Static_assert(USER_PASSWORD_HASH_MAX == crypto_pwhash_STRBYTES, "hash buffer size");

/* Verified against when there is no real hash: same parameters, same cost. */
static char user_dummy_hash[USER_PASSWORD_HASH_MAX];

/* The gate: a counting semaphore with a deadline on a monotonic clock (a
 * POSIX sem_timedwait would take the wall clock, which can jump). */
static pthread_mutex_t user_gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t user_gate_cv;
static int user_gate_free = 1;
static metric *user_gate_refused;
/* Argon2id runs that passed the gate, by op: they are the CPU the gate
 * rations, and they show what a request cost (a wrong current_password:
 * one verify, no hash). */
static metric *user_runs_hash, *user_runs_verify;
static pthread_once_t user_gate_once = PTHREAD_ONCE_INIT;

static void user_gate_init(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&user_gate_cv, &ca);
	pthread_condattr_destroy(&ca);
}

bool user_password_gate_enter(int64_t wait_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	if (wait_ms > 0) {
		until.tv_sec += (time_t)(wait_ms / 1000);
		until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&user_gate_mu);
	while (user_gate_free == 0) {
		if (wait_ms <= 0 || pthread_cond_timedwait(&user_gate_cv, &user_gate_mu, &until) == ETIMEDOUT) {
			if (user_gate_free > 0)
				break;
			pthread_mutex_unlock(&user_gate_mu);
			metrics_add(user_gate_refused, 1);
			return false;
		}
	}
	user_gate_free--;
	pthread_mutex_unlock(&user_gate_mu);
	return true;
}

void user_password_gate_leave(void)
{
	pthread_mutex_lock(&user_gate_mu);
	user_gate_free++;
	pthread_cond_signal(&user_gate_cv);
	pthread_mutex_unlock(&user_gate_mu);
}

static int user_password_hash_now(const char *password, char out[USER_PASSWORD_HASH_MAX])
{
	return crypto_pwhash_str_alg(out, password, strlen(password), USER_PW_OPSLIMIT, USER_PW_MEMLIMIT,
	           crypto_pwhash_ALG_ARGON2ID13) == 0 ? USER_PASSWORD_OK : USER_PASSWORD_NOMEM;
}

int user_password_init(int concurrency)
{
	if (sodium_init() < 0)
		return -1;
	pthread_once(&user_gate_once, user_gate_init);
	pthread_mutex_lock(&user_gate_mu);
	user_gate_free = concurrency > 0 ? concurrency : 1;
	pthread_mutex_unlock(&user_gate_mu);
	user_gate_refused = metrics_counter("comanda_password_hash_refused_total",
	    "password hashes and checks refused because PASSWORD_HASH_CONCURRENCY were running for the whole wait",
	    NULL);
	const char *runs_help =
	    "Argon2id runs that passed the password gate: hash (a new password) or verify (a password checked)";
	user_runs_hash = metrics_counter("comanda_password_hashes_total", runs_help, "op=\"hash\"");
	user_runs_verify = metrics_counter("comanda_password_hashes_total", runs_help, "op=\"verify\"");
	return user_password_hash_now("comanda-dummy-password", user_dummy_hash) == USER_PASSWORD_OK ? 0 : -1;
}

int user_password_hash(const char *password, char out[USER_PASSWORD_HASH_MAX], int64_t wait_ms)
{
	if (!user_password_gate_enter(wait_ms))
		return USER_PASSWORD_BUSY;
	int rc = user_password_hash_now(password, out);
	user_password_gate_leave();
	metrics_add(user_runs_hash, 1);
	return rc;
}

int user_password_check(const char *hash, const char *password, int64_t wait_ms)
{
	if (!user_password_gate_enter(wait_ms))
		return USER_PASSWORD_BUSY;
	bool ok;
	if (hash == NULL || hash[0] == '\0') {
		/* same work as a real check; the outcome is irrelevant */
		int rc = crypto_pwhash_str_verify(user_dummy_hash, password, strlen(password));
		(void)rc;
		ok = false;
	} else {
		ok = crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
	}
	user_password_gate_leave();
	metrics_add(user_runs_verify, 1);
	return ok ? USER_PASSWORD_OK : USER_PASSWORD_MISMATCH;
}
