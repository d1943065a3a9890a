# limitctl, the admin tool, its man page and its end-to-end tests.
# Included by the top-level Makefile.am: paths are relative to the top
# source directory.

bin_PROGRAMS += tools/limitctl
tools_limitctl_SOURCES = \
	tools/limitctl.h \
	tools/main.c \
	tools/commands.c \
	tools/parse.c \
	tools/format.c \
	tools/json.c tools/json.h \
	tools/open.c \
	tools/policies.c \
	tools/entry.c \
	tools/cmd_create.c \
	tools/cmd_list.c \
	tools/cmd_show.c \
	tools/cmd_acquire.c \
	tools/cmd_reset.c \
	tools/cmd_set.c \
	tools/cmd_policy.c \
	tools/cmd_grow.c \
	tools/cmd_stats.c \
	tools/cmd_check.c \
	tools/cmd_destroy.c \
	tools/cmd_replay.c \
	tools/replay.h tools/replay_input.c
tools_limitctl_LDADD = libcredlimit.la

dist_man_MANS += tools/limitctl.1

# Shell tests.  examples/local.mk registers shell tests too and relies on
# these two definitions, and appends to AM_TESTS_ENVIRONMENT with +=.
TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = $(SHELL)
AM_TESTS_ENVIRONMENT = \
	LIMITCTL=$(abs_top_builddir)/tools/limitctl; export LIMITCTL; \
	TOP_SRCDIR=$(abs_top_srcdir); export TOP_SRCDIR; \
	REDIS_SERVER=$(REDIS_SERVER); export REDIS_SERVER; \
	REDIS_CLI=$(REDIS_CLI); export REDIS_CLI;

limitctl_tests = \
	tests/limitctl/usage.sh \
	tests/limitctl/lifecycle.sh \
	tests/limitctl/json.sh \
	tests/limitctl/errors.sh \
	tests/limitctl/readonly.sh \
	tests/limitctl/owner.sh \
	tests/limitctl/replay.sh \
	tests/limitctl/replay-errors.sh \
	tests/limitctl/manpage.sh \
	tests/limitctl/prefork-options.sh \
	tests/limitctl/grow.sh \
	tests/limitctl/grow-migration.sh \
	tests/limitctl/redis.sh \
	tests/limitctl/redis-cluster.sh \
	tests/limitctl/lease.sh
TESTS += $(limitctl_tests)
EXTRA_DIST += \
	$(limitctl_tests) \
	tests/limitctl/common.sh \
	tests/limitctl/redis-common.sh \
	tests/limitctl/traces
