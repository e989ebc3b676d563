/* lib/log: a line that would be too long is still one valid JSON object. */
#include <string.h>

#include <json-c/json.h>

#include "log.h"
#include "test.h"

TEST(log_long_line_stays_valid_json)
{
	log_line l;
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '"';
	big[20] = '\n';
	log_begin(&l, LOG_ERROR, "test");
	log_str(&l, "first", big);
	log_int(&l, "number", 1234567890123LL);
	log_str(&l, "second", "y");
	/* what log_end writes, without writing it */
	CHECK(l.len <= LOG_LINE_MAX - 2);
	char line[LOG_LINE_MAX + 1];
	memcpy(line, l.buf, l.len);
	line[l.len] = '}';
	line[l.len + 1] = '\0';
	json_object *o = json_tokener_parse(line);
	CHECK(o != NULL);
	if (o != NULL) {
		json_object *v;
		CHECK(json_object_object_get_ex(o, "first", &v));
		CHECK(!json_object_object_get_ex(o, "number", &v)); /* did not fit: left out */
		json_object_put(o);
	}
}
