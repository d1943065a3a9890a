# mod_credlimit: the Apache httpd 2.4 module, built as a libtool module
# with the flags apxs reports, and its end-to-end test.  Built only when
# configure found apxs (Debian: apache2-dev).  Libtool rather than apxs -c
# compiles it, so that the objects land in the build tree (apxs writes next
# to the sources) and the module links the uninstalled libcredlimit.la.

MCL_SOURCES = \
	examples/apache/mod_credlimit.c examples/apache/mod_credlimit.h \
	examples/apache/config.c \
	examples/apache/zone.c \
	examples/apache/request.c

EXTRA_DIST += \
	$(MCL_SOURCES) \
	examples/apache/README.md \
	examples/apache/credlimit.load \
	examples/apache/credlimit.conf \
	tests/apache/mod_credlimit.sh \
	tests/apache/httpd.conf.in

if HAVE_APXS
apachemod_LTLIBRARIES = examples/apache/mod_credlimit.la
examples_apache_mod_credlimit_la_SOURCES = $(MCL_SOURCES)
examples_apache_mod_credlimit_la_CPPFLAGS = $(AM_CPPFLAGS) $(APXS_CPPFLAGS)
examples_apache_mod_credlimit_la_LDFLAGS = $(AM_LDFLAGS) -module \
	-avoid-version -shared
examples_apache_mod_credlimit_la_LIBADD = libcredlimit.la

# End-to-end test: httpd with the prefork MPM, driven by curl and ab.
TESTS += tests/apache/mod_credlimit.sh
endif

AM_TESTS_ENVIRONMENT += \
	APACHE_HTTPD='$(APACHE_HTTPD)'; export APACHE_HTTPD; \
	APACHE_LIBEXECDIR='$(APACHE_LIBEXECDIR)'; export APACHE_LIBEXECDIR; \
	MOD_CREDLIMIT=$(abs_top_builddir)/examples/apache/.libs/mod_credlimit.so; \
	export MOD_CREDLIMIT; \
	LIBCREDLIMIT_DIR=$(abs_top_builddir)/.libs; export LIBCREDLIMIT_DIR; \
	CREDLIMIT_SANITIZERS='$(SANITIZER_CFLAGS)'; export CREDLIMIT_SANITIZERS;

# httpd loads only mod_credlimit.so, so the libtool archive stays out of the
# modules directory.  libtool's uninstall finds the .so through the .la, so
# the .so is removed here as well.
install-data-hook: install-data-apache-module
install-data-apache-module:
	rm -f '$(DESTDIR)$(apachemoddir)/mod_credlimit.la'
uninstall-hook: uninstall-apache-module
uninstall-apache-module:
	rm -f '$(DESTDIR)$(apachemoddir)/mod_credlimit.so'
.PHONY: install-data-apache-module uninstall-apache-module
