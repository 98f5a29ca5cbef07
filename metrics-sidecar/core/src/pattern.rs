//! The label patterns of `schema.py`, read from their regex text so the schema
//! stays their one definition. Only the form those patterns use is understood:
//! `^`, then character sets with optional `{m,n}` counts, then `$` (matched at
//! the true end of the string, as pydantic does: no trailing newline).

#[derive(Debug, Clone, PartialEq, Eq)]
struct Piece {
    ranges: Vec<(char, char)>,
    /// Per ASCII character: in `ranges` (one look-up per character on the hot path).
    ascii: [bool; 128],
    min: usize,
    max: usize,
}

impl Piece {
    fn new(ranges: Vec<(char, char)>, min: usize, max: usize) -> Piece {
        let mut ascii = [false; 128];
        for (byte, slot) in (0u8..).zip(ascii.iter_mut()) {
            let c = char::from(byte);
            *slot = ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
        }
        Piece {
            ranges,
            ascii,
            min,
            max,
        }
    }

    fn contains(&self, c: char) -> bool {
        match self.ascii.get(c as usize) {
            Some(&inside) => inside,
            None => self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pieces: Vec<Piece>,
    /// The most characters a match can have (the pieces' `max`, summed).
    longest: usize,
    /// Every piece but the last takes a fixed count (`{n}`, or none given):
    /// then a match is decided in one pass over the characters (`matches_fixed`).
    fixed: bool,
}

/// Texts of fewer bytes than this are matched with a bit per position (a
/// label is; no allocation per event).
const SHORT: usize = 128;

/// The positions of a text as the bits of a machine word.
trait Positions:
    Copy
    + PartialEq
    + From<bool>
    + std::ops::BitOr<Output = Self>
    + std::ops::BitAnd<Output = Self>
    + std::ops::Shl<usize, Output = Self>
    + std::ops::Shr<usize, Output = Self>
{
    const NONE: Self;
    const FIRST: Self;
}

impl Positions for u64 {
    const NONE: u64 = 0;
    const FIRST: u64 = 1;
}

impl Positions for u128 {
    const NONE: u128 = 0;
    const FIRST: u128 = 1;
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
            pieces.push(Piece::new(ranges, min, max));
        }
        let longest = pieces
            .iter()
            .fold(0usize, |sum, piece| sum.saturating_add(piece.max));
        let fixed = match pieces.split_last() {
            Some((_, front)) => front.iter().all(|piece| piece.min == piece.max),
            None => false,
        };
        Ok(Pattern {
            pieces,
            longest,
            fixed,
        })
    }

    /// True if the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        if self.fixed {
            if let Some(matched) = self.matches_fixed(text.as_bytes()) {
                return matched;
            }
        }
        if text.len() < 64 {
            self.matches_short::<u64>(text)
        } else if text.len() < SHORT {
            self.matches_short::<u128>(text)
        } else {
            self.matches_long(text)
        }
    }

    /// `matches` for a pattern whose pieces but the last take a fixed count
    /// (there is one way to split a text among them), on an ASCII text: None
    /// for a text with another character (then the general walk decides).
    fn matches_fixed(&self, text: &[u8]) -> Option<bool> {
        let (last, front) = self.pieces.split_last()?;
        let mut rest = text;
        for piece in front {
            for _ in 0..piece.min {
                let Some((&byte, tail)) = rest.split_first() else {
                    return text.is_ascii().then_some(false);
                };
                match piece.ascii.get(usize::from(byte)) {
                    Some(true) => rest = tail,
                    Some(false) => return text.is_ascii().then_some(false),
                    None => return None,
                }
            }
        }
        let mut all = true;
        for &byte in rest {
            match last.ascii.get(usize::from(byte)) {
                Some(inside) => all &= *inside,
                None => return None,
            }
        }
        Some(all && last.min <= rest.len() && rest.len() <= last.max)
    }

    /// `matches` for a text of fewer bytes than `P` has bits: the same walk as
    /// `matches_long`, with the set of reachable positions as the bits of a `P`.
    fn matches_short<P: Positions>(&self, text: &str) -> bool {
        let mut reachable = P::FIRST; // position 0
        let mut len = 0;
        for piece in &self.pieces {
            // Bit i: character i is in the piece's set.
            let mut inside = P::NONE;
            len = 0;
            if text.is_ascii() {
                for &byte in text.as_bytes() {
                    let member = piece.ascii.get(usize::from(byte)).copied().unwrap_or(false);
                    inside = inside | P::from(member) << len;
                    len += 1;
                }
            } else {
                for c in text.chars() {
                    inside = inside | P::from(piece.contains(c)) << len;
                    len += 1;
                }
            }
            // `at`: the positions reached after taking `taken` characters of the set.
            let (mut at, mut next) = (reachable, P::NONE);
            let mut taken = 0;
            while taken <= piece.max && at != P::NONE {
                if taken >= piece.min {
                    next = next | at;
                }
                at = (at & inside) << 1;
                taken += 1;
            }
            reachable = next;
            if reachable == P::NONE {
                return false;
            }
        }
        if self.pieces.is_empty() {
            len = text.chars().count();
        }
        (reachable >> len) & P::FIRST == P::FIRST
    }

    /// `matches` for any length: the positions some prefix of the pieces can end at.
    fn matches_long(&self, text: &str) -> bool {
        if text.chars().count() > self.longest {
            return false;
        }
        let chars: Vec<char> = text.chars().collect();
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
                    if end < chars.len() && !piece.contains(chars[end]) {
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
    fn the_short_walk_agrees_with_the_long_one() {
        let patterns = [
            r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,31}$",
            r"^[A-Za-z0-9._-]{1,64}$",
            r"^[a-z0-9_-]{1,16}$",
            r"^[a-c]{2,3}[b-dé]{0,2}[a]$",
            r"^[a-c]{2}[b-dé][a]{1,3}$",
            r"^[a]{0,200}$",
            "^$",
        ];
        let alphabet = ['a', 'b', 'c', 'd', 'Z', '9', '.', '-', ' ', '\n', 'é', '😀'];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for regex in patterns {
            let pattern = Pattern::parse(regex).unwrap_or_else(|error| panic!("{error}"));
            for round in 0..4000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let len = (state % 70) as usize + if round % 50 == 0 { 60 } else { 0 };
                let text: String = (0..len)
                    .map(|i| alphabet[((state >> (i % 60)) as usize + i * 7) % alphabet.len()])
                    .collect();
                let text = match round % 3 {
                    0 => "a".repeat(len),
                    1 => text
                        .chars()
                        .filter(|c| "abcdé".contains(*c))
                        .take(len % 8)
                        .collect(),
                    _ => text,
                };
                let expected = pattern.matches_long(&text);
                if text.len() < SHORT {
                    let wide = pattern.matches_short::<u128>(&text);
                    assert_eq!(wide, expected, "{regex} {text:?}");
                }
                assert_eq!(pattern.matches(&text), expected, "{regex} {text:?}");
            }
        }
    }

    #[test]
    fn refuses_what_it_cannot_express() {
        assert!(Pattern::parse("[a-z]+").is_err());
        assert!(Pattern::parse(r"^\d{1,2}$").is_err());
        assert!(Pattern::parse("^[a-z]{1,x}$").is_err());
    }
}
