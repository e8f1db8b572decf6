//! The commands of plain mode, parsed from one typed line, in English and
//! French (both are always understood, accents optional), with the TUI's
//! one-letter keys as short forms (`h` hint, `s` solution, `a` answer, `l`
//! lessons, `y` copy, `q` quit, `?` help).

/// What `next` and `previous` move by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Paragraph,
    Step,
    Lesson,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// An empty line: read on.
    Empty,
    Next(Unit),
    Previous(Unit),
    Step,
    Steps,
    Read,
    Hint,
    Solution,
    /// The letters (or words) given after `answer`.
    Answer(Vec<String>),
    Lessons,
    /// `lesson` with what follows it (a number or an id), if anything.
    Lesson(Option<String>),
    Copy,
    Cluster,
    Shell,
    Help,
    Quit,
    Yes,
    No,
    /// Not a command: what was typed (first word).
    Unknown(String),
}

/// The command words, each with the names it answers to (accents folded,
/// lower case). The English and French names of `help`, `hint`, `lessons`,
/// `quit` and `answer` are the TUI's words for its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    Next,
    Previous,
    Step,
    Steps,
    Read,
    Hint,
    Solution,
    Answer,
    Lessons,
    Lesson,
    Copy,
    Cluster,
    Shell,
    Help,
    Quit,
}

const WORDS: &[(Word, &[&str])] = &[
    (Word::Next, &["next", "suivant", "suivante", "suite"]),
    (
        Word::Previous,
        &[
            "previous",
            "prev",
            "back",
            "precedent",
            "precedente",
            "retour",
        ],
    ),
    (Word::Step, &["step", "etape"]),
    (Word::Steps, &["steps", "etapes", "checklist"]),
    (Word::Read, &["read", "lire", "all", "tout"]),
    (Word::Hint, &["hint", "h", "indice"]),
    (Word::Solution, &["solution", "s"]),
    (Word::Answer, &["answer", "a", "repondre", "reponse"]),
    (Word::Lessons, &["lessons", "l", "lecons"]),
    (Word::Lesson, &["lesson", "lecon"]),
    (Word::Copy, &["copy", "y", "copier"]),
    (Word::Cluster, &["cluster"]),
    (Word::Shell, &["shell", "terminal"]),
    (Word::Help, &["help", "?", "aide", "commands", "commandes"]),
    (Word::Quit, &["quit", "q", "exit", "quitter", "sortir"]),
];

const YES: &[&str] = &["yes", "y", "oui", "o"];
const NO: &[&str] = &["no", "n", "non"];

/// Longest line read; the rest of a longer one is dropped by the reader.
pub const MAX_LINE: usize = 4096;

/// Lower case without accents, so that `Étape` and `etape` match.
pub fn fold(word: &str) -> String {
    word.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            c => c,
        })
        .collect()
}

fn word(w: &str) -> Option<Word> {
    WORDS
        .iter()
        .find(|(_, names)| names.contains(&w))
        .map(|(word, _)| *word)
}

fn unit(w: &str) -> Option<Unit> {
    match word(w)? {
        Word::Step | Word::Steps => Some(Unit::Step),
        Word::Lesson | Word::Lessons => Some(Unit::Lesson),
        _ => None,
    }
}

/// Parses one line. `confirming`: a yes/no question is open, so `y` and
/// `n` answer it (as in the TUI's confirmation dialog).
pub fn parse(line: &str, confirming: bool) -> Command {
    let folded = fold(line.trim());
    let mut parts = folded.split_whitespace();
    let Some(first) = parts.next() else {
        return Command::Empty;
    };
    let rest: Vec<String> = parts.map(str::to_owned).collect();
    if confirming {
        if YES.contains(&first) && rest.is_empty() {
            return Command::Yes;
        }
        if NO.contains(&first) && rest.is_empty() {
            return Command::No;
        }
    }
    let Some(w) = word(first) else {
        return Command::Unknown(line.split_whitespace().next().unwrap_or("").to_owned());
    };
    let second = rest.first().map(String::as_str);
    match w {
        Word::Next | Word::Previous => {
            let u = second.and_then(unit).unwrap_or(Unit::Paragraph);
            if w == Word::Next {
                Command::Next(u)
            } else {
                Command::Previous(u)
            }
        }
        // "étape suivante", "leçon précédente": the noun first.
        Word::Step | Word::Lesson | Word::Steps | Word::Lessons
            if second.and_then(word) == Some(Word::Next) =>
        {
            Command::Next(unit(first).unwrap_or(Unit::Paragraph))
        }
        Word::Step | Word::Lesson | Word::Steps | Word::Lessons
            if second.and_then(word) == Some(Word::Previous) =>
        {
            Command::Previous(unit(first).unwrap_or(Unit::Paragraph))
        }
        Word::Step => Command::Step,
        Word::Steps => Command::Steps,
        Word::Read => Command::Read,
        Word::Hint => Command::Hint,
        Word::Solution => Command::Solution,
        Word::Answer => Command::Answer(rest),
        Word::Lessons => Command::Lessons,
        Word::Lesson => Command::Lesson(second.map(str::to_owned)),
        Word::Copy => Command::Copy,
        Word::Cluster => Command::Cluster,
        Word::Shell => Command::Shell,
        Word::Help => Command::Help,
        Word::Quit => Command::Quit,
    }
}

/// Quiz choices from what followed `answer`: letters, given apart (`a c`),
/// together (`ac`) or with commas (`a,c`). `Err` holds the first word that
/// is not a letter of a choice, and the last valid letter.
pub fn choices(args: &[String], count: usize) -> Result<Vec<usize>, (String, char)> {
    let last = crate::tui::page::letter(count.saturating_sub(1));
    let mut out = Vec::new();
    for arg in args {
        for piece in arg.split(',').filter(|p| !p.is_empty()) {
            let letters: Vec<char> = piece.trim_end_matches([')', '.']).chars().collect();
            if letters.is_empty() || !letters.iter().all(char::is_ascii_lowercase) {
                return Err((piece.to_owned(), last));
            }
            for c in letters {
                let i = usize::from(c as u8 - b'a');
                if i >= count {
                    return Err((c.to_string(), last));
                }
                out.push(i);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_and_french_words_mean_the_same() {
        for (en, fr, cmd) in [
            ("next", "suivant", Command::Next(Unit::Paragraph)),
            ("next step", "étape suivante", Command::Next(Unit::Step)),
            ("next lesson", "leçon suivante", Command::Next(Unit::Lesson)),
            (
                "previous step",
                "étape précédente",
                Command::Previous(Unit::Step),
            ),
            ("previous", "précédent", Command::Previous(Unit::Paragraph)),
            ("step", "étape", Command::Step),
            ("steps", "étapes", Command::Steps),
            ("hint", "indice", Command::Hint),
            ("solution", "solution", Command::Solution),
            ("lessons", "leçons", Command::Lessons),
            ("copy", "copier", Command::Copy),
            ("help", "aide", Command::Help),
            ("quit", "quitter", Command::Quit),
            ("read", "lire", Command::Read),
        ] {
            assert_eq!(parse(en, false), cmd, "{en}");
            assert_eq!(parse(fr, false), cmd, "{fr}");
        }
        assert_eq!(parse("Étape", false), Command::Step);
        assert_eq!(parse("etape", false), Command::Step);
        assert_eq!(parse("suivant étape", false), Command::Next(Unit::Step));
        assert_eq!(parse("lesson 3", false), Command::Lesson(Some("3".into())));
        assert_eq!(parse("leçon 3", false), Command::Lesson(Some("3".into())));
        assert_eq!(
            parse("répondre b", false),
            Command::Answer(vec!["b".into()])
        );
        assert_eq!(parse("  ", false), Command::Empty);
        assert_eq!(
            parse("frobnicate now", false),
            Command::Unknown("frobnicate".into())
        );
    }

    #[test]
    fn the_tuis_key_words_are_command_words() {
        use crate::lesson::Lang;
        for lang in Lang::ALL {
            let s = crate::tui::strings::strings(lang);
            assert_eq!(parse(s.key_help, false), Command::Help, "{lang}");
            assert_eq!(parse(s.key_hint, false), Command::Hint, "{lang}");
            assert_eq!(parse(s.key_lessons, false), Command::Lessons, "{lang}");
            assert_eq!(parse(s.key_quit, false), Command::Quit, "{lang}");
            assert_eq!(
                parse(&format!("{} b", s.key_answer), false),
                Command::Answer(vec!["b".into()]),
                "{lang}"
            );
        }
    }

    #[test]
    fn y_and_n_answer_an_open_question_only() {
        assert_eq!(parse("y", true), Command::Yes);
        assert_eq!(parse("oui", true), Command::Yes);
        assert_eq!(parse("n", true), Command::No);
        assert_eq!(parse("y", false), Command::Copy);
        assert_eq!(parse("n", false), Command::Unknown("n".into()));
    }

    #[test]
    fn choices_from_letters() {
        let a = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(choices(&a(&["b"]), 4), Ok(vec![1]));
        assert_eq!(choices(&a(&["c", "a"]), 4), Ok(vec![0, 2]));
        assert_eq!(choices(&a(&["a,c"]), 4), Ok(vec![0, 2]));
        assert_eq!(choices(&a(&["ac"]), 4), Ok(vec![0, 2]));
        assert_eq!(choices(&a(&["b)"]), 4), Ok(vec![1]));
        assert_eq!(choices(&a(&["e"]), 4), Err(("e".into(), 'd')));
        assert_eq!(choices(&a(&["2"]), 4), Err(("2".into(), 'd')));
        assert_eq!(choices(&[], 4), Ok(vec![]));
    }
}
