/*
 * mod_credlimit.c - the module record of mod_credlimit and its hooks
 *
 * Hooks, in the order httpd runs them:
 *
 *   pre_config     empties the server-wide zone list before the
 *                  configuration is read (again, at a restart)
 *   check_config   stops the start when a CredlimitLimit names a zone or
 *                  policy that is not defined (also under apachectl -t)
 *   post_config    opens every zone's segment in the parent, skipping the
 *                  first of the two startup passes that precedes detaching
 *   child_init     prepares each child's denial log cache
 *   access_checker decides each request (request.c), first among the
 *                  access checkers
 *   fixups         copies CREDLIMIT_RESULT into an internally redirected
 *                  request, such as a local ErrorDocument
 */
#define MCL_DECLARES_MODULE
#include "mod_credlimit.h"

#include "http_core.h"
#include "http_request.h"

static int pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
	mcl_globals_reset(pconf);
	return OK;
}

static int check_config(apr_pool_t *pconf, apr_pool_t *plog,
			apr_pool_t *ptemp, server_rec *s)
{
	const struct mcl_reference *references;
	int i;

	references = (const struct mcl_reference *)mcl_globals.references->elts;
	for (i = 0; i < mcl_globals.references->nelts; i++) {
		const struct mcl_reference *reference = &references[i];
		const struct mcl_zone *zone;

		zone = apr_hash_get(mcl_globals.zones, reference->zone,
				    APR_HASH_KEY_STRING);
		if (zone == NULL) {
			ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, s,
				     "CredlimitLimit at %s names zone %s, which no CredlimitZone defines",
				     reference->defined_at, reference->zone);
			return HTTP_INTERNAL_SERVER_ERROR;
		}
		if (apr_hash_get(zone->policies, reference->policy,
				 APR_HASH_KEY_STRING) == NULL) {
			ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, s,
				     "CredlimitLimit at %s names policy %s, which no CredlimitPolicy defines in zone %s",
				     reference->defined_at, reference->policy,
				     reference->zone);
			return HTTP_INTERNAL_SERVER_ERROR;
		}
	}
	return OK;
}

static int post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
		       server_rec *s)
{
	/* The first pass runs in the process that detaches and exits:
	 * segments opened there would be closed again at once. */
	if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
		return OK;
	return mcl_zones_open(pconf, ptemp, s);
}

static void register_hooks(apr_pool_t *pool)
{
	ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_MIDDLE);
	ap_hook_check_config(check_config, NULL, NULL, APR_HOOK_MIDDLE);
	ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
	ap_hook_child_init(mcl_child_init, NULL, NULL, APR_HOOK_MIDDLE);
	ap_hook_access_checker(mcl_check_request, NULL, NULL, APR_HOOK_FIRST);
	ap_hook_fixups(mcl_copy_result, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(credlimit) = {
	STANDARD20_MODULE_STUFF,
	mcl_create_dir_config,
	mcl_merge_dir_config,
	NULL, /* server config */
	NULL, /* merge server config */
	mcl_directives,
	register_hooks,
	AP_MODULE_FLAG_NONE,
};
