//! The label patterns of `schema.py`, read from their regex text so the schema
//! stays their one definition. Only the form those patterns use is understood:
//! `^`, then character sets with optional `{m,n}` counts, then `$` (matched at
//! the true end of the string, as pydantic does: no trailing newline).

#[derive(Debug, Clone, PartialEq, Eq)]
struct Piece {
    ranges: Vec<(char, char)>,
    min: usize,
    max: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pieces: Vec<Piece>,
}

impl Pattern {
    /// Parses `^[set]{m,n}...$`; an error names what the core cannot express.
    pub fn parse(regex: &str) -> Result<Pattern, String> {
        let body = regex
            .strip_prefix('^')
            .and_then(|rest| rest.strip_suffix('$'))
            .ok_or_else(|| format!("pattern {regex:?} is not anchored with ^...$"))?;
        let mut chars = body.chars().peekable();
        let mut pieces = Vec::new();
        while let Some(c) = chars.next() {
            if c != '[' {
                return Err(format!(
                    "pattern {regex:?}: only [character sets] are supported"
                ));
            }
            let mut set: Vec<char> = Vec::new();
            loop {
                match chars.next() {
                    Some(']') => break,
                    Some(c @ ('\\' | '^' | '[')) => {
                        return Err(format!("pattern {regex:?}: {c:?} in a set"))
                    }
                    Some(c) => set.push(c),
                    None => return Err(format!("pattern {regex:?}: unclosed set")),
                }
            }
            let mut ranges = Vec::new();
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == '-' {
                    ranges.push((set[i], set[i + 2]));
                    i += 3;
                } else {
                    ranges.push((set[i], set[i]));
                    i += 1;
                }
            }
            let (mut min, mut max) = (1, 1);
            if chars.peek() == Some(&'{') {
                chars.next();
                let count: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let (low, high) = count.split_once(',').unwrap_or((&count, &count));
                min = low
                    .parse()
                    .map_err(|_| format!("pattern {regex:?}: bad count {count:?}"))?;
                max = high
                    .parse()
                    .map_err(|_| format!("pattern {regex:?}: bad count {count:?}"))?;
            }
            pieces.push(Piece { ranges, min, max });
        }
        Ok(Pattern { pieces })
    }

    /// True if the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        if chars.len() > self.pieces.iter().map(|p| p.max).sum::<usize>() {
            return false;
        }
        // The positions some prefix of the pieces can end at.
        let mut reachable = vec![false; chars.len() + 1];
        reachable[0] = true;
        for piece in &self.pieces {
            let mut next = vec![false; chars.len() + 1];
            for start in (0..=chars.len()).filter(|&s| reachable[s]) {
                for (taken, end) in (start..=chars.len()).enumerate() {
                    if taken > piece.max {
                        break;
                    }
                    if taken >= piece.min {
                        next[end] = true;
                    }
                    if end < chars.len()
                        && !piece
                            .ranges
                            .iter()
                            .any(|&(lo, hi)| lo <= chars[end] && chars[end] <= hi)
                    {
                        break;
                    }
                }
            }
            reachable = next;
        }
        reachable[chars.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_patterns() {
        let symbol =
            Pattern::parse(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,31}$").expect("symbol pattern");
        for ok in ["A", "BTCUSDT", "X:Y/Z", "a.b-c_d", &"A".repeat(32)] {
            assert!(symbol.matches(ok), "{ok}");
        }
        for bad in ["", "-X", "BTC\n", "a b", "é", &"A".repeat(33)] {
            assert!(!symbol.matches(bad), "{bad}");
        }
        let instance = Pattern::parse(r"^[A-Za-z0-9._-]{1,64}$").expect("instance pattern");
        assert!(
            instance.matches("-")
                && instance.matches(&"a".repeat(64))
                && !instance.matches(&"a".repeat(65))
        );
        let source = Pattern::parse(r"^[a-z0-9_-]{1,16}$").expect("source pattern");
        assert!(source.matches("sim") && !source.matches("Sim") && !source.matches(""));
    }

    #[test]
    fn refuses_what_it_cannot_express() {
        assert!(Pattern::parse("[a-z]+").is_err());
        assert!(Pattern::parse(r"^\d{1,2}$").is_err());
        assert!(Pattern::parse("^[a-z]{1,x}$").is_err());
    }
}
