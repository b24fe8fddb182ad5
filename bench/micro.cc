// Micro-benchmarks of the answer engine and the data-plane packet code.
//
// Each benchmark answers the same query over and over, so everything is in
// L1 cache: these are best-case costs per operation, the floor under the
// replay benchmark (bench/replay.c), which walks a large capture and a large
// zone. Run: p53-bench-micro [--benchmark_filter=REGEX]
#include "bench/shim.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace
{

struct EngineDeleter {
	void operator()(bsh_engine *e) const
	{
		bsh_engine_free(e);
	}
};
using Engine = std::unique_ptr<bsh_engine, EngineDeleter>;

// Snapshots are compiled once per process, on first use.
bsh_engine *engine(bool prerender)
{
	static Engine pre, dyn;
	Engine &slot = prerender ? pre : dyn;
	if (!slot) {
		slot.reset(bsh_engine_builtin(prerender ? 1 : 0, 0));
		if (!slot) {
			std::fprintf(stderr, "bench: %s\n", bsh_error());
			std::exit(1);
		}
	}
	return slot.get();
}

struct Kind {
	const char *label;
	const char *name;
	uint16_t qtype;
	int edns; // as bsh_query
};

// One query per answer kind; the names are in bench.example (shim.c).
const Kind kinds[] = {
    {"exact_A", "www.bench.example.", 1, 0},
    {"exact_A_mixedcase", "WwW.BeNcH.eXaMpLe.", 1, 0},
    {"exact_4A", "multi.bench.example.", 1, 0},
    {"exact_MX_additional", "bench.example.", 15, 0},
    {"nodata", "www.bench.example.", 16, 0},
    {"cname_chain3", "c1.bench.example.", 1, 0},
    {"wildcard", "anything.wild.bench.example.", 1, 0},
    {"referral", "host.sub.bench.example.", 1, 0},
    {"nxdomain", "nothing.bench.example.", 1, 0},
    {"edns_exact_A", "www.bench.example.", 1, 1},
    {"edns_do_exact_A", "www.bench.example.", 1, 2},
    {"edns_ecs_exact_A", "www.bench.example.", 1, 3},
    {"edns_nxdomain", "nothing.bench.example.", 1, 1},
};
constexpr int nkinds = sizeof(kinds) / sizeof(kinds[0]);

// Parse + decide + encode for one answer kind; range(0) picks the kind,
// range(1) whether the snapshot has pre-rendered answers.
void BM_Answer(benchmark::State &st)
{
	const Kind &k = kinds[st.range(0)];
	bool pre = st.range(1) != 0;
	bsh_engine *e = engine(pre);
	uint8_t q[512], r[4096];
	size_t ql = bsh_query(q, sizeof(q), k.name, k.qtype, k.edns);
	if (ql == 0 || bsh_answer(e, q, ql, r, sizeof(r)) == 0) {
		st.SkipWithError("query not answered");
		return;
	}
	uint64_t pre0 = bsh_prerendered(e);
	for (auto _ : st) {
		size_t n = bsh_answer(e, q, ql, r, sizeof(r));
		benchmark::DoNotOptimize(n);
		benchmark::ClobberMemory();
	}
	st.SetItemsProcessed(static_cast<int64_t>(st.iterations()));
	st.SetLabel(std::string(k.label) + (pre ? "/prerendered" : "/dynamic") +
		    ((bsh_prerendered(e) - pre0) ? " (blob path)" : " (plan path)"));
}

void answer_args(benchmark::internal::Benchmark *b)
{
	for (int i = 0; i < nkinds; i++)
		for (int pre = 1; pre >= 0; pre--)
			b->Args({i, pre});
}
BENCHMARK(BM_Answer)->Apply(answer_args);

// Route 53 routing policies (tests/e2e/r53/example.json with its geo CSV):
// what choosing per query costs against a simple, pre-rendered answer.
const Kind policies[] = {
    {"simple", "simple.example.com.", 1, 0},
    {"failover", "fo.example.com.", 1, 0},
    {"weighted", "www.example.com.", 1, 0},
    {"multivalue", "mv.example.com.", 1, 0},
    {"geolocation_ecs", "geo.example.com.", 1, 3},
    {"latency_ecs", "lat.example.com.", 1, 3},
    {"geoproximity_ecs", "prox.example.com.", 1, 3},
    {"cidr_ecs", "cidr.example.com.", 1, 3},
    {"alias_to_failover", "alias.example.com.", 1, 0},
};

void BM_Policy(benchmark::State &st)
{
	static std::unique_ptr<bsh_engine, void (*)(bsh_engine *)> r53(nullptr, bsh_engine_free);
	if (!r53) {
		const char *src = getenv("P53_SRC");
		std::string dir = std::string(src ? src : ".") + "/tests/e2e/r53/";
		r53.reset(bsh_engine_compile("example.com.", (dir + "example.json").c_str(),
					     (dir + "geo.csv").c_str()));
	}
	const Kind &k = policies[st.range(0)];
	uint8_t q[512], r[4096];
	size_t ql = bsh_query(q, sizeof(q), k.name, k.qtype, k.edns);
	if (!r53 || ql == 0 || bsh_answer(r53.get(), q, ql, r, sizeof(r)) == 0) {
		st.SkipWithError(r53 ? "query not answered" : bsh_error());
		return;
	}
	for (auto _ : st) {
		size_t n = bsh_answer(r53.get(), q, ql, r, sizeof(r));
		benchmark::DoNotOptimize(n);
		benchmark::ClobberMemory();
	}
	st.SetItemsProcessed(static_cast<int64_t>(st.iterations()));
	st.SetLabel(k.label);
}
BENCHMARK(BM_Policy)->DenseRange(0, sizeof(policies) / sizeof(policies[0]) - 1);

// The cheapest complete answer: header parse, then REFUSED for class 5 with
// no lookup; the cost of reading a query and writing a header.
void BM_ParseRefused(benchmark::State &st)
{
	bsh_engine *e = engine(true);
	uint8_t q[512], r[4096];
	size_t ql = bsh_query_class(q, sizeof(q), "www.bench.example.", 1, 5);
	for (auto _ : st) {
		size_t n = bsh_answer(e, q, ql, r, sizeof(r));
		benchmark::DoNotOptimize(n);
		benchmark::ClobberMemory();
	}
	st.SetItemsProcessed(static_cast<int64_t>(st.iterations()));
}
BENCHMARK(BM_ParseRefused);

void BM_NameHash(benchmark::State &st)
{
	const char *names[] = {"www.bench.example.",
			       "a-fairly-long-label.another-label.service.region.example.com."};
	uint8_t w[255];
	int n = bsh_name(names[st.range(0)], w);
	for (auto _ : st) {
		uint32_t h = bsh_name_hash(w, static_cast<size_t>(n));
		benchmark::DoNotOptimize(h);
	}
	st.SetLabel(std::to_string(n) + " bytes");
	st.SetItemsProcessed(static_cast<int64_t>(st.iterations()));
}
BENCHMARK(BM_NameHash)->Arg(0)->Arg(1);

// Hash + probe of the snapshot's name table with range(0) names, cycling
// through all of them (in a random order) so large tables miss the cache as
// a real query stream does. range(1): 1 = names exist, 0 = they do not.
void BM_Lookup(benchmark::State &st)
{
	unsigned hosts = static_cast<unsigned>(st.range(0));
	bool hit = st.range(1) != 0;
	static Engine big[8];
	static unsigned big_n[8];
	int slot = 0;
	while (slot < 7 && big[slot] && big_n[slot] != hosts)
		slot++;
	if (!big[slot]) {
		big[slot].reset(bsh_engine_builtin(1, hosts));
		big_n[slot] = hosts;
		if (!big[slot]) {
			st.SkipWithError(bsh_error());
			return;
		}
	}
	bsh_engine *e = big[slot].get();
	const unsigned nnames = hosts < 65536 ? hosts : 65536;
	std::vector<uint8_t> names(static_cast<size_t>(nnames) * 32);
	std::vector<uint8_t> lens(nnames);
	uint64_t x = 88172645463325252ull;
	for (unsigned i = 0; i < nnames; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint8_t *w = &names[static_cast<size_t>(i) * 32];
		int n = bsh_host_name(static_cast<unsigned>(x % hosts), w);
		if (!hit)
			w[1] = 'x'; // "x123.hosts.example": same shape, absent
		lens[i] = static_cast<uint8_t>(n);
	}
	unsigned i = 0;
	for (auto _ : st) {
		uint32_t id = bsh_find(e, &names[static_cast<size_t>(i) * 32], lens[i]);
		benchmark::DoNotOptimize(id);
		if (++i == nnames)
			i = 0;
	}
	st.SetItemsProcessed(static_cast<int64_t>(st.iterations()));
}
BENCHMARK(BM_Lookup)->Args({1000, 1})->Args({1000, 0})->Args({1000000, 1})->Args({1000000, 0});

// dp/pkt.c: classify a query frame (Ethernet/IPv4 or IPv6, software checksum).
void BM_DpClassify(benchmark::State &st)
{
	bsh_dp *d = bsh_dp_new();
	uint8_t q[512], f[2048];
	size_t ql = bsh_query(q, sizeof(q), "www.bench.example.", 1, 1);
	size_t fl = bsh_dp_frame(f, sizeof(f), static_cast<int>(st.range(0)),
				 static_cast<int>(st.range(1)), q, ql);
	if (!bsh_dp_classify(d, f, fl)) {
		st.SkipWithError("frame not classified as DNS");
		bsh_dp_free(d);
		return;
	}
	for (auto _ : st) {
		int r = bsh_dp_classify(d, f, fl);
		benchmark::DoNotOptimize(r);
	}
	st.SetItemsProcessed(static_cast<int64_t>(st.iterations()));
	bsh_dp_free(d);
}
BENCHMARK(BM_DpClassify)->Args({4, -1})->Args({6, -1})->Args({4, 100});

// The data-plane path per frame: copy the query frame into the buffer (what
// the NIC's DMA does), classify, answer in place, build reply headers.
void BM_DpAnswer(benchmark::State &st)
{
	bsh_dp *d = bsh_dp_new();
	bsh_engine *e = engine(true);
	uint8_t q[512], f0[2048], f[2048];
	size_t ql = bsh_query(q, sizeof(q), "www.bench.example.", 1, 1);
	size_t fl = bsh_dp_frame(f0, sizeof(f0), static_cast<int>(st.range(0)), -1, q, ql);
	for (auto _ : st) {
		__builtin_memcpy(f, f0, fl);
		size_t n = bsh_dp_answer(d, e, f, fl, sizeof(f));
		benchmark::DoNotOptimize(n);
		benchmark::ClobberMemory();
	}
	st.SetItemsProcessed(static_cast<int64_t>(st.iterations()));
	bsh_dp_free(d);
}
BENCHMARK(BM_DpAnswer)->Arg(4)->Arg(6);

} // namespace

BENCHMARK_MAIN();
