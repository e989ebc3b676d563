#include <stddef.h>

#include "objectid.h"
#include "test.h"

TEST(objectid_hex_valid_is_24_lower_hex)
{
	CHECK(objectid_hex_valid("65a1b2c3d4e5f60718293a4b"));
	CHECK(objectid_hex_valid("000000000000000000000000"));
	const char *bad[] = { "", "65a1b2c3d4e5f60718293a4", "65a1b2c3d4e5f60718293a4bc", "65A1B2C3D4E5F60718293A4B",
		"65a1b2c3d4e5f60718293a4g", "65a1b2c3d4e5f60718293a4 ", "not-an-id", NULL };
	for (int i = 0; bad[i] != NULL; i++)
		if (objectid_hex_valid(bad[i]))
			test_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
	CHECK(!objectid_hex_valid(NULL));
}
