//! Shell patterns (`*`, `?`, `[a-z]`, `[!x]`, `[[:digit:]]`), as `case`,
//! `${v#p}`, `[[ x == p ]]`, pathname expansion and `find -name` use them.
//!
//! A pattern is a list of tokens; quoted characters of a word are literal
//! (the expander marks them), so `"*"` matches only a star.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Char(char),
    Any,
    Star,
    Class {
        negated: bool,
        items: Vec<ClassItem>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum ClassItem {
    Char(char),
    Range(char, char),
    Named(String),
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    toks: Vec<Tok>,
}

impl Pattern {
    /// Compiles `text`; `literal[i]` says character i was quoted.
    pub fn new(text: &str, literal: &[bool]) -> Pattern {
        let chars: Vec<char> = text.chars().collect();
        let lit = |i: usize| literal.get(i).copied().unwrap_or(false);
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if lit(i) {
                toks.push(Tok::Char(c));
                i += 1;
                continue;
            }
            match c {
                '*' => {
                    if toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star);
                    }
                    i += 1;
                }
                '?' => {
                    toks.push(Tok::Any);
                    i += 1;
                }
                '\\' if i + 1 < chars.len() => {
                    toks.push(Tok::Char(chars[i + 1]));
                    i += 2;
                }
                '[' => match class(&chars, i + 1, &lit) {
                    Some((tok, next)) => {
                        toks.push(tok);
                        i = next;
                    }
                    None => {
                        toks.push(Tok::Char('['));
                        i += 1;
                    }
                },
                c => {
                    toks.push(Tok::Char(c));
                    i += 1;
                }
            }
        }
        Pattern { toks }
    }

    /// A pattern from unquoted text.
    pub fn unquoted(text: &str) -> Pattern {
        Pattern::new(text, &[])
    }

    /// Whether the pattern has any special character (else it is a plain
    /// string and pathname expansion leaves it alone).
    pub fn has_magic(&self) -> bool {
        self.toks.iter().any(|t| !matches!(t, Tok::Char(_)))
    }

    pub fn matches(&self, s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        match_from(&self.toks, &chars)
    }

    /// The lengths (in chars) of the prefixes of `s` it matches.
    pub fn prefix_lengths(&self, s: &str) -> Vec<usize> {
        let chars: Vec<char> = s.chars().collect();
        (0..=chars.len())
            .filter(|&n| match_from(&self.toks, &chars[..n]))
            .collect()
    }

    /// The start positions (in chars) of the suffixes of `s` it matches.
    pub fn suffix_starts(&self, s: &str) -> Vec<usize> {
        let chars: Vec<char> = s.chars().collect();
        (0..=chars.len())
            .filter(|&n| match_from(&self.toks, &chars[n..]))
            .collect()
    }
}

fn class(chars: &[char], start: usize, lit: &dyn Fn(usize) -> bool) -> Option<(Tok, usize)> {
    let mut i = start;
    let negated = matches!(chars.get(i), Some('!' | '^')) && !lit(i);
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let first = i;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && i > first && !lit(i) {
            return Some((Tok::Class { negated, items }, i + 1));
        }
        if c == '[' && chars.get(i + 1) == Some(&':') && !lit(i) {
            let rest: String = chars[i + 2..].iter().collect();
            if let Some(end) = rest.find(":]") {
                items.push(ClassItem::Named(rest[..end].to_string()));
                i += 2 + rest[..end].chars().count() + 2;
                continue;
            }
        }
        if chars.get(i + 1) == Some(&'-')
            && let Some(&hi) = chars.get(i + 2)
            && hi != ']'
        {
            items.push(ClassItem::Range(c, hi));
            i += 3;
            continue;
        }
        items.push(ClassItem::Char(c));
        i += 1;
    }
}

fn class_matches(items: &[ClassItem], c: char) -> bool {
    items.iter().any(|item| match item {
        ClassItem::Char(x) => *x == c,
        ClassItem::Range(lo, hi) => *lo <= c && c <= *hi,
        ClassItem::Named(name) => match name.as_str() {
            "alpha" => c.is_alphabetic(),
            "digit" => c.is_ascii_digit(),
            "alnum" => c.is_alphanumeric(),
            "upper" => c.is_uppercase(),
            "lower" => c.is_lowercase(),
            "space" => c.is_whitespace(),
            "blank" => c == ' ' || c == '\t',
            "punct" => c.is_ascii_punctuation(),
            "xdigit" => c.is_ascii_hexdigit(),
            "cntrl" => c.is_control(),
            "print" => !c.is_control(),
            "graph" => !c.is_control() && c != ' ',
            _ => false,
        },
    })
}

/// Iterative matcher with one backtrack point per star (linear-ish, no
/// recursion, so long inputs cannot blow the stack).
fn match_from(toks: &[Tok], s: &[char]) -> bool {
    let (mut ti, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        let step = match toks.get(ti) {
            Some(Tok::Star) => {
                star = Some((ti, si));
                ti += 1;
                continue;
            }
            Some(Tok::Char(c)) => *c == s[si],
            Some(Tok::Any) => true,
            Some(Tok::Class { negated, items }) => class_matches(items, s[si]) != *negated,
            None => false,
        };
        if step {
            ti += 1;
            si += 1;
        } else if let Some((st, ss)) = star {
            ti = st + 1;
            si = ss + 1;
            star = Some((st, ss + 1));
        } else {
            return false;
        }
    }
    toks[ti.min(toks.len())..].iter().all(|t| *t == Tok::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let m = |p: &str, s: &str| Pattern::unquoted(p).matches(s);
        assert!(m("*.txt", "a.txt"));
        assert!(!m("*.txt", "a.txt.gz"));
        assert!(m("a?c", "abc"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[!a-c]x", "bx"));
        assert!(m("[[:digit:]]*", "1abc"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("[]]", "]"));
        assert!(m("[", "["));
        assert!(m("\\*", "*"));
        assert!(!Pattern::new("*", &[true]).matches("x"));
        assert!(!Pattern::unquoted("abc").has_magic());
        assert_eq!(Pattern::unquoted("*/").prefix_lengths("a/b/c"), vec![2, 4]);
        assert_eq!(Pattern::unquoted(".*").suffix_starts("a.b.c"), vec![1, 3]);
    }
}
