#include <string.h>

#include "test.h"
#include "uuid.h"

TEST(uuid_v4_has_the_rfc_4122_shape)
{
	char a[UUID_STR_LEN], b[UUID_STR_LEN];
	uuid_v4(a);
	uuid_v4(b);
	CHECK_EQ_INT(strlen(a), 36);
	CHECK(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
	CHECK(a[14] == '4');
	CHECK(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b');
	CHECK(strcmp(a, b) != 0);
}
