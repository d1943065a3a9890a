/*
 * fuzz.h - what the fuzz targets share
 *
 * Each target in this folder is one file that defines the libFuzzer entry
 * point LLVMFuzzerTestOneInput(), and may define LLVMFuzzerInitialize().
 * The same object links either with libFuzzer (make fuzz, clang only) or
 * with driver.c, a plain main() that feeds it every saved input, so make
 * check replays the corpus and every crash input with any compiler.
 *
 * A target reports a wrong result with FUZZ_CHECK(), which prints the
 * condition and aborts: libFuzzer saves the input, and the driver fails.
 */
#ifndef CREDLIMIT_TESTS_FUZZ_H
#define CREDLIMIT_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(condition)                                                \
	do {                                                                 \
		if (!(condition)) {                                          \
			fprintf(fuzz_report, "%s:%d: check failed: %s\n",   \
				__FILE__, __LINE__, #condition);             \
			fflush(fuzz_report);                                 \
			abort();                                             \
		}                                                            \
	} while (0)

/* Where FUZZ_CHECK() prints: the standard error the process started
 * with, even after fuzz_quiet_stdio(). */
extern FILE *fuzz_report;

/*
 * Points the stdio streams stdout and stderr at /dev/null, so that code
 * under test that prints usage errors does not flood the output of
 * millions of runs.  File descriptors 1 and 2 stay as they are, so the
 * reports of AddressSanitizer and libFuzzer, which write to descriptor 2
 * directly, still show.  Setting FUZZ_VERBOSE in the environment keeps
 * the streams.
 */
void fuzz_quiet_stdio(void);

/* Reads a little-endian integer of `width` bytes (1 to 8) from *data,
 * advancing it; missing bytes read as zero. */
uint64_t fuzz_take(const uint8_t **data, size_t *size, unsigned width);

#endif /* CREDLIMIT_TESTS_FUZZ_H */
