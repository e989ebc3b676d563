/* rpc_client_config_from_cfg and rpc_runtime_init_from_cfg: kept apart from
 * rpc.c, which knows nothing of the environment (its tests and tools
 * configure clients directly). */
#include "cfg.h"
#include "rpc.h"

void rpc_client_config_from_cfg(rpc_client_config *out, const char *urls_var)
{
	*out = (rpc_client_config){
		.urls = urls_var != NULL ? cfg_str(urls_var) : NULL,
		.default_timeout_ms = (int)cfg_int("RPC_TIMEOUT_MS", RPC_TIMEOUT_MIN_MS, RPC_TIMEOUT_MAX_MS),
		.connections = (int)cfg_int("RPC_CONNECTIONS", 1, RPC_MAX_CONNECTIONS),
		.resolve_ms = (int)cfg_int("RPC_RESOLVE_MS", 0, 3600000),
		.breaker_timeouts = (int)cfg_int("RPC_BREAKER_TIMEOUTS", 0, 1000),
		.breaker_open_ms = (int)cfg_int("RPC_BREAKER_OPEN_MS", 100, 60000),
	};
}

void rpc_runtime_init_from_cfg(void)
{
	rpc_runtime_init((int)cfg_int("RPC_TASK_THREADS", RPC_TASK_THREADS_MIN, RPC_TASK_THREADS_MAX));
}
