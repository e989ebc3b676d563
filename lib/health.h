/*
 * health: a dependency monitor. Each registered dependency ("database",
 * "broker") has a probe that a background thread runs every 500 ms; the
 * outcome is cached in atomics, so the Health RPC and the admin /health
 * answer at once from the cache and never wait on a dead dependency.
 *
 * Each dependency gets its own probe thread, so a probe stuck on one
 * (a connect timeout, a server that stopped answering) delays no other. A
 * probe that has been running for longer than the staleness limit (1.5 s)
 * counts as down even before it returns: a hung dependency shows as down
 * within about 2 s.
 *
 * The names of this module avoid health_check, health_impl and
 * health_binding, which the generated Health service stubs own.
 *
 * Threading: health_add before health_start, on one thread; the queries
 * from any thread.
 */
#ifndef COMANDA_HEALTH_H
#define COMANDA_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include "comanda/health.pb-c.h"
#include "rpc.h"

#define HEALTH_MAX_DEPS 8
#define HEALTH_PERIOD_MS 500
#define HEALTH_STALE_MS 1500
#define HEALTH_HURRY_MS 50

typedef struct health health;

/* A probe: true when the dependency is reachable. Runs only on its own
 * dependency's thread, so it may keep state (a connection) in arg without
 * locking. It should bound its own blocking (connect/RPC timeouts). */
typedef bool (*health_probe_fn)(void *arg);

/* A monitor for service `service` ("user-service") at `version`; both strings
 * must outlive it. Returns NULL when out of memory. */
health *health_new(const char *service, const char *version);

/* Registers dependency `name` (a static string, "database") with its probe.
 * Until its first probe succeeds a dependency counts as down. Returns 0, or
 * -1 when HEALTH_MAX_DEPS are registered already. */
int health_add(health *h, const char *name, health_probe_fn probe, void *arg);

/* Starts one probe thread per dependency; each probes at once, then every
 * HEALTH_PERIOD_MS. Returns 0, or -1 when a thread cannot be created (the
 * ones started are stopped again). */
int health_start(health *h);

/* Stops the threads (waiting for a probe in progress to return) and frees
 * h. The probes' args are the caller's to free afterwards. NULL is fine. */
void health_free(health *h);

/* True when every dependency is up. */
bool health_all_up(const health *h);

/* True when dependency `name` is known to be down: its last probe failed,
 * or the probe running now has taken longer than HEALTH_STALE_MS. False for
 * one not probed yet and for a name not registered. Handlers use it to
 * answer UNAVAILABLE at once instead of waiting on a dead dependency. */
bool health_failing(const health *h, const char *name);

/* True when dependency `name` does not answer at all: the probe running now
 * has taken longer than HEALTH_STALE_MS, or the last one to finish failed
 * only after that long (it timed out), including while the next one runs.
 * A dependency that refuses at once (a stopped server) is failing but not
 * hung: a caller that fails as fast by itself need not refuse in advance,
 * and is served the moment it is back. */
bool health_hung(const health *h, const char *name);

/* Asks for dependency `name`'s next probe now rather than at the end of its
 * period. A handler that refuses requests in advance while a dependency is
 * down calls it, so that the dependency is served again within about
 * HEALTH_HURRY_MS of coming back instead of up to HEALTH_PERIOD_MS. Does
 * nothing unless the dependency's last probe failed, none is running, and the
 * last one ended HEALTH_HURRY_MS ago or more: a flood of refused requests
 * costs one probe per HEALTH_HURRY_MS at most. Any thread; does not wait. */
void health_hurry(health *h, const char *name);

/* Stores the names of the dependencies that are down, in registration
 * order, into names (up to cap) and returns how many are down (which may
 * exceed cap). */
size_t health_down(const health *h, const char **names, size_t cap);

/* The service name and version given to health_new. */
const char *health_service(const health *h);
const char *health_version(const health *h);

/* Fills a Health RPC reply: SERVING when every dependency is up, else
 * NOT_SERVING with the down list; always the service name and version. The
 * reply's memory comes from the ctx arena. Returns OK (a service that is not
 * serving still answers: that is the point of the RPC), or RESOURCE_EXHAUSTED
 * when out of memory. For the generated health_impl.check. */
int health_rpc_reply(const health *h, rpc_ctx *ctx, Comanda__HealthCheckResponse *reply);

#endif
