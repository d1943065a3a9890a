# Fuzz targets (tests/fuzz/*.c, one per target) and their saved inputs.
#
# make check builds each target with driver.c, a plain main() that feeds it
# every file of tests/fuzz/corpus/TARGET and tests/fuzz/crashes/TARGET,
# with whatever compiler configure found.  make fuzz builds each target
# with libFuzzer and runs it for FUZZ_SECONDS seconds; it needs a build
# configured with CC=clang --enable-fuzzing.

FUZZ_TARGETS = segment replay limitctl api
FUZZ_SECONDS = 60

FUZZ_DRIVERS = \
	tests/fuzz/corpus-segment \
	tests/fuzz/corpus-replay \
	tests/fuzz/corpus-limitctl \
	tests/fuzz/corpus-api
check_PROGRAMS += $(FUZZ_DRIVERS)
TESTS += $(FUZZ_DRIVERS)

FUZZ_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/fuzz
FUZZ_CFLAGS = $(AM_CFLAGS) $(URCU_CFLAGS)
FUZZ_LDADD = libcredlimit-core.la $(URCU_LIBS)
FUZZ_COMMON = tests/fuzz/fuzz.h tests/fuzz/common.c

# The limitctl sources, compiled again for the targets that call them,
# into two convenience libraries: main becomes limitctl_main, so that a
# target can run a command line in process.  The guarded one also routes
# opening and removing a limiter by name through the guards of
# tests/fuzz/limitctl.c, so that a fuzzed command line touches only that
# target's own limiter.
check_LTLIBRARIES = tests/fuzz/liblimitctl.la tests/fuzz/liblimitctl-guarded.la
FUZZ_TOOL_CPPFLAGS = $(AM_CPPFLAGS) -Dmain=limitctl_main
# main.c has no prototype for limitctl_main.
FUZZ_TOOL_CFLAGS = $(AM_CFLAGS) -Wno-missing-prototypes
tests_fuzz_liblimitctl_la_SOURCES = $(tools_limitctl_SOURCES)
tests_fuzz_liblimitctl_la_CPPFLAGS = $(FUZZ_TOOL_CPPFLAGS)
tests_fuzz_liblimitctl_la_CFLAGS = $(FUZZ_TOOL_CFLAGS)
tests_fuzz_liblimitctl_guarded_la_SOURCES = $(tools_limitctl_SOURCES)
tests_fuzz_liblimitctl_guarded_la_CPPFLAGS = $(FUZZ_TOOL_CPPFLAGS) \
	-Dcredlimit_open=fuzz_limitctl_open \
	-Dcredlimit_unlink=fuzz_limitctl_unlink
tests_fuzz_liblimitctl_guarded_la_CFLAGS = $(FUZZ_TOOL_CFLAGS)

tests_fuzz_corpus_segment_SOURCES = tests/fuzz/segment.c tests/fuzz/driver.c \
	$(FUZZ_COMMON)
tests_fuzz_corpus_segment_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET='"segment"'
tests_fuzz_corpus_segment_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_corpus_segment_LDADD = $(FUZZ_LDADD)

tests_fuzz_corpus_replay_SOURCES = tests/fuzz/replay.c tests/fuzz/driver.c \
	$(FUZZ_COMMON)
tests_fuzz_corpus_replay_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET='"replay"'
tests_fuzz_corpus_replay_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_corpus_replay_LDADD = tests/fuzz/liblimitctl.la $(FUZZ_LDADD)

tests_fuzz_corpus_limitctl_SOURCES = tests/fuzz/limitctl.c \
	tests/fuzz/driver.c $(FUZZ_COMMON)
tests_fuzz_corpus_limitctl_CPPFLAGS = $(FUZZ_CPPFLAGS) \
	-DFUZZ_TARGET='"limitctl"'
tests_fuzz_corpus_limitctl_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_corpus_limitctl_LDADD = tests/fuzz/liblimitctl-guarded.la \
	$(FUZZ_LDADD)

tests_fuzz_corpus_api_SOURCES = tests/fuzz/api.c tests/fuzz/driver.c \
	$(FUZZ_COMMON)
tests_fuzz_corpus_api_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET='"api"'
tests_fuzz_corpus_api_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_corpus_api_LDADD = $(FUZZ_LDADD)

# The libFuzzer binaries: the same sources without driver.c.
FUZZ_BINARIES = \
	tests/fuzz/fuzz-segment \
	tests/fuzz/fuzz-replay \
	tests/fuzz/fuzz-limitctl \
	tests/fuzz/fuzz-api
EXTRA_PROGRAMS += $(FUZZ_BINARIES)
CLEANFILES += $(FUZZ_BINARIES)

tests_fuzz_fuzz_segment_SOURCES = tests/fuzz/segment.c $(FUZZ_COMMON)
tests_fuzz_fuzz_segment_CPPFLAGS = $(tests_fuzz_corpus_segment_CPPFLAGS)
tests_fuzz_fuzz_segment_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_segment_LDFLAGS = $(AM_LDFLAGS) $(FUZZER_LDFLAGS)
tests_fuzz_fuzz_segment_LDADD = $(FUZZ_LDADD)

tests_fuzz_fuzz_replay_SOURCES = tests/fuzz/replay.c $(FUZZ_COMMON)
tests_fuzz_fuzz_replay_CPPFLAGS = $(tests_fuzz_corpus_replay_CPPFLAGS)
tests_fuzz_fuzz_replay_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_replay_LDFLAGS = $(AM_LDFLAGS) $(FUZZER_LDFLAGS)
tests_fuzz_fuzz_replay_LDADD = $(tests_fuzz_corpus_replay_LDADD)

tests_fuzz_fuzz_limitctl_SOURCES = tests/fuzz/limitctl.c $(FUZZ_COMMON)
tests_fuzz_fuzz_limitctl_CPPFLAGS = $(tests_fuzz_corpus_limitctl_CPPFLAGS)
tests_fuzz_fuzz_limitctl_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_limitctl_LDFLAGS = $(AM_LDFLAGS) $(FUZZER_LDFLAGS)
tests_fuzz_fuzz_limitctl_LDADD = $(tests_fuzz_corpus_limitctl_LDADD)

tests_fuzz_fuzz_api_SOURCES = tests/fuzz/api.c $(FUZZ_COMMON)
tests_fuzz_fuzz_api_CPPFLAGS = $(tests_fuzz_corpus_api_CPPFLAGS)
tests_fuzz_fuzz_api_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_api_LDFLAGS = $(AM_LDFLAGS) $(FUZZER_LDFLAGS)
tests_fuzz_fuzz_api_LDADD = $(FUZZ_LDADD)

EXTRA_DIST += tests/fuzz/corpus tests/fuzz/crashes

# Runs each target for FUZZ_SECONDS seconds.  New interesting inputs go to
# tests/fuzz/work/TARGET in the build tree; a crash input is written to
# tests/fuzz/new-crashes/TARGET and fails the run: copy it into
# tests/fuzz/crashes/TARGET in the source tree with the fix, so that make
# check replays it from then on.  -close_fd_mask=3 hides what the code
# under test prints; libFuzzer still prints its own reports.
if FUZZING
fuzz: $(FUZZ_BINARIES)
	@status=0; \
	for target in $(FUZZ_TARGETS); do \
		mkdir -p tests/fuzz/work/$$target \
			tests/fuzz/new-crashes/$$target || exit 1; \
		echo "fuzz: $$target for $(FUZZ_SECONDS) s"; \
		TOP_SRCDIR=$(abs_top_srcdir) ./tests/fuzz/fuzz-$$target \
			-max_total_time=$(FUZZ_SECONDS) -timeout=30 \
			-close_fd_mask=3 -print_final_stats=1 \
			-artifact_prefix=tests/fuzz/new-crashes/$$target/ \
			tests/fuzz/work/$$target \
			$(abs_top_srcdir)/tests/fuzz/corpus/$$target \
			$(abs_top_srcdir)/tests/fuzz/crashes/$$target \
			|| status=1; \
	done; \
	exit $$status
else
fuzz:
	@echo "make fuzz needs libFuzzer: configure with CC=clang --enable-fuzzing (Debian packages clang and libfuzzer-14-dev)" >&2; \
	exit 1
endif
.PHONY: fuzz

clean-local: clean-fuzz
clean-fuzz:
	rm -rf tests/fuzz/work tests/fuzz/new-crashes
.PHONY: clean-fuzz
