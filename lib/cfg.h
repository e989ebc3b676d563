/*
 * cfg: configuration from environment variables, with the defaults and
 * descriptions of lib/cfg.def.
 *
 * Threading: read-only after start; call from any thread. Do not setenv()
 * while other threads read.
 */
#ifndef COMANDA_CFG_H
#define COMANDA_CFG_H

#include <stdbool.h>

/* The value of variable `name`: the environment's when set and non-empty,
 * else the default from cfg.def. Aborts on a name missing from cfg.def (a
 * programming error, caught by any test that starts the program). */
const char *cfg_str(const char *name);

/* cfg_str parsed as an integer in [min, max]; a malformed or out-of-range
 * value logs the problem and exits the process with status 2. */
long long cfg_int(const char *name, long long min, long long max);

/* True when COMANDA_ENV is "production", false when "development"; any other
 * value logs the problem and exits the process with status 2. */
bool cfg_production(void);

/* A secret: the environment's value; when unset, in production logs and exits
 * with status 2, otherwise returns dev_default (and logs a warning once). In
 * production a value that is still a placeholder (cfg_placeholder) logs and
 * exits with status 2 as well. */
const char *cfg_secret(const char *name, const char *dev_default);

/* True when value still holds the placeholder the repository's deployment
 * files and development defaults carry: "change-me" in any case
 * (deploy/k8s/secret.yaml's CHANGE-ME, the development admin-change-me).
 * Such a value is public, whatever its length. Pure; any thread. */
bool cfg_placeholder(const char *value);

/* Writes the markdown configuration table (the README's) to stdout. */
void cfg_print_markdown(void);

#endif
