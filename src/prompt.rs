//! Yes/no questions on the terminal, in the course language: one place
//! decides what counts as "yes" (`y`/`yes`, and in French `o`/`oui` too), so
//! every command asks and understands the same way.

use std::io::{BufRead, IsTerminal, Write};

use crate::text::Lang;

/// Whether `answer` means yes in `lang` (case and surrounding spaces
/// ignored; an empty answer is the default, no).
pub fn is_yes(lang: Lang, answer: &str) -> bool {
    let a = answer.trim().to_lowercase();
    match lang {
        Lang::En => matches!(a.as_str(), "y" | "yes"),
        // English habits survive a French keyboard: `y` is yes too.
        Lang::Fr => matches!(a.as_str(), "o" | "oui" | "y" | "yes"),
    }
}

/// The `[y/N]` hint of a question in `lang`.
pub fn choices(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "[y/N]",
        Lang::Fr => "[o/N]",
    }
}

/// Asks `question` (followed by the choices) on `out` and reads the answer
/// from the terminal. `None` when standard input is not a terminal: the
/// caller says how to confirm without one.
pub fn confirm(lang: Lang, question: &str, out: &mut impl Write) -> std::io::Result<Option<bool>> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Ok(None);
    }
    write!(out, "{question} {} ", choices(lang))?;
    out.flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(Some(is_yes(lang, &answer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_in_each_language() {
        for a in ["y", "Y", "yes", " YES "] {
            assert!(is_yes(Lang::En, a), "{a}");
            assert!(is_yes(Lang::Fr, a), "{a}");
        }
        for a in ["o", "oui", "Oui", "O"] {
            assert!(is_yes(Lang::Fr, a), "{a}");
            assert!(!is_yes(Lang::En, a), "{a}");
        }
        for a in ["", "n", "no", "non", "yep", "ouais"] {
            assert!(!is_yes(Lang::En, a), "{a}");
            assert!(!is_yes(Lang::Fr, a), "{a}");
        }
    }
}
