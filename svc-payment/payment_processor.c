#include "payment_processor.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"

static int payment_sim_decide(const payment_processor *p, const payment_charge *c, payment_outcome *out)
{
	/* Off unless configured: a customer's token must not hold a worker. */
	if (p->slow_ms > 0 && strncmp(c->token, "tok_slow", 8) == 0)
		clock_sleep_ms(p->slow_ms);
	out->approved = false;
	out->reason[0] = '\0';
	if (strncmp(c->token, "tok_decline", 11) == 0)
		snprintf(out->reason, sizeof(out->reason), "card declined");
	else if (c->amount_minor > p->limit_minor)
		snprintf(out->reason, sizeof(out->reason), "amount exceeds the processor limit");
	else
		out->approved = true;
	return 0;
}

static int payment_sim_refund(const payment_processor *p, const payment_charge *c, payment_outcome *out)
{
	(void)p;
	(void)c;
	out->approved = true;
	out->reason[0] = '\0';
	return 0;
}

void payment_simulator_init(payment_processor *p, int64_t limit_minor, int slow_ms)
{
	p->slow_ms = slow_ms;
	p->name = "simulator";
	p->charge = payment_sim_decide;
	p->lookup = payment_sim_decide;
	p->refund = payment_sim_refund;
	p->limit_minor = limit_minor;
}
