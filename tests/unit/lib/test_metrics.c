/* lib/metrics: series identity, the text format, histograms, thread safety.
 * The registry is per process and shared with every other test: names here
 * start with test_metrics_ so they cannot collide. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "test.h"

/* True when rendered text contains line (a whole line). */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return 1;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return 0;
}

static char *render(void)
{
	size_t len = 0;
	char *s = metrics_render(&len);
	CHECK(s != NULL);
	CHECK_EQ_INT(len, s != NULL ? strlen(s) : 0);
	return s;
}

TEST(metrics_counter_series_are_identified_by_labels)
{
	metric *a = metrics_counter("test_metrics_requests_total", "Requests.", "route=\"/a\"");
	metric *a2 = metrics_counter("test_metrics_requests_total", "ignored", "route=\"/a\"");
	metric *b = metrics_counter("test_metrics_requests_total", NULL, "route=\"/b\"");
	CHECK(a != NULL && b != NULL);
	CHECK(a == a2);
	CHECK(a != b);
	metrics_add(a, 2);
	metrics_add(a2, 3);
	metrics_add(b, 1);
	char *s = render();
	CHECK(has_line(s, "# HELP test_metrics_requests_total Requests."));
	CHECK(has_line(s, "# TYPE test_metrics_requests_total counter"));
	CHECK(has_line(s, "test_metrics_requests_total{route=\"/a\"} 5"));
	CHECK(has_line(s, "test_metrics_requests_total{route=\"/b\"} 1"));
	/* the family header appears once */
	const char *first = strstr(s, "# TYPE test_metrics_requests_total");
	CHECK(first != NULL && strstr(first + 1, "# TYPE test_metrics_requests_total") == NULL);
	free(s);
}

TEST(metrics_gauge_and_unlabelled_series)
{
	metric *g = metrics_gauge("test_metrics_in_flight", "In flight.\nSecond \\ line", NULL);
	metric *g2 = metrics_gauge("test_metrics_in_flight", NULL, "");
	CHECK(g != NULL && g == g2);
	metrics_gauge_set(g, 10);
	metrics_gauge_add(g, -13);
	char *s = render();
	CHECK(has_line(s, "test_metrics_in_flight -3"));
	CHECK(has_line(s, "# HELP test_metrics_in_flight In flight.\\nSecond \\\\ line"));
	CHECK(has_line(s, "# TYPE test_metrics_in_flight gauge"));
	free(s);
}

TEST(metrics_histogram_buckets_sum_count)
{
	metric *h = metrics_histogram("test_metrics_latency_seconds", "Latency.", "method=\"GET\"");
	CHECK(h != NULL);
	metrics_observe_us(h, 400);      /* <= 0.0005 */
	metrics_observe_us(h, 500);      /* <= 0.0005 (le is inclusive) */
	metrics_observe_us(h, 3000);     /* <= 0.005 */
	metrics_observe_us(h, 20000000); /* above 10 s: only +Inf */
	char *s = render();
	CHECK(has_line(s, "# TYPE test_metrics_latency_seconds histogram"));
	CHECK(has_line(s, "test_metrics_latency_seconds_bucket{method=\"GET\",le=\"0.0005\"} 2"));
	CHECK(has_line(s, "test_metrics_latency_seconds_bucket{method=\"GET\",le=\"0.0025\"} 2"));
	CHECK(has_line(s, "test_metrics_latency_seconds_bucket{method=\"GET\",le=\"0.005\"} 3"));
	CHECK(has_line(s, "test_metrics_latency_seconds_bucket{method=\"GET\",le=\"10\"} 3"));
	CHECK(has_line(s, "test_metrics_latency_seconds_bucket{method=\"GET\",le=\"+Inf\"} 4"));
	CHECK(has_line(s, "test_metrics_latency_seconds_sum{method=\"GET\"} 20.003900"));
	CHECK(has_line(s, "test_metrics_latency_seconds_count{method=\"GET\"} 4"));
	free(s);

	metric *u = metrics_histogram("test_metrics_unlabelled_seconds", "U.", NULL);
	metrics_observe_us(u, 1000);
	s = render();
	CHECK(has_line(s, "test_metrics_unlabelled_seconds_bucket{le=\"0.001\"} 1"));
	CHECK(has_line(s, "test_metrics_unlabelled_seconds_sum 0.001000"));
	CHECK(has_line(s, "test_metrics_unlabelled_seconds_count 1"));
	free(s);
}

TEST(metrics_refuses_bad_names_and_kind_changes)
{
	CHECK(metrics_counter("", "x", NULL) == NULL);
	CHECK(metrics_counter("9starts_with_digit", "x", NULL) == NULL);
	CHECK(metrics_counter("has-dash", "x", NULL) == NULL);
	CHECK(metrics_counter(NULL, "x", NULL) == NULL);
	CHECK(metrics_counter("test_metrics_kind", "x", NULL) != NULL);
	CHECK(metrics_gauge("test_metrics_kind", "x", NULL) == NULL);
	CHECK(metrics_histogram("test_metrics_kind", "x", "a=\"b\"") == NULL);
	/* updates on NULL are no-ops */
	metrics_add(NULL, 1);
	metrics_gauge_set(NULL, 1);
	metrics_gauge_add(NULL, 1);
	metrics_observe_us(NULL, 1);
}

#define METRICS_THREADS 8
#define METRICS_ITERS 20000

static void *metrics_hammer(void *arg)
{
	(void)arg;
	for (int i = 0; i < METRICS_ITERS; i++) {
		/* lookup on every iteration: exercises the lock paths too */
		metric *c = metrics_counter("test_metrics_race_total", "Race.", i % 2 ? "k=\"odd\"" : "k=\"even\"");
		metrics_add(c, 1);
		metrics_observe_us(metrics_histogram("test_metrics_race_seconds", "Race.", NULL), 700);
		metrics_gauge_add(metrics_gauge("test_metrics_race_gauge", "Race.", NULL), 1);
	}
	return NULL;
}

TEST(metrics_concurrent_updates_are_exact)
{
	pthread_t t[METRICS_THREADS];
	for (int i = 0; i < METRICS_THREADS; i++)
		pthread_create(&t[i], NULL, metrics_hammer, NULL);
	for (int i = 0; i < METRICS_THREADS; i++)
		pthread_join(t[i], NULL);
	char *s = render();
	char line[128];
	snprintf(line, sizeof(line), "test_metrics_race_total{k=\"odd\"} %d", METRICS_THREADS * METRICS_ITERS / 2);
	CHECK(has_line(s, line));
	snprintf(line, sizeof(line), "test_metrics_race_total{k=\"even\"} %d", METRICS_THREADS * METRICS_ITERS / 2);
	CHECK(has_line(s, line));
	snprintf(line, sizeof(line), "test_metrics_race_seconds_count %d", METRICS_THREADS * METRICS_ITERS);
	CHECK(has_line(s, line));
	snprintf(line, sizeof(line), "test_metrics_race_gauge %d", METRICS_THREADS * METRICS_ITERS);
	CHECK(has_line(s, line));
	free(s);
}

TEST(metrics_pair_slot_hits_the_same_key_and_takes_over_on_a_collision)
{
	static metrics_pair cache[4];
	memset(cache, 0, sizeof(cache));
	static const char route_a[] = "/a", route_b[] = "/b", get[] = "GET";
	metrics_pair *e = NULL, *again = NULL;
	CHECK(!metrics_pair_slot(cache, 4, route_a, get, 200, &e));
	CHECK(e->count == NULL && e->latency == NULL);
	e->count = metrics_counter("test_pair_total", "t", "k=\"a\"");
	CHECK(metrics_pair_slot(cache, 4, route_a, get, 200, &again));
	CHECK(again == e && again->count == e->count);
	/* NULL keys are keys too (an empty cache is not a hit for them) */
	metrics_pair *n = NULL;
	CHECK(!metrics_pair_slot(cache, 4, NULL, NULL, 0, &n));
	CHECK(metrics_pair_slot(cache, 4, NULL, NULL, 0, &n));
	/* every other key misses; one that lands on e's entry takes it over */
	int misses = 0;
	for (int status = 201; status < 240; status++) {
		metrics_pair *o = NULL;
		if (!metrics_pair_slot(cache, 4, route_b, get, status, &o))
			misses++;
		CHECK(o->k1 == route_b && o->k3 == status);
	}
	CHECK_EQ_INT(misses, 39);
	/* 39 consecutive statuses land on every entry of 4: e's was taken over */
	CHECK(!metrics_pair_slot(cache, 4, route_a, get, 200, &again));
}
