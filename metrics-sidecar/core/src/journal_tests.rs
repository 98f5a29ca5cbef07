//! The core records round-trip every field exactly, and a buffer cut short or
//! holding a record this version does not write is read up to it, never misread.

use super::*;
use crate::event::{decode, Rules};

fn iso(text: &str) -> Result<Option<f64>, ()> {
    Ok(text.strip_suffix('Z').map(|_| 1_700_000_000.5))
}

const FRAMES: [&str; 5] = [
    r#"{"type":"trade","side":"sell","qty":2.5,"ts":1700000000.25,"symbol":"BTC-USD","price":101.5,"producer":"p","instance":"i","seq":9223372036854775807,"sent_ts":1700000000.3,"event_id":"e-1"}"#,
    r#"{"type":"trade","side":"buy","qty":1,"ts":1700000000}"#,
    r#"{"type":"tick","symbol":"ETH","price":3.25,"volume":7,"ts":"2023-11-14T22:13:20.5Z","source":"sim","bid":3.2,"ask":3.3}"#,
    r#"{"type":"tick","symbol":"ETH","price":3.25,"ts":1700000000123}"#,
    r#"{"type":"heartbeat","ts":1700000000,"producer":"q","seq":7}"#,
];

fn events(rules: &Rules) -> Vec<Event<'static>> {
    FRAMES
        .iter()
        .map(|frame| decode(frame.as_bytes(), rules, &iso).unwrap_or_else(|r| panic!("{r:?}")))
        .collect()
}

fn written(rules: &Rules) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, event) in events(rules).iter().enumerate() {
        let t = i as f64;
        assert!(write_event(&mut out, event, 10.0 + t, 20.0 + t));
        write_reject(&mut out, "bad_json");
    }
    out
}

#[test]
fn every_field_round_trips_exactly() {
    let rules = Rules::example();
    let out = written(&rules);
    let records: Vec<_> = read(&out).collect();
    assert_eq!(records.len(), 2 * FRAMES.len());
    for (i, event) in events(&rules).into_iter().enumerate() {
        let t = i as f64;
        let expected = Record::Event {
            event,
            recv: 10.0 + t,
            applied: 20.0 + t,
        };
        assert_eq!(records[2 * i], Ok(expected));
        assert_eq!(records[2 * i + 1], Ok(Record::Reject("bad_json")));
    }
}

#[test]
fn a_buffer_cut_anywhere_reads_every_whole_record_then_one_torn_one() {
    let rules = Rules::example();
    let out = written(&rules);
    let whole: Vec<_> = read(&out).collect();
    let mut ends = vec![];
    let mut at = 0;
    while at < out.len() {
        let length = u32::from_le_bytes([out[at + 1], out[at + 2], out[at + 3], out[at + 4]]);
        at += HEADER + length as usize;
        ends.push(at);
    }
    for cut in 0..out.len() {
        let records: Vec<_> = read(&out[..cut]).collect();
        let complete = ends.iter().filter(|&&end| end <= cut).count();
        assert_eq!(records[..complete], whole[..complete], "cut at {cut}");
        let last_end = if complete == 0 { 0 } else { ends[complete - 1] };
        if cut > last_end {
            assert_eq!(records.len(), complete + 1);
            assert_eq!(records[complete], Err(Unreadable::Torn(cut - last_end)));
        } else {
            assert_eq!(records.len(), complete);
        }
    }
}

#[test]
fn a_record_this_version_does_not_write_is_passed_over() {
    let rules = Rules::example();
    let mut out = vec![9, 3, 0, 0, 0, 1, 2, 3]; // an unknown tag, whole
    out.extend_from_slice(&[EVENT, 2, 0, 0, 0, 0, 0]); // an event too short for its fields
    write_reject(&mut out, "stale");
    let event = &events(&rules)[0];
    let start = out.len();
    assert!(write_event(&mut out, event, 1.0, 2.0));
    out[start + HEADER] = 7; // a kind no version writes
    write_reject(&mut out, "overflow");
    let records: Vec<_> = read(&out).collect();
    assert_eq!(
        records,
        vec![
            Err(Unreadable::Bad),
            Err(Unreadable::Bad),
            Ok(Record::Reject("stale")),
            Err(Unreadable::Bad),
            Ok(Record::Reject("overflow")),
        ]
    );
}

#[test]
fn trailing_bytes_inside_an_event_record_make_it_bad() {
    let rules = Rules::example();
    let mut out = Vec::new();
    assert!(write_event(&mut out, &events(&rules)[1], 1.0, 2.0));
    out.push(0);
    let length = u32::from_le_bytes([out[1], out[2], out[3], out[4]]) + 1;
    out[1..5].copy_from_slice(&length.to_le_bytes());
    assert_eq!(read(&out).collect::<Vec<_>>(), vec![Err(Unreadable::Bad)]);
}

#[test]
fn a_seq_beyond_u64_is_not_recorded() {
    let rules = Rules::example();
    let mut event = events(&rules)[0].clone();
    event.seq = Some(Seq::Big("18446744073709551616".into()));
    let mut out = vec![1, 2, 3];
    assert!(!write_event(&mut out, &event, 1.0, 2.0));
    assert_eq!(out, vec![1, 2, 3]);
}
