/*
 * common.c - helpers of the fuzz targets (see fuzz.h)
 */
#include <stdlib.h>

#include "fuzz.h"

FILE *fuzz_report;

void fuzz_quiet_stdio(void)
{
	FILE *null_stream;

	if (fuzz_report == NULL)
		fuzz_report = stderr;
	if (getenv("FUZZ_VERBOSE") != NULL)
		return;

	null_stream = fopen("/dev/null", "w");
	if (null_stream == NULL)
		return;
	stdout = null_stream;
	stderr = null_stream;
}

uint64_t fuzz_take(const uint8_t **data, size_t *size, unsigned width)
{
	uint64_t value = 0;

	for (unsigned i = 0; i < width; i++) {
		uint64_t byte = 0;

		if (*size > 0) {
			byte = **data;
			(*data)++;
			(*size)--;
		}
		value |= byte << (8 * i);
	}
	return value;
}
