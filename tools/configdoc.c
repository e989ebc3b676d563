/* Prints the configuration table of lib/cfg.def as markdown (make config-doc);
 * scripts/test.sh checks that README.md contains exactly this table. */
#include "cfg.h"

int main(void)
{
	cfg_print_markdown();
	return 0;
}
