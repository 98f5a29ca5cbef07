//! The text exposition of the hop families, written by the core with the same
//! bytes the Python writer (`textformat.py`) produces: values as Python's
//! `repr(float)`, labels in name order, OpenMetrics counter families named
//! without `_total`, exemplars on the hop buckets when `openmetrics`. The
//! text format's primitives are `text::format` (re-exported here).

pub mod format;

pub use format::{
    escape_label, family, fmt_value, py_repr, write_labels, write_sample, Label, LineTemplate,
};

use crate::hops::{quantile, HopSet, HOPS, KINDS};

/// OpenMetrics: label names and values of one exemplar, together.
pub const EXEMPLAR_MAX_CHARS: usize = 128;

/// An exemplar's identity: (label name, value) pairs, first dropped first.
pub struct Exemplar {
    pub pairs: Vec<(&'static str, String)>,
    pub timestamp: f64,
}

/// ` # {labels} value timestamp`; leading pairs dropped while the label set is
/// over 128 characters (nothing when none fits).
fn write_exemplar(exemplar: &Exemplar, value: f64, out: &mut String) {
    let mut pairs = exemplar.pairs.as_slice();
    let chars = |pairs: &[(&str, String)]| -> usize {
        pairs
            .iter()
            .map(|(n, v)| n.chars().count() + v.chars().count())
            .sum()
    };
    while !pairs.is_empty() && chars(pairs) > EXEMPLAR_MAX_CHARS {
        pairs = pairs.get(1..).unwrap_or_default();
    }
    if pairs.is_empty() {
        return;
    }
    out.push_str(" # ");
    write_labels(out, pairs.iter().map(|(n, v)| (*n, v.as_str())));
    out.push(' ');
    fmt_value(value, out);
    out.push(' ');
    fmt_value(exemplar.timestamp, out);
}

fn sample(out: &mut String, name: &str, pairs: &[(&str, &str)], value: f64) {
    write_sample(out, name, pairs.iter().copied(), value);
}

/// `_bucket` per bound (cumulative, then +Inf), `_count` and `_sum`. `pairs`:
/// the labels that sort before `le`, then those after it.
#[allow(clippy::too_many_arguments)]
fn histogram(
    out: &mut String,
    name: &str,
    before_le: &[(&str, &str)],
    after_le: &[(&str, &str)],
    les: &[String],
    counts: &[u64],
    sum: f64,
    exemplars: Option<&[Option<(Exemplar, f64)>]>,
) {
    let mut running: u64 = 0;
    let bucket = format!("{name}_bucket");
    for (i, (le, n)) in les.iter().zip(counts).enumerate() {
        running = running.saturating_add(*n);
        out.push_str(&bucket);
        let le_pair = std::iter::once(("le", le.as_str()));
        write_labels(
            out,
            before_le
                .iter()
                .copied()
                .chain(le_pair)
                .chain(after_le.iter().copied()),
        );
        out.push(' ');
        fmt_value(running as f64, out);
        if let Some(Some((exemplar, value))) = exemplars.and_then(|e| e.get(i)) {
            write_exemplar(exemplar, *value, out);
        }
        out.push('\n');
    }
    let pairs = || before_le.iter().chain(after_le).copied();
    write_sample(out, &format!("{name}_count"), pairs(), running as f64);
    write_sample(out, &format!("{name}_sum"), pairs(), sum);
}

/// The `le` label of each bucket: the bound's repr, then "+Inf".
pub fn le_labels(bounds: &[f64]) -> Vec<String> {
    let mut les: Vec<String> = bounds
        .iter()
        .map(|b| {
            let mut s = String::new();
            py_repr(*b, &mut s);
            s
        })
        .collect();
    les.push("+Inf".to_owned());
    les
}

/// The quantiles of `hop_latency_recent_seconds`, with their label text.
pub const QUANTILES: [(f64, &str); 4] = [
    (0.5, "0.5"),
    (0.95, "0.95"),
    (0.99, "0.99"),
    (0.999, "0.999"),
];

/// trade_latency_seconds, hop_latency_seconds (with exemplars when
/// `openmetrics`), hop_latency_recent_seconds, hop_latency_negative_total and
/// hop_latency_max_seconds. `clocks[kind * 4 + hop]`: "same" or "cross";
/// `exemplar(x)`: the identity of a stored exemplar. Hops that never had a
/// sample are left out, in (hop, type) name order, as before.
pub fn write_hop_families<X: Clone>(
    set: &HopSet<X>,
    clocks: &[String],
    openmetrics: bool,
    exemplar: impl Fn(&X) -> Exemplar,
    out: &mut String,
) {
    let les = le_labels(&set.bounds);
    family(
        out,
        "trade_latency_seconds",
        "histogram",
        "Sidecar receive time minus trade ts",
        openmetrics,
    );
    let trade = &set.trade_latency;
    histogram(
        out,
        "trade_latency_seconds",
        &[],
        &[],
        &les,
        &trade.counts,
        trade.sum,
        None,
    );

    // (hop, kind) in name order, with data.
    let mut series: Vec<(usize, usize)> = (0..HOPS.len())
        .flat_map(|hop| (0..KINDS.len()).map(move |kind| (hop, kind)))
        .filter(|(hop, kind)| set.hop(*hop, *kind).is_ok_and(|h| h.count > 0))
        .collect();
    series.sort_by_key(|(hop, kind)| (HOPS.get(*hop), KINDS.get(*kind)));
    let name_of = |hop: usize, kind: usize| {
        (
            HOPS.get(hop).copied().unwrap_or(""),
            KINDS.get(kind).copied().unwrap_or(""),
            clocks
                .get(kind * HOPS.len() + hop)
                .map(String::as_str)
                .unwrap_or(""),
        )
    };

    family(
        out,
        "hop_latency_seconds",
        "histogram",
        "Latency of each hop (event, send, receive, apply), by message type",
        openmetrics,
    );
    for &(hop, kind) in &series {
        let Ok(h) = set.hop(hop, kind) else { continue };
        let (hop_name, kind_name, clock) = name_of(hop, kind);
        let exemplars: Option<Vec<Option<(Exemplar, f64)>>> = openmetrics.then(|| {
            h.exemplars
                .iter()
                .map(|kept| kept.as_ref().map(|(x, value)| (exemplar(x), *value)))
                .collect()
        });
        histogram(
            out,
            "hop_latency_seconds",
            &[("clock", clock), ("hop", hop_name)],
            &[("type", kind_name)],
            &les,
            &h.counts,
            h.sum,
            exemplars.as_deref(),
        );
    }

    // A summary, not a gauge: a `quantile` label is reserved for summaries.
    // Quantiles are exact over the recent samples; _count/_sum are cumulative.
    family(
        out,
        "hop_latency_recent_seconds",
        "summary",
        "Exact quantile of the most recent samples of each hop",
        openmetrics,
    );
    for &(hop, kind) in &series {
        let Ok(h) = set.hop(hop, kind) else { continue };
        let (hop_name, kind_name, _) = name_of(hop, kind);
        let mut values = h.ring.as_ref().map(|r| r.samples()).unwrap_or_default();
        values.sort_by(f64::total_cmp);
        for (q, q_text) in QUANTILES {
            sample(
                out,
                "hop_latency_recent_seconds",
                &[("hop", hop_name), ("quantile", q_text), ("type", kind_name)],
                quantile(&values, q),
            );
        }
        let pair = [("hop", hop_name), ("type", kind_name)];
        sample(
            out,
            "hop_latency_recent_seconds_count",
            &pair,
            h.count as f64,
        );
        sample(out, "hop_latency_recent_seconds_sum", &pair, h.sum);
    }

    family(
        out,
        "hop_latency_negative_total",
        "counter",
        "Hop samples that came out negative (clock skew); observed as 0 in the histogram",
        openmetrics,
    );
    for &(hop, kind) in &series {
        let (hop_name, kind_name, clock) = name_of(hop, kind);
        let n = set
            .negative(kind)
            .ok()
            .and_then(|counts| counts.get(hop).copied())
            .unwrap_or(0);
        sample(
            out,
            "hop_latency_negative_total",
            &[("clock", clock), ("hop", hop_name), ("type", kind_name)],
            n as f64,
        );
    }
    family(
        out,
        "hop_latency_max_seconds",
        "gauge",
        "Largest sample of each hop over the last 15-30 s",
        openmetrics,
    );
    for &(hop, kind) in &series {
        let Some(top) = set.hop(hop, kind).ok().and_then(|h| h.window_max()) else {
            continue;
        };
        let (hop_name, kind_name, clock) = name_of(hop, kind);
        sample(
            out,
            "hop_latency_max_seconds",
            &[("clock", clock), ("hop", hop_name), ("type", kind_name)],
            top,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_exemplars_fit_128_chars() {
        let mut s = String::new();
        escape_label("a\"b\\c\nd", &mut s);
        assert_eq!(s, "a\\\"b\\\\c\\nd");
        let long = Exemplar {
            pairs: vec![("producer", "p".to_owned()), ("event_id", "e".repeat(120))],
            timestamp: 2.0,
        };
        let mut s = String::new();
        write_exemplar(&long, 0.5, &mut s);
        assert_eq!(
            s,
            format!(" # {{event_id=\"{}\"}} 0.5 2.0", "e".repeat(120))
        );
        let none = Exemplar {
            pairs: vec![("event_id", "e".repeat(130))],
            timestamp: 2.0,
        };
        let mut s = String::new();
        write_exemplar(&none, 0.5, &mut s);
        assert_eq!(s, "");
    }

    #[test]
    fn a_hop_writes_buckets_summary_negative_and_max() {
        let mut set: HopSet<u32> = HopSet::new(vec![0.5], 8, 1e11);
        set.observe_event(2, 100.0, None, 100.0, 100.25, &7).ok();
        let clocks: Vec<String> = (0..12).map(|_| "same".to_owned()).collect();
        let mut out = String::new();
        write_hop_families(
            &set,
            &clocks,
            true,
            |x| Exemplar {
                pairs: vec![("seq", x.to_string())],
                timestamp: 100.0,
            },
            &mut out,
        );
        assert!(out.contains(
            "hop_latency_seconds_bucket{clock=\"same\",hop=\"receive_to_apply\",le=\"0.5\",type=\"heartbeat\"} 1.0 # {seq=\"7\"} 0.25 100.0\n"
        ));
        assert!(out.contains(
            "hop_latency_recent_seconds{hop=\"event_to_apply\",quantile=\"0.999\",type=\"heartbeat\"} 0.25\n"
        ));
        assert!(out.contains(
            "hop_latency_negative_total{clock=\"same\",hop=\"event_to_apply\",type=\"heartbeat\"} 0.0\n"
        ));
        assert!(out.contains("# TYPE hop_latency_negative counter\n"));
        assert!(out.contains(
            "hop_latency_max_seconds{clock=\"same\",hop=\"receive_to_apply\",type=\"heartbeat\"} 0.25\n"
        ));
        assert!(out.contains("trade_latency_seconds_bucket{le=\"+Inf\"} 0.0\n"));
        assert!(!out.contains("type=\"trade\""));
    }
}
