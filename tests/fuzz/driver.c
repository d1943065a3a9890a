/*
 * driver.c - replay saved inputs through a fuzz target without libFuzzer
 *
 * make check runs one driver per target.  With no arguments it feeds the
 * target every file of tests/fuzz/corpus/TARGET and tests/fuzz/crashes/TARGET
 * under $TOP_SRCDIR (the source tree, which the test harness exports);
 * with arguments, every file named or found in a folder named.  A crash
 * or a failed check in the target kills the driver, so the test fails and
 * the last "input:" line on standard output names the file.  An empty or
 * missing folder fails the run too, because a replay of nothing would
 * pass without testing anything.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef FUZZ_TARGET
#error "compile with -DFUZZ_TARGET=\"name\""
#endif

/* Standard output as the driver found it: a target may redirect the stdio
 * stream stdout (fuzz_quiet_stdio()). */
static FILE *progress;

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

/* Runs the target on one file; returns 0 or -1 when it cannot be read. */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	long size;

	if (f == NULL) {
		fprintf(fuzz_report, "cannot open %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		goto fail;

	/* malloc(0) may return NULL; the target gets a valid pointer. */
	data = malloc((size_t)size + 1);
	if (data == NULL ||
	    fread(data, 1, (size_t)size, f) != (size_t)size)
		goto fail;
	fclose(f);

	fprintf(progress, "input: %s (%ld bytes)\n", path, size);
	fflush(progress);
	LLVMFuzzerTestOneInput(data, (size_t)size);
	free(data);
	return 0;

fail:
	fprintf(fuzz_report, "cannot read %s\n", path);
	free(data);
	fclose(f);
	return -1;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of a folder, in name order, or the file itself.
 * Returns the number of inputs run, or -1. */
static int run_path(const char *path)
{
	struct stat st;
	struct dirent *de;
	char **names = NULL;
	size_t count = 0;
	int ran = 0;
	DIR *dir;

	if (stat(path, &st) != 0) {
		fprintf(fuzz_report, "cannot find %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path) == 0 ? 1 : -1;

	dir = opendir(path);
	if (dir == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL) {
		char **grown;

		if (de->d_name[0] == '.')
			continue;
		grown = realloc(names, (count + 1) * sizeof(*names));
		if (grown == NULL)
			break;
		names = grown;
		names[count++] = strdup(de->d_name);
	}
	closedir(dir);

	/* qsort() needs a valid pointer even for no elements. */
	if (count > 0)
		qsort(names, count, sizeof(*names), compare_names);
	for (size_t i = 0; i < count; i++) {
		char file[PATH_MAX];

		snprintf(file, sizeof(file), "%s/%s", path, names[i]);
		if (ran >= 0)
			ran = run_file(file) == 0 ? ran + 1 : -1;
		free(names[i]);
	}
	free(names);
	return ran;
}

int main(int argc, char **argv)
{
	const char *srcdir = getenv("TOP_SRCDIR");
	char corpus[PATH_MAX];
	char crashes[PATH_MAX];
	int total = 0;

	fuzz_report = stderr;
	progress = stdout;
	LLVMFuzzerInitialize(&argc, &argv);

	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			int ran = run_path(argv[i]);

			if (ran < 0)
				return 1;
			total += ran;
		}
	} else {
		int ran;

		if (srcdir == NULL)
			srcdir = ".";
		snprintf(corpus, sizeof(corpus), "%s/tests/fuzz/corpus/%s",
			 srcdir, FUZZ_TARGET);
		snprintf(crashes, sizeof(crashes), "%s/tests/fuzz/crashes/%s",
			 srcdir, FUZZ_TARGET);
		ran = run_path(corpus);
		if (ran <= 0) {
			fprintf(fuzz_report, "no inputs in %s\n", corpus);
			return 1;
		}
		total += ran;
		ran = run_path(crashes);
		if (ran < 0)
			return 1;
		total += ran;
	}

	fprintf(progress, "%s: %d inputs ran without a crash or a failed check\n",
	       FUZZ_TARGET, total);
	return 0;
}
