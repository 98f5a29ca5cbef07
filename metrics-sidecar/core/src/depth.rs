//! How deep a frame's brackets nest, outside strings, counted on the raw bytes
//! (a linear pass, never a recursion). The decoder asks only when its parse
//! did not succeed within the depth limit (it stops there, so a deep frame
//! never costs a deep recursion): a parse that succeeds measures the same depth.
//!
//! `{` and `[` count alike, and a pair is a bracket and the first closing one that
//! matches it; brackets that never close do not count (the parser reports the
//! frame as not JSON, or as too deep past `PARSE_DEPTH_LIMIT`). A string is a `"`
//! up to the next unescaped `"`; a `"` with no closing partner is an ordinary
//! character.

/// True if some pair of brackets (outside strings) has more than `limit` levels
/// of pairs inside it, counting itself.
pub fn nesting_deeper_than(frame: &[u8], limit: usize) -> bool {
    let opens = frame.iter().filter(|&&b| b == b'[' || b == b'{').count();
    if opens <= limit {
        return false;
    }
    // For each open bracket: the height of the deepest pair closed inside it.
    let mut open: Vec<usize> = Vec::new();
    let mut pos = 0;
    let mut strings = true; // false once a string runs to the end unclosed: none follow
    while let Some(&byte) = frame.get(pos) {
        match byte {
            b'"' if strings => match string_end(frame, pos) {
                Some(end) => pos = end,
                None => strings = false,
            },
            b'[' | b'{' => open.push(0),
            b']' | b'}' => {
                if let Some(inside) = open.pop() {
                    let height = inside + 1;
                    if height > limit {
                        return true;
                    }
                    if let Some(outer) = open.last_mut() {
                        *outer = (*outer).max(height);
                    }
                }
            }
            _ => {}
        }
        pos += 1;
    }
    false
}

/// The index of the `"` that closes the string opened at `start`, if any.
/// (Once one string runs unclosed to the end, so does one opened at any later
/// quote: every quote after it is escaped, and the escapes stay aligned.)
fn string_end(frame: &[u8], start: usize) -> Option<usize> {
    let mut pos = start + 1;
    while let Some(&byte) = frame.get(pos) {
        match byte {
            b'"' => return Some(pos),
            b'\\' => pos += 2,
            _ => pos += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> Vec<u8> {
        [vec![b'['; levels], b"1".to_vec(), vec![b']'; levels]].concat()
    }

    #[test]
    fn the_limit_is_exact() {
        assert!(!nesting_deeper_than(&nested(32), 32));
        assert!(nesting_deeper_than(&nested(33), 32));
        assert!(nesting_deeper_than(b"{\"a\":[{\"b\":[[[[1]]]]}]}", 6));
        assert!(!nesting_deeper_than(b"{\"a\":[{\"b\":[[[[1]]]]}]}", 7));
    }

    #[test]
    fn strings_and_unclosed_brackets_do_not_count() {
        let in_string = [b"{\"x\":\"".to_vec(), vec![b'['; 100], b"]\"}".to_vec()].concat();
        assert!(!nesting_deeper_than(&in_string, 32));
        assert!(!nesting_deeper_than(&vec![b'['; 1000], 32));
        let escaped_quote = [b"{\"x\":\"\\\"".to_vec(), nested(40), b"\"}".to_vec()].concat();
        assert!(!nesting_deeper_than(&escaped_quote, 32));
        let unclosed_string = [b"\"\\\"".to_vec(), nested(40)].concat();
        assert!(nesting_deeper_than(&unclosed_string, 32));
    }
}
