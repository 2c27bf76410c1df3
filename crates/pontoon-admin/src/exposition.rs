//! The parts of `GET /metrics` written as Prometheus text directly rather than through the
//! `metrics` facade: the latency histograms (already bucketed by the services, which the
//! facade cannot take: its histograms keep every sample until the next scrape) and the
//! standard `process_*` metrics (CPU seconds are a fractional counter, which the facade's
//! integer counters cannot carry). The figures come from `pontoon_core::latency` and the
//! `metrics-process` crate's collector; this file only writes them out.

use std::fmt::Write;

use pontoon_core::latency::LatencySnapshot;

/// One labelled series of a histogram: `(labels, counts)`, labels as `(name, value)`.
pub(crate) type Series<'a> = (Vec<(&'static str, &'a str)>, LatencySnapshot);

/// Writes `name` as a Prometheus histogram with one set of buckets per series.
pub(crate) fn histogram(out: &mut String, name: &str, help: &str, series: &[Series<'_>]) {
    header(out, name, help, "histogram");
    for (labels, snap) in series {
        let labels = label_text(labels);
        let sep = if labels.is_empty() { "" } else { "," };
        for (le, n) in snap.cumulative() {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {n}");
        }
        let count = snap.count();
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", snap.sum_seconds());
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// The process's own figures, read from the system (on Linux, `/proc/self`). Blocking
/// reads: call it off the async runtime's threads.
pub(crate) fn collect_process() -> metrics_process::collector::Metrics {
    metrics_process::collector::collect()
}

/// Writes the standard process metrics (the names every Prometheus client library uses),
/// those the system gave.
pub(crate) fn process(out: &mut String, m: &metrics_process::collector::Metrics) {
    let mut one = |name: &str, help: &str, kind: &str, value: Option<f64>| {
        if let Some(v) = value {
            header(out, name, help, kind);
            let _ = writeln!(out, "{name} {v}");
        }
    };
    #[allow(clippy::cast_precision_loss)] // byte and fd counts far below 2^53
    let f = |v: Option<u64>| v.map(|v| v as f64);
    one(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
        "counter",
        m.cpu_seconds_total,
    );
    one(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        "gauge",
        f(m.resident_memory_bytes),
    );
    one(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        "gauge",
        f(m.virtual_memory_bytes),
    );
    one(
        "process_open_fds",
        "Number of open file descriptors.",
        "gauge",
        f(m.open_fds),
    );
    one(
        "process_max_fds",
        "Maximum number of open file descriptors (0: unlimited).",
        "gauge",
        f(m.max_fds),
    );
    one(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        "gauge",
        f(m.start_time_seconds),
    );
    one(
        "process_threads",
        "Number of OS threads in the process.",
        "gauge",
        f(m.threads),
    );
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `a="x",b="y"`, values escaped as the text format asks.
fn label_text(labels: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let v = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(s, "{k}=\"{v}\"");
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use pontoon_core::latency::LatencyHistogram;

    use super::*;

    #[test]
    fn a_histogram_is_written_as_prometheus_reads_it() {
        let h = LatencyHistogram::default();
        h.record(Duration::from_micros(300));
        h.record(Duration::from_millis(3));
        h.record(Duration::from_secs(100));
        let mut out = String::new();
        histogram(
            &mut out,
            "x_seconds",
            "Help.",
            &[(
                vec![("transport", "i\"rc"), ("direction", "to_xmpp")],
                h.snapshot(),
            )],
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "# HELP x_seconds Help.");
        assert_eq!(lines[1], "# TYPE x_seconds histogram");
        assert_eq!(
            lines[2],
            r#"x_seconds_bucket{transport="i\"rc",direction="to_xmpp",le="0.0005"} 1"#
        );
        assert!(out.contains(r#"le="0.005"} 2"#), "{out}");
        assert!(out.contains(r#"le="30"} 2"#), "{out}");
        assert!(out.contains(r#"le="+Inf"} 3"#), "{out}");
        assert!(
            out.contains(r#"x_seconds_count{transport="i\"rc",direction="to_xmpp"} 3"#),
            "{out}"
        );
        let sum: f64 = out
            .lines()
            .find(|l| l.starts_with("x_seconds_sum"))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!((sum - 100.0033).abs() < 1e-6, "{sum}");
    }

    #[test]
    fn the_process_metrics_are_read_and_written() {
        let m = collect_process();
        let mut out = String::new();
        process(&mut out, &m);
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
            "process_threads",
        ] {
            assert!(out.contains(&format!("\n{name} ")), "{name} in {out}");
        }
        assert!(out.contains("# TYPE process_cpu_seconds_total counter"));
        assert!(m.resident_memory_bytes.unwrap() > 0);
        assert!(m.open_fds.unwrap() > 0);
    }
}
