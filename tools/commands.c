/*
 * commands.c - the table of limitctl's commands and their help texts
 *
 * The help texts state the same defaults, units and ranges as limitctl(1);
 * change both together.
 */
#include "limitctl.h"

static const char create_help[] =
	"Options (the numbers of the default policy apply to every\n"
	"customer that has no other policy):\n"
	"  --capacity N          slots of the table, 1 to 4294967296,\n"
	"                        at least 8 (default 4096); a table holds\n"
	"                        up to about 80% of its slots in customers\n"
	"  --max-capacity N      max slots the table may grow to,\n"
	"                        --capacity to 4294967296 (default: equal\n"
	"                        to --capacity, so it never grows); the\n"
	"                        table doubles into a new generation when\n"
	"                        it is half full\n"
	"  --max-requests R      requests per window, 1 to 4294967295\n"
	"                        (default 60)\n"
	"  --window DURATION     window length, 1ms to 366d, with unit ms,\n"
	"                        s, m, h or d, such as 500ms or 10m\n"
	"                        (default 1m)\n"
	"  --max-credits C       cap on stored credits, 0 to 4294967295\n"
	"                        (default 60)\n"
	"  --initial-credits I   credits of a customer seen for the first\n"
	"                        time, 0 to C (default 0)\n"
	"  --mode OCTAL          permissions of the segments, including\n"
	"                        read and write for the owner (default 0600)\n"
	"  --full-action ACTION  what a new key gets when the table is\n"
	"                        full: deny, or allow without tracking it\n"
	"                        (default deny)\n";

static const char list_help[] =
	"Options:\n"
	"  --sort FIELD   key: by key bytes, ascending (default)\n"
	"                 remaining: fewest requests left first\n"
	"                 credits: fewest stored credits first\n"
	"                 last-seen: most recent decision first\n"
	"  --top N        print only the first N entries after sorting\n"
	"  --limited      only customers with nothing left now\n"
	"                 (remaining 0)\n"
	"Columns: KEY (printable ASCII as is, \\\\ for a backslash, \\xNN\n"
	"for other bytes; a key over 32 bytes as its first 16 bytes,\n"
	"\"...#\" and the first 8 hex digits of its digest),\n"
	"POLICY (* when assigned to the key), REMAINING (largest cost\n"
	"allowed now), CREDITS, USED (base requests used in the current\n"
	"window), RESET (until the window ends), LAST SEEN.\n";

static const char show_help[] =
	"Options:\n"
	"  --hex          KEY is given as hex digits, two per byte\n"
	"                 (for keys with NUL or other non-printable bytes)\n"
	"Exits with status 3 when KEY has no entry.  Put -- before a KEY\n"
	"that starts with -.\n";

static const char acquire_help[] =
	"Options:\n"
	"  --hex            KEY is given as hex digits, two per byte\n"
	"  --cost N         cost of the request (default 1); 0 only reads\n"
	"  --policy POLICY  policy the request names (default: default);\n"
	"                   a policy assigned to the key wins\n"
	"An allowed request is charged.  A denial is a result, not an\n"
	"error: the exit status is 0 for both.\n";

static const char reset_help[] =
	"Options:\n"
	"  --hex          KEY is given as hex digits, two per byte\n"
	"  --all          reset every entry of the limiter\n"
	"A reset key starts again from the initial credits of its policy;\n"
	"a policy assigned to it stays.  Exits with status 3 when KEY has\n"
	"no entry.\n";

static const char set_help[] =
	"Options (give at least one of --policy and --credits):\n"
	"  --hex             KEY is given as hex digits, two per byte\n"
	"  --policy POLICY   assign POLICY to the key; it wins over the\n"
	"                    policy a worker names, and the key is never\n"
	"                    evicted.  none removes the assignment, so\n"
	"                    no policy may be named none.\n"
	"  --credits N       set the stored credits, 0 to the max credits\n"
	"                    of the key's policy\n"
	"With both, the policy is assigned first, so --credits is checked\n"
	"against the new policy.  Creates the entry when KEY has none.\n";

static const char policy_help[] =
	"policy set options:\n"
	"  --max-requests R      requests per window, 1 to 4294967295\n"
	"  --window DURATION     window length, 1ms to 366d, with unit ms,\n"
	"                        s, m, h or d, such as 500ms or 10m\n"
	"  --max-credits C       cap on stored credits, 0 to 4294967295\n"
	"  --initial-credits I   credits of a customer seen for the first\n"
	"                        time, 0 to C\n"
	"A new policy needs --max-requests and --window; its credits\n"
	"default to 0.  Changing an existing policy keeps every number\n"
	"not given.  Customers keep their counts across a change.  The\n"
	"policy name none is reserved: 'set --policy none' removes an\n"
	"assignment.\n";

static const char grow_help[] =
	"Options:\n"
	"  --capacity N   grow to N slots, 1 to 4294967296 (default:\n"
	"                 twice the current capacity)\n"
	"Moves the entries into a new table generation while other\n"
	"processes keep deciding, and returns when the new table is\n"
	"current.  A table that has N slots already is left as it is\n"
	"(exit status 0).  Exits with status 2 when the new capacity\n"
	"would exceed the max capacity given at create.\n";

static const char stats_help[] =
	"Counters are sums of per-thread stripes read one by one, so they\n"
	"are exact only while no decision runs.  \"migration\" shows a\n"
	"table growth under way: its target capacity and how many slots of\n"
	"the current table processes have taken to move.\n";

static const char check_help[] =
	"Checks the control segment, the table header and the invariants\n"
	"of every entry.  During a table growth it checks the entries\n"
	"in both table generations.  Exits with status 4 when it finds a\n"
	"problem.\n";

static const char destroy_help[] =
	"Processes that have the limiter open keep using it until they\n"
	"close it; a later open by name creates a new limiter.\n";

static const char replay_help[] =
	"Options:\n"
	"  --max-requests R      requests per window, 1 to 4294967295\n"
	"  --window-ms W         window length in milliseconds, 1 to\n"
	"                        31622400000 (366 days)\n"
	"  --max-credits C       cap on stored credits (default 0)\n"
	"  --initial-credits I   credits of a new key, 0 to C (default 0)\n"
	"  --capacity N          slots of the private table, 1 to\n"
	"                        4294967296 (default 1048576); a trace\n"
	"                        that fills it stops\n"
	"Input (FILE, or standard input when FILE is absent or -): one\n"
	"request per line, \"T_MS KEY [COST]\": T_MS the time in whole\n"
	"milliseconds, KEY a token without white space, COST a whole\n"
	"number (default 1).  Blank lines and lines whose first non-blank\n"
	"character is # are skipped.\n"
	"Output: one line per request, \"VERDICT REMAINING CREDITS\n"
	"RESET_MS RETRY_MS\": VERDICT allow or deny, RETRY_MS 0 when\n"
	"allowed and never when the cost exceeds R + C (or the wait\n"
	"exceeds 2^64 - 1 ns).  A malformed line stops the run with\n"
	"\"line N: ...\" on standard error and exit status 5.\n";

const struct limitctl_command limitctl_commands[] = {
	{ "create", cmd_create,
	  "NAME [OPTIONS]",
	  "Create limiter NAME; fails when it exists.",
	  create_help },
	{ "list", cmd_list,
	  "NAME [--sort FIELD] [--top N] [--limited]",
	  "List the entries of limiter NAME as they stand now.",
	  list_help },
	{ "show", cmd_show,
	  "NAME KEY [--hex]",
	  "Show the entry of KEY in limiter NAME in detail.",
	  show_help },
	{ "acquire", cmd_acquire,
	  "NAME KEY [--hex] [--cost N] [--policy POLICY]",
	  "Decide one request for KEY now and print the result.",
	  acquire_help },
	{ "reset", cmd_reset,
	  "NAME KEY [--hex] | NAME --all",
	  "Make KEY, or every key, a new customer again.",
	  reset_help },
	{ "set", cmd_set,
	  "NAME KEY [--hex] [--policy POLICY|none] [--credits N]",
	  "Assign a policy to KEY or set its stored credits.",
	  set_help },
	{ "policy", cmd_policy,
	  "list NAME | set NAME POLICY [OPTIONS]",
	  "List the policies of limiter NAME, or define or change one.",
	  policy_help },
	{ "grow", cmd_grow,
	  "NAME [--capacity N]",
	  "Grow the table of limiter NAME now, up to its max capacity.",
	  grow_help },
	{ "stats", cmd_stats,
	  "NAME",
	  "Print the counters and sizes of limiter NAME.",
	  stats_help },
	{ "check", cmd_check,
	  "NAME",
	  "Validate limiter NAME and print each problem found.",
	  check_help },
	{ "destroy", cmd_destroy,
	  "NAME",
	  "Remove the shared-memory segments of limiter NAME.",
	  destroy_help },
	{ "replay", cmd_replay,
	  "--max-requests R --window-ms W [OPTIONS] [FILE]",
	  "Run a trace of requests through a private limiter.",
	  replay_help },
	{ NULL, NULL, NULL, NULL, NULL },
};
