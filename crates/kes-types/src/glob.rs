//! Glob patterns with Go's `path.Match` rules, as `kes migrate` takes them
//! for key names (spec §10.10): `*` matches any run of characters other than
//! `/`, `?` one such character, `[…]` one character of a class (ranges
//! `a-z`, negation with a leading `^`), and `\` makes the next character
//! literal. Unlike Go, a malformed pattern is refused when it is parsed,
//! not only when matching happens to reach the bad part.

use std::fmt;

/// Why a glob pattern is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pattern '{pattern}': {reason}")]
pub struct GlobError {
    pattern: String,
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`.
    One,
    /// `*`.
    Any,
    /// `[…]`: ranges (single characters are `(c, c)`), negated or not.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A parsed glob pattern.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    tokens: Vec<Token>,
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Glob {
    /// Parses `pattern`.
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        let bad = |reason| GlobError {
            pattern: pattern.escape_debug().to_string(),
            reason,
        };
        let mut tokens = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::Any,
                '?' => Token::One,
                '\\' => Token::Literal(chars.next().ok_or_else(|| bad("it ends with '\\'"))?),
                '[' => {
                    let mut negated = false;
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let mut c = chars.next().ok_or_else(|| bad("a '[' is not closed"))?;
                        if first && c == '^' {
                            negated = true;
                            first = false;
                            continue;
                        }
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        if c == '\\' {
                            c = chars.next().ok_or_else(|| bad("it ends with '\\'"))?;
                        } else if c == ']' || c == '-' {
                            return Err(bad("a character class holds an unescaped ']' or '-'"));
                        }
                        let mut rest = chars.clone();
                        if rest.next() == Some('-') && rest.clone().next() != Some(']') {
                            chars = rest;
                            let mut hi = chars.next().ok_or_else(|| bad("a '[' is not closed"))?;
                            if hi == '\\' {
                                hi = chars.next().ok_or_else(|| bad("it ends with '\\'"))?;
                            }
                            if hi < c {
                                return Err(bad("a character range is reversed"));
                            }
                            ranges.push((c, hi));
                        } else {
                            ranges.push((c, c));
                        }
                    }
                    Token::Class { negated, ranges }
                }
                c => Token::Literal(c),
            });
        }
        Ok(Glob {
            text: pattern.to_owned(),
            tokens,
        })
    }

    /// The literal text every match starts with (for listing by prefix).
    pub fn literal_prefix(&self) -> String {
        self.tokens
            .iter()
            .map_while(|t| match t {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// Whether `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        match_from(&self.tokens, &name)
    }
}

fn single(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(l) => *l == c,
        Token::One => c != '/',
        Token::Class { negated, ranges } => {
            c != '/' && ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
        Token::Any => false,
    }
}

/// Iterative matching with one backtrack point per `*` (linear in practice,
/// never exponential).
fn match_from(tokens: &[Token], name: &[char]) -> bool {
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match tokens.get(t) {
            Some(Token::Any) => {
                star = Some((t, n));
                t += 1;
            }
            Some(token) if single(token, name[n]) => {
                t += 1;
                n += 1;
            }
            _ => match star {
                // Let the last `*` take one more character (never a `/`).
                Some((st, sn)) if name[sn] != '/' => {
                    star = Some((st, sn + 1));
                    t = st + 1;
                    n = sn + 1;
                }
                _ => return false,
            },
        }
    }
    tokens[t..].iter().all(|t| *t == Token::Any)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        Glob::new(p).unwrap().matches(n)
    }

    #[test]
    fn go_path_match_cases() {
        // Cases of Go's path.Match table.
        assert!(m("abc", "abc"));
        assert!(m("*", "abc"));
        assert!(m("*c", "abc"));
        assert!(!m("a*", "ab/c"));
        assert!(m("a*/b", "abc/b"));
        assert!(!m("a*/b", "a/c/b"));
        assert!(m("a*b*c*d*e*/f", "axbxcxdxe/f"));
        assert!(m("a*b*c*d*e*/f", "axbxcxdxexxx/f"));
        assert!(!m("a*b*c*d*e*/f", "axbxcxdxe/xxx/f"));
        assert!(m("ab[c]", "abc"));
        assert!(m("ab[b-d]", "abc"));
        assert!(!m("ab[e-g]", "abc"));
        assert!(!m("ab[^c]", "abc"));
        assert!(!m("ab[^b-d]", "abc"));
        assert!(m("ab[^e-g]", "abc"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "ab"));
        assert!(m("a?b", "a☺b"));
        assert!(m("a[^a]b", "a☺b"));
        assert!(!m("a???b", "a☺b"));
        assert!(m("[a-ζ]*", "α"));
        assert!(!m("*[a-ζ]", "A"));
        assert!(!m("a?b", "a/b"));
        assert!(!m("a*b", "a/b"));
        assert!(m("[\\]a]", "]"));
        assert!(m("[\\-]", "-"));
        assert!(m("[x\\-]", "x"));
        assert!(m("[x\\-]", "-"));
        assert!(!m("[x\\-]", "z"));
        assert!(m("*x", "xxx"));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for p in [
            "[]a]", "[-]", "[x-]", "[", "[^", "[^bc", "a[", "\\", "[a-b-c]", "[z-a]",
        ] {
            assert!(Glob::new(p).is_err(), "{p}");
        }
        assert_eq!(
            Glob::new("ab[").unwrap_err().to_string(),
            "invalid pattern 'ab[': a '[' is not closed"
        );
    }

    #[test]
    fn literal_prefix_for_listing() {
        assert_eq!(Glob::new("minio-*").unwrap().literal_prefix(), "minio-");
        assert_eq!(Glob::new("*").unwrap().literal_prefix(), "");
        assert_eq!(Glob::new("a\\*b*").unwrap().literal_prefix(), "a*b");
    }
}
