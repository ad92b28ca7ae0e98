//! A tiny glob matcher for tensor names: `*` matches any run of characters
//! (including none), `?` exactly one character, everything else itself.
//! No character classes or escapes: tensor names do not need them, and a
//! smaller language is easier to explain in error messages.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A parsed glob pattern. Matching is on Unicode scalar values and
/// case-sensitive; the pattern must match the whole name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub struct Glob {
    pattern: String,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob {
            pattern: pattern.to_string(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Greedy match with single-star backtracking: on a mismatch, let the
    /// most recent `*` swallow one more character. Linear in practice and
    /// O(pattern × name) at worst; no recursion, so no stack blow-up.
    pub fn matches(&self, name: &str) -> bool {
        let p: Vec<char> = self.pattern.chars().collect();
        let s: Vec<char> = name.chars().collect();
        let (mut pi, mut si) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == s[si])) {
                pi += 1;
                si += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, si));
                pi += 1;
            } else if let Some((sp, ss)) = star {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == '*')
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

impl From<String> for Glob {
    fn from(pattern: String) -> Glob {
        Glob { pattern }
    }
}

impl From<Glob> for String {
    fn from(g: Glob) -> String {
        g.pattern
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        let m = |p: &str, s: &str| Glob::new(p).matches(s);
        assert!(m("*bias*", "trunk.block1.bias"));
        assert!(m("*bias*", "bias"));
        assert!(!m("*bias*", "trunk.block1.w"));
        assert!(m("trunk.block?.w", "trunk.block3.w"));
        assert!(!m("trunk.block?.w", "trunk.block12.w"));
        assert!(m("*", ""));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("a*b*c", "aXXbYYbc"));
        assert!(!m("a*b*c", "aXXbYYbd"));
        assert!(m("**x", "x"));
        assert!(!m("Bias", "bias"));
    }

    /// Reference: the textbook recursive definition.
    fn slow(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, _) => s.is_empty(),
            (Some('*'), _) => slow(&p[1..], s) || (!s.is_empty() && slow(p, &s[1..])),
            (Some('?'), Some(_)) => slow(&p[1..], &s[1..]),
            (Some(c), Some(d)) => c == d && slow(&p[1..], &s[1..]),
            (Some(_), None) => false,
        }
    }

    proptest! {
        #[test]
        fn agrees_with_recursive_definition(p in "[ab*?]{0,7}", s in "[abc]{0,9}") {
            let pc: Vec<char> = p.chars().collect();
            let sc: Vec<char> = s.chars().collect();
            prop_assert_eq!(Glob::new(&p).matches(&s), slow(&pc, &sc));
        }
    }
}
