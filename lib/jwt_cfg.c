/* jwt_keys_from_cfg: kept apart from jwt.c, whose functions are pure (its
 * tests and tools pass keys directly). */
#include <string.h>

#include "cfg.h"
#include "jwt.h"
#include "log.h"

int jwt_keys_from_cfg(const char *program, jwt_keys *out)
{
	*out = (jwt_keys){ 0 };
	/* cfg_secret exits in production when JWT_SECRET is unset */
	const char *key = cfg_secret("JWT_SECRET", JWT_DEV_SECRET);
	const char *problem = jwt_key_problem(key, cfg_production());
	if (problem != NULL) {
		log_printf(LOG_ERROR, "%s: JWT_SECRET %s", program, problem);
		return -1;
	}
	const char *previous = cfg_str("JWT_SECRET_PREVIOUS");
	if (previous[0] != '\0' && (problem = jwt_key_problem(previous, cfg_production())) != NULL) {
		log_printf(LOG_ERROR, "%s: JWT_SECRET_PREVIOUS %s", program, problem);
		return -1;
	}
	/* Read with cfg_str (empty is no rotation, not a missing secret), so
	 * cfg_secret's placeholder rule is applied here. */
	if (previous[0] != '\0' && cfg_production() && cfg_placeholder(previous)) {
		log_printf(LOG_ERROR, "%s: JWT_SECRET_PREVIOUS still holds a placeholder (CHANGE-ME)", program);
		return -1;
	}
	out->key = (const uint8_t *)key;
	out->key_len = strlen(key);
	if (previous[0] != '\0') {
		out->previous = (const uint8_t *)previous;
		out->previous_len = strlen(previous);
	}
	return 0;
}
