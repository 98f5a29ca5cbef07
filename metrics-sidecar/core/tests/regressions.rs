//! The decoder's verdicts on frames worth keeping: the reason order, exact
//! values, and every input the fuzzer ever crashed on (none so far; add each
//! crash here, with the reason it must get, before fixing it).

use _core::event::{decode, decode_batch, Event, Reason, Rules, Seq, Ts};

fn iso(text: &str) -> Result<Option<f64>, ()> {
    Ok(if text == "2023-11-14T22:13:20Z" {
        Some(1_700_000_000.0)
    } else {
        None
    })
}

fn verdict(frame: &[u8]) -> Result<Event<'_>, Reason> {
    decode(frame, &Rules::example(), &iso)
}

fn reason(frame: &[u8]) -> Option<Reason> {
    verdict(frame).err()
}

const TRADE: &str = r#"{"type":"trade","side":"buy","qty":1,"ts":1700000000"#;

#[test]
fn the_first_problem_in_the_frame_decides() {
    let cases: &[(&[u8], Reason)] = &[
        (b"{\"type\":\"trade\",\"x\":\"\xff\"}", Reason::BadJson),
        (br#"{"type":"trade","qty":1e400,"y":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#, Reason::TooDeep),
        (br#"{"a":1,"a":2,"b":1e400}"#, Reason::NonFinite),
        (br#"{"a":{"b":1,"b":2},"c":1e400}"#, Reason::DuplicateKey),
        (br#"{"type":"trade","qty":"x","qty":"y"}"#, Reason::DuplicateKey),
        (br#"{"type":"trade","side":"buy","qty":1,"ts":1} x"#, Reason::BadJson),
        (br#"[{"type":"trade"}]"#, Reason::NotObject),
        (br#"{"type":"order","qty":"x"}"#, Reason::UnknownType),
        (br#"{"type":"trade","ts":null,"qty":"x","side":"buy"}"#, Reason::BadTimestamp),
        (br#"{"type":"trade","qty":"x","ts":null,"side":"buy"}"#, Reason::BadField),
        (br#"{"type":"trade","qty":1,"ts":"words"}"#, Reason::MissingField),
        (br#"{"type":"trade","side":"buy","qty":1,"ts":"words"}"#, Reason::BadTimestamp),
        (br#"{"type":"heartbeat","ts":1e15}"#, Reason::BadTimestamp),
        (br#"{"type":"heartbeat","ts":1,"seq":9223372036854775808}"#, Reason::BadField),
        (br#"{"type":"heartbeat","ts":1,"sent_ts":1e11}"#, Reason::BadField),
        (br#"{"type":"tick","symbol":"A","price":1e12,"volume":1e15,"ts":1,"ask":1000000000001}"#, Reason::BadField),
    ];
    for (frame, expected) in cases {
        assert_eq!(
            reason(frame),
            Some(*expected),
            "{}",
            String::from_utf8_lossy(frame)
        );
    }
}

#[test]
fn an_accepted_frame_is_normalised_exactly() {
    let frame = format!(r#"{TRADE},"seq":9223372036854775807,"symbol":"X:Y/Z","price":0.1}}"#);
    let event = verdict(frame.as_bytes());
    let event = event.expect("a valid trade");
    assert_eq!(
        (event.qty, event.ts_s, event.price),
        (1.0, 1_700_000_000.0, Some(0.1))
    );
    assert_eq!(event.seq, Some(Seq::Small(i64::MAX as u64)));
    assert_eq!(event.symbol.as_deref(), Some("X:Y/Z"));
    let tick = verdict(br#"{"type":"tick","symbol":"A","price":2,"ts":"2023-11-14T22:13:20Z"}"#)
        .expect("a tick");
    assert_eq!(
        (tick.volume, &*tick.source, tick.ts_s),
        (0.0, "unknown", 1_700_000_000.0)
    );
    assert_eq!(tick.ts, Ts::Text("2023-11-14T22:13:20Z".into()));
    let millis = verdict(br#"{"type":"heartbeat","ts":1700000000123}"#).expect("a heartbeat");
    assert_eq!(millis.ts_s, 1_700_000_000.123);
}

#[test]
fn a_batch_judges_each_element_alone() {
    let frame = br#"[{"type":"heartbeat","ts":1}, 2, {"type":"heartbeat"}, {"a":1,"a":1}]"#;
    let results: Vec<_> = decode_batch(frame, &Rules::example(), &iso)
        .into_iter()
        .map(|r| r.err())
        .collect();
    assert_eq!(
        results,
        [
            None,
            Some(Reason::NotObject),
            Some(Reason::MissingField),
            Some(Reason::DuplicateKey)
        ]
    );
    for (frame, expected) in [
        (&b"[]"[..], Reason::NotObject),
        (b"{}", Reason::NotObject),
        (b"[1,", Reason::BadJson),
    ] {
        assert_eq!(
            decode_batch(frame, &Rules::example(), &iso)
                .into_iter()
                .map(|r| r.err())
                .collect::<Vec<_>>(),
            [Some(expected)]
        );
    }
}

#[test]
fn a_failing_time_normaliser_is_an_internal_error() {
    let broken = |_: &str| Err(());
    let frame = br#"{"type":"heartbeat","ts":"2023-11-14T22:13:20Z"}"#;
    assert_eq!(
        decode(frame, &Rules::example(), &broken).err(),
        Some(Reason::InternalError)
    );
}
