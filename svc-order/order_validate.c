#include "order_validate.h"

#include "utf8.h"

#include <stdio.h>
#include <string.h>

/* Active ISO 4217 codes (2024 list), space-separated for a compact table. */
static const char order_currencies[] =
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD "
    "GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT "
    "LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR "
    "NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP "
    "STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD "
    "XOF XPF YER ZAR ZMW ZWL";

bool order_currency_known(const char *code)
{
	if (strlen(code) != 3)
		return false;
	for (int i = 0; i < 3; i++)
		if (code[i] < 'A' || code[i] > 'Z')
			return false;
	/* entries are "XXX" every 4 bytes; the last has no trailing space */
	for (size_t i = 0; i + 3 <= sizeof(order_currencies) - 1; i += 4)
		if (memcmp(order_currencies + i, code, 3) == 0)
			return true;
	return false;
}

static const struct {
	Comanda__PaymentMethod method;
	const char *name;
} order_methods[] = {
	{ COMANDA__PAYMENT_METHOD__CREDIT_CARD, "credit_card" },
	{ COMANDA__PAYMENT_METHOD__DEBIT_CARD, "debit_card" },
	{ COMANDA__PAYMENT_METHOD__CASH, "cash" },
	{ COMANDA__PAYMENT_METHOD__BANK_TRANSFER, "bank_transfer" },
};

const char *order_method_name(Comanda__PaymentMethod m)
{
	for (size_t i = 0; i < sizeof(order_methods) / sizeof(order_methods[0]); i++)
		if (order_methods[i].method == m)
			return order_methods[i].name;
	return "unknown";
}

Comanda__PaymentMethod order_method_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(order_methods) / sizeof(order_methods[0]); i++)
		if (strcmp(order_methods[i].name, name) == 0)
			return order_methods[i].method;
	return COMANDA__PAYMENT_METHOD__PAYMENT_METHOD_UNSPECIFIED;
}

static bool order_problem_at(order_problem *p, size_t item, const char *field, const char *issue)
{
	if (item == (size_t)-1)
		snprintf(p->field, sizeof(p->field), "%s", field);
	else
		snprintf(p->field, sizeof(p->field), "items[%zu].%s", item, field);
	p->issue = issue;
	return false;
}

bool order_validate_create(const Comanda__CreateOrderRequest *req, int64_t *total_minor, order_problem *p)
{
	if (req->n_items == 0)
		return order_problem_at(p, (size_t)-1, "items", "must hold at least one item");
	if (req->n_items > ORDER_ITEMS_MAX)
		return order_problem_at(p, (size_t)-1, "items", "must hold at most 100 items");
	int64_t total = 0;
	for (size_t i = 0; i < req->n_items; i++) {
		const Comanda__OrderItem *it = req->items[i];
		bool blank;
		long chars = utf8_text(it->product, strlen(it->product), &blank);
		if (chars < 0)
			return order_problem_at(p, i, "product", "must be valid text without control characters");
		if (blank) /* none at all included */
			return order_problem_at(p, i, "product", "must not be empty");
		if (chars > ORDER_PRODUCT_MAX_CHARS)
			return order_problem_at(p, i, "product", "must be at most 200 characters");
		if (it->quantity < 1 || it->quantity > ORDER_QUANTITY_MAX)
			return order_problem_at(p, i, "quantity", "must be an integer between 1 and 10000");
		if (it->price_minor < 0)
			return order_problem_at(p, i, "price", "must not be negative");
		int64_t line;
		if (it->price_minor > ORDER_TOTAL_MAX_MINOR ||
		    __builtin_mul_overflow(it->price_minor, (int64_t)it->quantity, &line) ||
		    __builtin_add_overflow(total, line, &total) || total > ORDER_TOTAL_MAX_MINOR)
			return order_problem_at(p, i, "price", "makes the total too large");
	}
	if (req->total_given && req->total_minor != total)
		return order_problem_at(p, (size_t)-1, "total", "does not match items");
	if (req->currency[0] != '\0' && !order_currency_known(req->currency))
		return order_problem_at(p, (size_t)-1, "currency", "must be an ISO 4217 currency code");
	/* A card is charged with the token it names: none means nothing to
	 * charge; a token on a cash order would be silently dropped. */
	bool card = req->payment_method == COMANDA__PAYMENT_METHOD__CREDIT_CARD ||
	    req->payment_method == COMANDA__PAYMENT_METHOD__DEBIT_CARD;
	if (card && req->payment_token[0] == '\0')
		return order_problem_at(p, (size_t)-1, "payment_token", "is required for card payments");
	if (!card && req->payment_token[0] != '\0')
		return order_problem_at(p, (size_t)-1, "payment_token", "is only accepted with a card payment_method");
	*total_minor = total;
	return true;
}
