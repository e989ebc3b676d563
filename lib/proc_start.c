/* proc_start: see proc_start.h. */
#include "proc_start.h"

#include "cfg.h"
#include "cpus.h"
#include "log.h"
#include "memtune.h"
#include "rpc.h"
#include "stopsig.h"

int proc_start(const char *program, const char *cpus_var, sigset_t *stop)
{
	log_init(program);
	(void)cfg_production();  /* exits on a COMANDA_ENV that is neither value */
	memtune_from_cfg();
	if (cpus_var != NULL && cpus_pin_from_cfg(cpus_var) != 0)
		return -1;
	rpc_runtime_init_from_cfg();
	stopsig_block(stop);
	return 0;
}
