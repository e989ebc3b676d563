/* lib/svc_events: which answers ack, retry or dead-letter an event. */
#include "comanda/rpc.pb-c.h"
#include "svc_events.h"
#include "test.h"

TEST(svc_events_outcome_acks_waits_retries_and_rejects)
{
	CHECK_EQ_INT(svc_events_outcome(COMANDA__CODE__OK), BUS_ACK);
	CHECK_EQ_INT(svc_events_outcome(COMANDA__CODE__UNAVAILABLE), BUS_WAIT); /* a dependency down */
	CHECK_EQ_INT(svc_events_outcome(COMANDA__CODE__DEADLINE_EXCEEDED), BUS_RETRY);
	CHECK_EQ_INT(svc_events_outcome(COMANDA__CODE__ABORTED), BUS_RETRY);
	CHECK_EQ_INT(svc_events_outcome(COMANDA__CODE__INTERNAL), BUS_RETRY);
	CHECK_EQ_INT(svc_events_outcome(COMANDA__CODE__INVALID_ARGUMENT), BUS_REJECT);
	CHECK_EQ_INT(svc_events_outcome(COMANDA__CODE__NOT_FOUND), BUS_REJECT);
	CHECK_EQ_INT(svc_events_outcome(COMANDA__CODE__PERMISSION_DENIED), BUS_REJECT);
}
