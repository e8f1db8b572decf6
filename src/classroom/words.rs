//! What the classroom says to learners, in each course language (the
//! instructor's grid has its own words in `grid`). Templates take `{0}`,
//! `{1}`... filled by [`crate::text::fill`].

use crate::text::Lang;

pub struct Words {
    /// {0}: server, {1}: name.
    pub joined: &'static str,
    /// {0}: why.
    pub away: &'static str,
    /// {0}: why.
    pub refused: &'static str,
    /// {0}: the message.
    pub message: &'static str,
    /// {0}: lesson number, {1}: title.
    pub held: &'static str,
    pub released: &'static str,
    /// {0}: lesson number, {1}: title.
    pub hold_stops: &'static str,
    /// A hold at a lesson this course does not have. {0}: its id.
    pub held_unknown: &'static str,
}

static EN: Words = Words {
    joined: "Joined the classroom at {0} as {1}: your instructor sees your progress (only your progress).",
    away: "The classroom server is away ({0}); the course goes on and your progress is sent when it is back.",
    refused: "The classroom refused to let you in: {0}",
    message: "Message from your instructor: {0}",
    held: "Your instructor holds the class at lesson {0}, {1}: you cannot go past it until the hold is released.",
    released: "Your instructor released the hold: go on at your own pace.",
    hold_stops: "The class is held at lesson {0}, {1}: wait for your instructor to release it.",
    held_unknown: "Your instructor holds the class at lesson `{0}`, which this course does not have: ask your instructor which kubetutor to use.",
};

static FR: Words = Words {
    joined: "Vous avez rejoint la classe sur {0} sous le nom {1} : votre formateur voit votre progression (et seulement la vôtre).",
    away: "Le serveur de la classe est absent ({0}) ; le cours continue et votre progression lui sera envoyée à son retour.",
    refused: "La classe a refusé de vous laisser entrer : {0}",
    message: "Message de votre formateur : {0}",
    held: "Votre formateur retient la classe à la leçon {0}, {1} : vous ne pouvez pas aller au-delà avant qu'il ne la libère.",
    released: "Votre formateur a libéré la classe : continuez à votre rythme.",
    hold_stops: "La classe est retenue à la leçon {0}, {1} : attendez que votre formateur la libère.",
    held_unknown: "Votre formateur retient la classe à la leçon `{0}`, que ce cours n'a pas : demandez-lui quel kubetutor utiliser.",
};

pub fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}
