#include "cfg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

typedef struct cfg_entry {
	const char *name;
	const char *def;
	const char *programs;
	const char *description;
} cfg_entry;

static const cfg_entry cfg_table[] = {
#define CFG(name, def, programs, description) { #name, def, programs, description },
#include "cfg.def"
#undef CFG
};

static const cfg_entry *cfg_find(const char *name)
{
	for (size_t i = 0; i < sizeof(cfg_table) / sizeof(cfg_table[0]); i++)
		if (strcmp(cfg_table[i].name, name) == 0)
			return &cfg_table[i];
	return NULL;
}

const char *cfg_str(const char *name)
{
	const cfg_entry *e = cfg_find(name);
	if (e == NULL) {
		fprintf(stderr, "cfg: %s is not in lib/cfg.def\n", name);
		abort();
	}
	const char *v = getenv(name);
	return (v != NULL && v[0] != '\0') ? v : e->def;
}

long long cfg_int(const char *name, long long min, long long max)
{
	const char *v = cfg_str(name);
	char *end = NULL;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	/* strtoll also takes leading white space and a '+', which a trailing
	 * space is refused for: one spelling of a number, digits with an
	 * optional '-'. */
	bool digits = (v[0] >= '0' && v[0] <= '9') || (v[0] == '-' && v[1] >= '0' && v[1] <= '9');
	if (!digits || errno != 0 || end == v || *end != '\0' || n < min || n > max) {
		log_printf(LOG_ERROR, "configuration %s=\"%s\" is not an integer in [%lld, %lld]", name, v,
		    min, max);
		exit(2);
	}
	return n;
}

bool cfg_production(void)
{
	const char *env = cfg_str("COMANDA_ENV");
	if (strcmp(env, "production") == 0)
		return true;
	if (strcmp(env, "development") == 0)
		return false;
	/* "prod" taken for development would run with the public development
	 * secrets: a typo must stop the program, not disarm its checks. */
	log_printf(LOG_ERROR, "configuration COMANDA_ENV=\"%s\" is neither \"production\" nor \"development\"", env);
	exit(2);
}

bool cfg_placeholder(const char *value)
{
	static const char marker[] = "change-me";
	const size_t n = sizeof(marker) - 1;
	for (const char *p = value; *p != '\0'; p++) {
		if (strncasecmp(p, marker, n) == 0)
			return true;
	}
	return false;
}

const char *cfg_secret(const char *name, const char *dev_default)
{
	const char *v = cfg_str(name);
	if (v[0] != '\0') {
		/* Applied as shipped, deploy/k8s/secret.yaml would run production
		 * with a JWT key and an admin password anyone can read there. */
		if (cfg_production() && cfg_placeholder(v)) {
			log_printf(LOG_ERROR, "%s still holds a placeholder (CHANGE-ME): set a secret of your own when COMANDA_ENV=production",
			    name);
			exit(2);
		}
		return v;
	}
	if (cfg_production()) {
		log_printf(LOG_ERROR, "%s must be set when COMANDA_ENV=production", name);
		exit(2);
	}
	log_printf(LOG_WARN, "%s is not set: using the development default (never in production)", name);
	return dev_default;
}

void cfg_print_markdown(void)
{
	printf("| Variable | Default | Used by | Meaning |\n|---|---|---|---|\n");
	for (size_t i = 0; i < sizeof(cfg_table) / sizeof(cfg_table[0]); i++) {
		const cfg_entry *e = &cfg_table[i];
		printf("| `%s` | %s%s%s | %s | %s |\n", e->name, e->def[0] ? "`" : "", e->def[0] ? e->def : "(none)",
		    e->def[0] ? "`" : "", e->programs, e->description);
	}
}
