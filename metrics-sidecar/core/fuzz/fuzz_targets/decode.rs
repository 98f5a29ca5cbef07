//! Fuzz target: any bytes, as a single frame and as a batch frame. The decoder
//! must never panic (a panic here is a crash; in the sidecar it would cost the
//! frame as `internal_error`), and whatever it accepts must be a JSON object of
//! the right type by an independent parser (serde_json) with a finite,
//! non-negative normalised time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metrics_sidecar_core::event::{decode, decode_batch, Event, Kind, Rules};

/// A stand-in for timestamps.normalize_ts: "<digits>Z" is that many seconds.
fn iso(text: &str) -> Result<Option<f64>, ()> {
    Ok(text
        .strip_suffix('Z')
        .and_then(|digits| digits.parse::<u32>().ok())
        .map(f64::from))
}

fn check(frame: &[u8], event: &Event<'_>) {
    assert!(
        event.ts_s.is_finite() && event.ts_s >= 0.0,
        "ts_s {} from {frame:?}",
        event.ts_s
    );
    let parsed: serde_json::Value =
        serde_json::from_slice(frame).unwrap_or_else(|e| panic!("{e}: {frame:?}"));
    let kind = match event.kind {
        Kind::Trade => "trade",
        Kind::Tick => "tick",
        Kind::Heartbeat => "heartbeat",
    };
    assert_eq!(
        parsed.get("type").and_then(|t| t.as_str()),
        Some(kind),
        "{frame:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let rules = Rules::example();
    if let Ok(event) = decode(data, &rules, &iso) {
        check(data, &event);
    }
    let results = decode_batch(data, &rules, &iso);
    assert!(!results.is_empty());
    if results.iter().any(Result::is_ok) {
        assert!(
            serde_json::from_slice::<serde_json::Value>(data).is_ok_and(|v| v.is_array()),
            "{data:?}"
        );
    }
});
