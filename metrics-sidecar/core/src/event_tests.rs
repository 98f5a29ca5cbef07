//! The one-pass decoder against the two-pass rule it replaced (depth scan,
//! then parse), on every fixture, the fuzz corpus and variants of them: the
//! same verdict, reason and values for each.

use super::*;
use std::path::Path;

fn iso(text: &str) -> Result<Option<f64>, ()> {
    Ok(text
        .strip_suffix('Z')
        .and_then(|d| d.parse::<u32>().ok())
        .map(f64::from))
}

/// The decoder as it was: a depth pass over every frame, then the parse.
fn reference<'a>(frame: &'a [u8], rules: &Rules) -> Result<Event<'a>, Reason> {
    let text = std::str::from_utf8(frame).map_err(|_| Reason::BadJson)?;
    if nesting_deeper_than(frame, rules.max_depth) {
        return Err(Reason::TooDeep);
    }
    event_from(json::parse(text, true)?, rules, &iso)
}

fn reference_batch<'a>(frame: &'a [u8], rules: &Rules) -> Vec<Result<Event<'a>, Reason>> {
    let Ok(text) = std::str::from_utf8(frame) else {
        return vec![Err(Reason::BadJson)];
    };
    match json::split_array(text) {
        Err(problem) => vec![Err(problem.into())],
        Ok(None) => vec![Err(Reason::NotObject)],
        Ok(Some(items)) if items.is_empty() => vec![Err(Reason::NotObject)],
        Ok(Some(items)) => items
            .into_iter()
            .map(|item| match item.object {
                None => Err(Reason::NotObject),
                Some(_) if nesting_deeper_than(item.text.as_bytes(), rules.max_depth) => {
                    Err(Reason::TooDeep)
                }
                Some(parsed) => event_from(parsed?, rules, &iso),
            })
            .collect(),
    }
}

fn files(dir: &Path, out: &mut Vec<Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push(bytes);
        }
    }
}

/// A frame and variants of it: cut short, wrapped, nested deeper, repeated.
fn variants(frame: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![frame.to_vec()];
    if frame.len() > 2000 {
        return out;
    }
    for cut in [1, 2, frame.len() / 2] {
        out.push(frame[..frame.len().saturating_sub(cut)].to_vec());
    }
    out.push([b"[", frame, b",", frame, b"]"].concat());
    for levels in [30, 31, 32, 33, 40] {
        let nested = [vec![b'['; levels], frame.to_vec(), vec![b']'; levels]].concat();
        out.push(
            [
                b"{\"type\":\"heartbeat\",\"ts\":1,\"x\":",
                &nested[..],
                b"}",
            ]
            .concat(),
        );
        out.push([b"[", &nested[..], b"]"].concat());
        let unclosed = [b"{\"x\":", &vec![b'['; levels][..], frame].concat();
        out.push(unclosed);
    }
    out
}

#[test]
fn one_pass_and_two_pass_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut frames = Vec::new();
    files(&root.join("../../testdata/messages"), &mut frames);
    files(&root.join("fuzz/corpus-min"), &mut frames);
    assert!(frames.len() > 100, "fixtures not found under {root:?}");
    frames.extend(
        [
            &b"{\"type\":\"heartbeat\",\"ts\":1,\"a\":1e999,\"b\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"[..],
            b"{\"type\":\"heartbeat\",\"ts\":1,\"a\":1,\"a\":2,\"b\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
            b"[{\"type\":\"heartbeat\",\"ts\":1,\"a\":1e999,\"b\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}]",
            b"\"\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        ]
        .map(<[u8]>::to_vec),
    );
    for deep in [1001, 2000] {
        frames.push(vec![b'['; deep]);
        frames.push([vec![b'['; deep], vec![b']'; deep]].concat());
    }
    let rules = Rules::example();
    let mut checked = 0;
    for frame in &frames {
        for variant in variants(frame) {
            assert_eq!(
                decode(&variant, &rules, &iso),
                reference(&variant, &rules),
                "{:?}",
                String::from_utf8_lossy(&variant)
            );
            assert_eq!(
                decode_batch(&variant, &rules, &iso),
                reference_batch(&variant, &rules),
                "{:?}",
                String::from_utf8_lossy(&variant)
            );
            checked += 1;
        }
    }
    assert!(checked > 1000);
}
