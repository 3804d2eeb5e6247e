# summary.awk: turns the key=value lines of test/bench/run.sh into the Markdown tables of BENCHMARKS.md.
#
# Each cell is the median over the repetitions, with the lowest and the
# highest in parentheses. Written for any POSIX awk (mawk has no asort).

function add(key, val) {
	n[key]++
	v[key, n[key]] = val
}

# Sorts the values of key in place (insertion sort: a handful of values).
function sortkey(key,    i, j, t) {
	for (i = 2; i <= n[key]; i++) {
		t = v[key, i]
		for (j = i - 1; j >= 1 && v[key, j] > t; j--)
			v[key, j + 1] = v[key, j]
		v[key, j + 1] = t
	}
}

function med(key,    m) {
	m = n[key]
	if (!m)
		return ""
	sortkey(key)
	if (m % 2)
		return v[key, (m + 1) / 2]
	return (v[key, m / 2] + v[key, m / 2 + 1]) / 2
}

function fmt(x) {
	if (x == "")
		return "-"
	if (x >= 10000)
		return sprintf("%.0f", x)
	if (x >= 100)
		return sprintf("%.0f", x)
	if (x >= 10)
		return sprintf("%.1f", x)
	return sprintf("%.2f", x)
}

# "median (min-max)"
function cell(key,    m) {
	m = med(key)
	if (m == "")
		return "-"
	return fmt(m) " (" fmt(v[key, 1]) "-" fmt(v[key, n[key]]) ")"
}

{
	delete f
	for (i = 2; i <= NF; i++) {
		split($i, kv, "=")
		f[kv[1]] = kv[2]
	}
}

$1 == "auth" {
	k = f["mode"] SUBSEP f["drivers"] SUBSEP f["target"]
	add(k SUBSEP "rate", f["rate"])
	add(k SUBSEP "p50", f["p50_ms"])
	add(k SUBSEP "p99", f["p99_ms"])
	add(k SUBSEP "p999", f["p999_ms"])
	add(k SUBSEP "count", f["count"])
	if (!seen_d[f["drivers"]]++)
		dlist = dlist " " f["drivers"]
	if (f["mode"] == "deny" && f["target"] == "central" &&
	    f["driver_busy"] + 0 != f["denied"] + f["granted"])
		odd_deny++
	if (f["mode"] == "grant" && f["target"] == "central" && f["denied"] + 0 > 0)
		odd_grant++
	stray += f["stray"]
}

$1 == "oneshot" {
	add("one" SUBSEP f["target"] SUBSEP "median", f["median_ms"])
	add("one" SUBSEP f["target"] SUBSEP "mean", f["mean_ms"])
	add("one" SUBSEP f["target"] SUBSEP "min", f["min_ms"])
	add("one" SUBSEP f["target"] SUBSEP "max", f["max_ms"])
	oneruns = f["runs"]
}

$1 == "ingest" || $1 == "bare" || $1 == "ingest_signed" {
	add($1 SUBSEP "rate", f["rate"])
	add($1 SUBSEP "per_cpu", f["rate_per_cpu"])
	add($1 SUBSEP "per_main", f["rate_per_main"])
	add($1 SUBSEP "secs", f["secs"])
	if ($1 == "ingest") {
		ingest_n = f["n"]
		if (f["rss_peak_kib"] > 0)
			add("ingest" SUBSEP "rss", f["rss_peak_kib"] / 1024)
	}
}

$1 == "codec" && NF >= 3 {
	split($3, kv, "=")
	add("codec" SUBSEP $2, kv[2])
}

$1 == "section" {
	loads = loads sprintf("%s%s %s s (load average %s to %s)", loads == "" ? "" : "; ",
		f["name"], f["secs"], f["load_start"], f["load_end"])
}

$1 == "central-stats" {
	stats = stats "\n    " $0
}

function auth_tables(    nd, ds, i, mi, ti, mode, d, t, k, c, e, p, q) {
	print "### 1. Authorisation round trips (ms; median of the repetitions, range in parentheses)"
	print ""
	print "| mix | drivers | server | answers/s | p50 | p99 | p99.9 |"
	print "|---|---:|---|---:|---:|---:|---:|"
	nd = split(dlist, ds, " ")
	for (mi = 1; mi <= 2; mi++) {
		mode = mi == 1 ? "deny" : "grant"
		for (i = 1; i <= nd; i++) {
			d = ds[i]
			for (ti = 1; ti <= 2; ti++) {
				t = ti == 1 ? "central" : "echo"
				k = mode SUBSEP d SUBSEP t
				if (!n[k SUBSEP "p50"])
					continue
				printf "| %s | %s | %s | %s | %s | %s | %s |\n", mode, d,
					t == "echo" ? "echo (baseline)" : "Central", cell(k SUBSEP "rate"),
					cell(k SUBSEP "p50"), cell(k SUBSEP "p99"), cell(k SUBSEP "p999")
			}
		}
	}
	print ""
	print "Against the targets (medians): p99 of Central within 1.5x of the echo's; p50 under 10 ms."
	print ""
	print "| mix | drivers | p99 Central / echo | p99 target | p50 Central | p50 echo | p50 target |"
	print "|---|---:|---:|---|---:|---:|---|"
	for (mi = 1; mi <= 2; mi++) {
		mode = mi == 1 ? "deny" : "grant"
		for (i = 1; i <= nd; i++) {
			d = ds[i]
			c = med(mode SUBSEP d SUBSEP "central" SUBSEP "p99")
			e = med(mode SUBSEP d SUBSEP "echo" SUBSEP "p99")
			p = med(mode SUBSEP d SUBSEP "central" SUBSEP "p50")
			q = med(mode SUBSEP d SUBSEP "echo" SUBSEP "p50")
			if (c == "" || e == "")
				continue
			printf "| %s | %s | %.2f | %s | %s | %s | %s |\n", mode, d, c / e,
				c / e <= 1.5 ? "met" : "missed", fmt(p), fmt(q),
				p < 10 ? "met" : "missed"
		}
	}
	print ""
	if (odd_deny || odd_grant || stray)
		printf "Check: %d deny runs with answers other than driver_busy, %d grant runs with refusals, %d stray answers.\n\n", odd_deny, odd_grant, stray
}

function oneshot_table(    ti, t, k) {
	print "### 4. One-shot `evc auth` (ms per run, process start to exit; " oneruns " runs per repetition)"
	print ""
	print "| against | median | mean | fastest | slowest |"
	print "|---|---:|---:|---:|---:|"
	for (ti = 1; ti <= 2; ti++) {
		t = ti == 1 ? "central" : "echo"
		k = "one" SUBSEP t
		if (!n[k SUBSEP "median"])
			continue
		printf "| %s | %s | %s | %s | %s |\n",
			t == "echo" ? "echo (baseline)" : "Central (driver_busy refusal)",
			cell(k SUBSEP "median"), cell(k SUBSEP "mean"), cell(k SUBSEP "min"),
			cell(k SUBSEP "max")
	}
	print ""
}

function ingest_table(    r, k, c, b, label) {
	print "### 2. Telemetry ingest (" ingest_n " messages per run; messages per second)"
	print ""
	print "| reader | wall clock | per CPU-second, all threads | per CPU-second, main thread | seconds |"
	print "|---|---:|---:|---:|---:|"
	for (r = 1; r <= 3; r++) {
		k = r == 1 ? "ingest" : r == 2 ? "ingest_signed" : "bare"
		if (!n[k SUBSEP "rate"])
			continue
		label = "bare librdkafka consumer"
		if (k == "ingest")
			label = "Central (full processing)"
		if (k == "ingest_signed")
			label = "Central, every message signed and verified"
		printf "| %s | %s | %s | %s | %s |\n", label,
			cell(k SUBSEP "rate"), cell(k SUBSEP "per_cpu"), cell(k SUBSEP "per_main"),
			cell(k SUBSEP "secs")
	}
	c = med("ingest" SUBSEP "rate")
	b = med("bare" SUBSEP "rate")
	if (c != "" && b != "")
		printf "\nCentral / bare consumer (medians, wall clock): %.1f%% (target: at least 50%%); Central per main-thread CPU-second: %s (target: 200000).\n",
			100 * c / b, fmt(med("ingest" SUBSEP "per_main"))
	b = med("ingest_signed" SUBSEP "rate")
	if (c != "" && b != "")
		printf "\nSigned / unsigned (medians): wall clock %.1f%%, per main-thread CPU-second %.1f%% (target: at least 90%%).\n",
			100 * b / c, 100 * med("ingest_signed" SUBSEP "per_main") / med("ingest" SUBSEP "per_main")
	if (n["ingest" SUBSEP "rss"])
		printf "\nCentral's peak resident memory at the end of a run (MiB): %s.\n",
			cell("ingest" SUBSEP "rss")
	print ""
}

function codec_table(    i, op) {
	print "### lib/msg.c codecs alone (ns per message; no Kafka)"
	print ""
	print "| operation | ns per message |"
	print "|---|---:|"
	for (i = 1; i <= 3; i++) {
		op = i == 1 ? "decode" : i == 2 ? "encode" : "init"
		if (n["codec" SUBSEP op])
			printf "| msg_%s | %s |\n", op, cell("codec" SUBSEP op)
	}
	# The keys' share: a CP's MAC, Central's verdict (lib/seal.c, lib/keyring.c).
	for (i = 1; i <= 2; i++) {
		op = i == 1 ? "seal_sign" : "seal_verify"
		if (n["codec" SUBSEP op])
			printf "| %s | %s |\n", op, cell("codec" SUBSEP op)
	}
	print ""
}

END {
	if (loads != "")
		print "Sections: " loads ".\n"
	if (dlist != "")
		auth_tables()
	if (n["one" SUBSEP "central" SUBSEP "median"] || n["one" SUBSEP "echo" SUBSEP "median"])
		oneshot_table()
	if (n["ingest" SUBSEP "rate"])
		ingest_table()
	if (n["codec" SUBSEP "decode"])
		codec_table()
	if (stats != "")
		print "Central's own counts at exit:" stats "\n"
}
