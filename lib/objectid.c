#include "objectid.h"

#include <stddef.h>

bool objectid_hex_valid(const char *s)
{
	if (s == NULL)
		return false;
	size_t n = 0;
	for (; s[n] != '\0'; n++)
		if (n == 24 || !((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 24;
}
