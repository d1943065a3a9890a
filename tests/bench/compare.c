/*
 * compare.c - benchmark: credlimit against a floor and a lock-based baseline
 *
 * Three contenders decide on the same key sequences:
 *
 *   floor      only the memory access and the 16-byte compare-and-swap
 *              on an entry-sized slot, at a fixed pseudo-random slot per
 *              key of an array as large as credlimit's table.  No limiter
 *              can be faster, since every decision needs at least this.
 *   credlimit  credlimit_acquire_at() on a real limiter.
 *   lock       the same algorithm and table layout behind one
 *              process-shared, robust pthread mutex (lockbase.c).
 *
 * Absolute times on a shared machine drift from run to run, so each
 * comparison is a ratio of figures measured side by side in one run.
 * The contenders take turns within every round, and each ratio comes
 * from figures of the same rounds.  Key sequences are generated before
 * any timing, from fixed seeds, and every contender replays the same
 * ones.  credlimit and the baseline allow every request (2^32 - 1
 * requests per 1 s window), so every decision writes its entry.  Both are
 * prefilled with every key, so timed decisions find existing entries.
 *
 * Scenarios (--scenario NAME runs one):
 *
 *   single   One process on 1 key, and on 1,000, 100,000 and 1,000,000
 *            keys drawn uniformly and Zipf-skewed (s = 0.99).  Reports
 *            ns per decision (the median of the rounds) and credlimit /
 *            floor.  Afterwards credlimit and the baseline must store the
 *            same state for a sample of keys, since they saw the same
 *            decisions.
 *   two      1 and 2 processes on distinct keys, and 2 on one hot key:
 *            decisions per second, and 2 processes / 1 process.
 *   many     16 and 64 processes pinned to 2 CPUs, one hot key and
 *            uniform keys: decisions per second, and credlimit / lock.
 *            Prefork servers run many more workers than CPUs, and a lock
 *            holder that is preempted stalls every other worker.
 *   latency  16 processes on 2 CPUs: median, 99th and 99.9th percentile
 *            of single decisions, each timed with clock_gettime(), for
 *            credlimit and the baseline.
 *   memory   bytes per entry and segment sizes of a limiter for
 *            1,000,000 customers.
 *
 * Output is Markdown, ready for docs/benchmarks.md, after a header naming
 * the CPU, the CPU count, the kernel and the compiler.  Not a pass/fail
 * test: figures below the design targets are printed, never failed on.
 * The exit status is 0, or 1 when an API call failed or a contender
 * returned a wrong verdict, and 2 for a usage error.  --quick runs every
 * scenario on tiny sizes in a few seconds, for the smoke test of make
 * check.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

struct scenario {
	const char *name;
	int (*run)(const struct bench_config *config);
};

static const struct scenario scenarios[] = {
	{ "single", scenario_single },
	{ "two", scenario_two },
	{ "many", scenario_many },
	{ "latency", scenario_latency },
	{ "memory", scenario_memory },
};

#define SCENARIO_COUNT (sizeof(scenarios) / sizeof(scenarios[0]))

static const char usage[] =
	"Usage: bench-compare [--quick] [--scenario NAME] [--duration-ms N]\n"
	"\n"
	"Compares credlimit with a floor (memory access and compare-and-swap\n"
	"only) and a lock-based baseline, and prints Markdown tables.\n"
	"\n"
	"  --quick          every scenario on tiny sizes, 50 ms runs\n"
	"  --scenario NAME  run one scenario: single, two, many, latency or\n"
	"                   memory (default: all)\n"
	"  --duration-ms N  time per contender and round of the\n"
	"                   multi-process scenarios, in milliseconds\n"
	"                   (default 1000, quick 50)\n"
	"  -h, --help       print this help and exit\n";

double bench_mops(const struct bench_throughput *t)
{
	if (t->elapsed_ns == 0)
		return 0;
	return (double)t->ops * 1e3 / (double)t->elapsed_ns;
}

const char *bench_ratio(char *out, size_t size, double a, double b)
{
	if (b > 0)
		snprintf(out, size, "%.2f", a / b);
	else
		snprintf(out, size, "n/a");
	return out;
}

/* Checks that the allowed counters grew by the decisions the workers
 * counted: every decision allowed, none lost or counted twice. */
static int check_allowed(struct contender_set *set, const uint64_t before[2],
			 const struct bench_throughput *cl_delta,
			 const struct bench_throughput *lock_delta)
{
	uint64_t cl_allowed, lock_allowed;

	if (contender_set_allowed(set, &cl_allowed, &lock_allowed) < 0)
		return -1;
	if (cl_allowed - before[0] != cl_delta->ops ||
	    lock_allowed - before[1] != lock_delta->ops) {
		fprintf(stderr, "bench-compare: allowed decisions do not match "
			"the workers' counts: credlimit %llu of %llu, lock "
			"%llu of %llu\n",
			(unsigned long long)(cl_allowed - before[0]),
			(unsigned long long)cl_delta->ops,
			(unsigned long long)(lock_allowed - before[1]),
			(unsigned long long)lock_delta->ops);
		return -1;
	}
	return 0;
}

int bench_parallel_rounds(const struct bench_config *config,
			  struct contender_set *set, unsigned kinds,
			  unsigned processes, const struct bench_seq *seqs,
			  struct bench_throughput out[CONTENDER_COUNT])
{
	struct bench_throughput added[CONTENDER_COUNT] = { { 0, 0 } };
	uint64_t before[2];

	if (contender_set_allowed(set, &before[0], &before[1]) < 0)
		return -1;

	for (unsigned round = 0; round < config->parallel_rounds; round++) {
		for (int k = 0; k < CONTENDER_COUNT; k++) {
			struct parallel_job job = {
				.set = set,
				.kind = (enum contender_kind)k,
				.processes = processes,
				.seqs = seqs,
				.duration_ns = config->duration_ns,
				.cpus = &config->cpus,
			};
			struct parallel_result result = { 0, 0, NULL };

			if (!(kinds & (1u << k)))
				continue;
			if (parallel_run(&job, &result) < 0)
				return -1;
			added[k].ops += result.ops;
			added[k].elapsed_ns += result.elapsed_ns;
		}
	}

	if (check_allowed(set, before, &added[CONTENDER_CREDLIMIT],
			  &added[CONTENDER_LOCK]) < 0)
		return -1;
	for (int k = 0; k < CONTENDER_COUNT; k++) {
		out[k].ops += added[k].ops;
		out[k].elapsed_ns += added[k].elapsed_ns;
	}
	return 0;
}

/* Picks the first two CPUs this process may run on. */
static void choose_cpus(struct bench_config *config)
{
	cpu_set_t allowed;
	int chosen = 0;
	size_t used = 0;

	CPU_ZERO(&config->cpus);
	config->cpu_list[0] = '\0';
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		CPU_ZERO(&allowed);

	for (int cpu = 0; cpu < CPU_SETSIZE && chosen < 2; cpu++) {
		if (!CPU_ISSET(cpu, &allowed))
			continue;
		CPU_SET(cpu, &config->cpus);
		used += (size_t)snprintf(config->cpu_list + used,
					 sizeof(config->cpu_list) - used,
					 chosen == 0 ? "%d" : ", %d", cpu);
		chosen++;
	}
}

static void read_cpu_model(char *out, size_t size)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(out, size, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) != 0 || colon == NULL)
			continue;
		colon += 2;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(out, size, "%s", colon);
		break;
	}
	fclose(f);
}

static void print_header(const struct bench_config *config)
{
	char model[128], date[32];
	struct utsname host;
	time_t now = time(NULL);

	read_cpu_model(model, sizeof(model));
	if (uname(&host) < 0)
		snprintf(host.release, sizeof(host.release), "unknown");
	strftime(date, sizeof(date), "%Y-%m-%d", gmtime(&now));

	printf("## bench-compare, credlimit %s, %s\n\n",
	       credlimit_version_string(), date);
	printf("Machine: %s, %ld online CPUs, Linux %s; compiler %s %s.  "
	       "Multi-process workers pinned to CPUs %s.  Mode: %s; "
	       "multi-process runs %llu ms per contender and round, "
	       "%u rounds; single-process runs %zu decisions per contender "
	       "and round, %u rounds.\n\n",
	       model, sysconf(_SC_NPROCESSORS_ONLN), host.release,
#ifdef __clang__
	       "clang",
#else
	       "gcc",
#endif
	       __VERSION__, config->cpu_list, config->quick ? "quick" : "full",
	       (unsigned long long)(config->duration_ns / 1000000),
	       config->parallel_rounds, config->single_len,
	       config->single_rounds);
}

static uint64_t parse_duration(const char *text)
{
	unsigned long long value;
	char *end;

	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || value == 0 || value > 600000) {
		fprintf(stderr, "bench-compare: invalid --duration-ms \"%s\": "
			"expected a whole number of milliseconds from 1 to "
			"600000\n", text);
		exit(2);
	}
	return (uint64_t)value * 1000000;
}

static const struct scenario *find_scenario(const char *name)
{
	for (size_t i = 0; i < SCENARIO_COUNT; i++)
		if (strcmp(scenarios[i].name, name) == 0)
			return &scenarios[i];
	fprintf(stderr, "bench-compare: unknown scenario \"%s\": expected "
		"single, two, many, latency or memory\n", name);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "scenario", required_argument, NULL, 's' },
		{ "duration-ms", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_config config = { .quick = false };
	const struct scenario *only = NULL;
	uint64_t duration_ns = 0;
	int option;

	while ((option = getopt_long(argc, argv, "h", long_options, NULL)) !=
	       -1) {
		switch (option) {
		case 'q':
			config.quick = true;
			break;
		case 's':
			only = find_scenario(optarg);
			break;
		case 'd':
			duration_ns = parse_duration(optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench-compare: unexpected argument \"%s\"\n%s",
			argv[optind], usage);
		return 2;
	}

	config.single_rounds = config.quick ? 1 : 5;
	config.single_len = config.quick ? 4096 : 1u << 20;
	config.parallel_rounds = config.quick ? 1 : 2;
	config.duration_ns = config.quick ? 50000000 : 1000000000;
	config.parallel_len = config.quick ? 4096 : 1u << 16;
	if (duration_ns != 0)
		config.duration_ns = duration_ns;
	choose_cpus(&config);

	print_header(&config);
	for (size_t i = 0; i < SCENARIO_COUNT; i++) {
		if (only != NULL && only != &scenarios[i])
			continue;
		if (scenarios[i].run(&config) < 0)
			return 1;
		fflush(stdout);
	}
	return 0;
}
