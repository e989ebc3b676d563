#include "ident.h"

bool ident_valid(const char *s, size_t max)
{
	if (s == NULL || s[0] == '\0')
		return false;
	size_t n = 0;
	for (const char *p = s; *p != '\0'; p++, n++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		    c == '_' || c == '-';
		if (!ok || n >= max)
			return false;
	}
	return true;
}
