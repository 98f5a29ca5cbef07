//! Unit tests of the JSON reader (json.rs): numbers, strings, splitting, limits.

use super::*;

#[test]
fn decimals_round_as_std_does() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut texts = vec![
        "0.0".to_owned(),
        "-0.0".to_owned(),
        "9007199254740993".to_owned(),
        "9007199254740995.0".to_owned(),
        "18446744073709551615".to_owned(),
        "1765148483.1234567".to_owned(),
        "0.1".to_owned(),
        "1e5".to_owned(),
        "1.5E-3".to_owned(),
    ];
    for _ in 0..200_000 {
        let digits = 1 + (next() % 19) as usize;
        let mut text: String = (0..digits)
            .map(|_| char::from(b'0' + (next() % 10) as u8))
            .collect();
        let point = (next() % (digits as u64 + 1)) as usize;
        if point < digits {
            text.insert(point, '.');
            if point == 0 {
                text.insert(0, '0');
            }
        }
        if next() % 2 == 0 {
            text.insert(0, '-');
        }
        texts.push(text);
    }
    texts.push("12345678901234567890".to_owned()); // 20 digits: std's
    for text in texts {
        let ours = parse_float(&text).map(f64::to_bits);
        let std = text.parse::<f64>().ok().map(f64::to_bits);
        assert_eq!(ours, std, "{text}");
    }
}

#[test]
fn reads_what_json_loads_reads() {
    assert_eq!(
        parse(" {\"a\" : [1, -0.5e3, true, null, \"x\"]}\n", true).map(|_| ()),
        Ok(())
    );
    assert_eq!(
        parse("\"\\ud83d\\ude00\"", true),
        Ok(Value::Str(Cow::Owned("😀".into())))
    );
}

#[test]
fn rejects_what_is_not_json() {
    for text in [
        "",
        "{",
        "{}}",
        "[1,]",
        "{\"a\":1,}",
        "NaN",
        "-Infinity",
        "01",
        "1.",
        "-",
        "1e",
        "\"\\ud800\"",
        "\"\\x\"",
        "\"a\nb\"",
        "tru",
        "{\"a\" 1}",
        "{1:2}",
    ] {
        assert_eq!(parse(text, true), Err(Problem::BadJson), "{text:?}");
    }
}

#[test]
fn hostile_numbers_and_keys_in_reading_order() {
    assert_eq!(parse("[1e400]", true), Err(Problem::NonFinite));
    assert_eq!(parse("[1e400]", false).map(|_| ()), Ok(()));
    assert_eq!(parse(&"9".repeat(MAX_INT_CHARS), true).map(|_| ()), Ok(()));
    assert_eq!(
        parse(&"9".repeat(MAX_INT_CHARS + 1), true),
        Err(Problem::NonFinite)
    );
    assert_eq!(
        parse("{\"a\":1,\"a\":2,\"b\":1e999}", true),
        Err(Problem::NonFinite)
    );
    assert_eq!(
        parse("{\"a\":{\"b\":1,\"b\":1},\"c\":1e999}", true),
        Err(Problem::DuplicateKey)
    );
    assert_eq!(
        parse("{\"qty\":1,\"q\\u0074y\":2}", true),
        Err(Problem::DuplicateKey)
    );
    assert_eq!(
        parse(&"[".repeat(PARSE_DEPTH_LIMIT + 1), true),
        Err(Problem::TooDeep)
    );
    assert_eq!(
        parse(&"[".repeat(PARSE_DEPTH_LIMIT), true),
        Err(Problem::BadJson)
    );
}

#[test]
fn splits_an_array_into_raw_elements() {
    let texts =
        |text| split_array(text).map(|v| v.map(|v| v.iter().map(|e| e.text).collect::<Vec<_>>()));
    assert_eq!(
        texts(" [ {\"a\":1} , 2,[3] ] "),
        Ok(Some(vec!["{\"a\":1}", "2", "[3]"]))
    );
    assert_eq!(texts("[]"), Ok(Some(vec![])));
    assert_eq!(split_array("{}"), Ok(None));
    assert_eq!(split_array("[1] x"), Err(Problem::BadJson));
    assert_eq!(split_array("[{\"a\":1e999}, 1] x"), Err(Problem::BadJson));
    let objects = |text| {
        split_array(text).map(|v| v.map(|v| v.into_iter().map(|e| e.object).collect::<Vec<_>>()))
    };
    assert_eq!(
        objects("[1e999, {\"a\":1,\"a\":1}, {\"b\":[1e999,2]}, {\"c\":\"x\"}]"),
        Ok(Some(vec![
            None,
            Some(Err(Problem::DuplicateKey)),
            Some(Err(Problem::NonFinite)),
            Some(parse("{\"c\":\"x\"}", true)),
        ]))
    );
}
