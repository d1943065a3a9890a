# prefork-httpd: a prefork HTTP/1.1 server that rate-limits its requests
# with libcredlimit, and the demo script behind the README's quick start.

noinst_PROGRAMS += examples/prefork-httpd/prefork-httpd
examples_prefork_httpd_prefork_httpd_SOURCES = \
	examples/prefork-httpd/main.c \
	examples/prefork-httpd/options.c examples/prefork-httpd/options.h \
	examples/prefork-httpd/log.c examples/prefork-httpd/log.h \
	examples/prefork-httpd/listener.c examples/prefork-httpd/listener.h \
	examples/prefork-httpd/limiter.c examples/prefork-httpd/limiter.h \
	examples/prefork-httpd/master.c examples/prefork-httpd/master.h \
	examples/prefork-httpd/worker.c examples/prefork-httpd/worker.h \
	examples/prefork-httpd/connection.c examples/prefork-httpd/connection.h \
	examples/prefork-httpd/http_request.c examples/prefork-httpd/http_request.h \
	examples/prefork-httpd/http_response.c examples/prefork-httpd/http_response.h \
	examples/prefork-httpd/handler.c examples/prefork-httpd/handler.h
examples_prefork_httpd_prefork_httpd_LDADD = libcredlimit.la

EXTRA_DIST += \
	examples/demo.sh \
	examples/prefork-httpd/README.md \
	tests/examples/prefork-httpd.sh

# End-to-end test: a real server, real HTTP clients (curl and ab).
TESTS += tests/examples/prefork-httpd.sh
AM_TESTS_ENVIRONMENT += \
	PREFORK_HTTPD=$(abs_top_builddir)/examples/prefork-httpd/prefork-httpd; \
	export PREFORK_HTTPD; \
	CURL='$(CURL)'; export CURL; \
	AB='$(AB)'; export AB;
