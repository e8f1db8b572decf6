//! The checker's own sentences in each course language: what the engine
//! says about sequences, replacements, quizzes and pods in trouble. (The
//! details of a condition, "deployment msg-api: not ready (0/1)", are
//! built in `eval` and stay in English.)

use crate::lesson::Lang;

#[derive(Debug)]
pub struct Words {
    /// {0}: the kinds not listed yet.
    pub reading: &'static str,
    /// {0}: stage number, {1}: stages.
    pub stage_prefix: &'static str,
    /// {0}: previous stage, {1}: what already holds.
    pub must_happen: &'static str,
    /// {0}: binding.
    pub not_bound: &'static str,
    /// {0}: kind, {1}: name, {2}: binding.
    pub waiting_delete: &'static str,
    /// {0}: pod, {1}: binding.
    pub no_owner: &'static str,
    /// {0}: pod, {1}: status, {2}: ready, {3}: total.
    pub replacement_is: &'static str,
    /// {0}: pod, {1}: binding.
    pub waiting_replacement: &'static str,
    /// {0}: binding, {1}: service.
    pub service_binding: &'static str,
    /// {0}: how many choices are right.
    pub quiz_wrong_many: &'static str,
    pub quiz_wrong: &'static str,
    /// {0}: pod, {1}: status.
    pub pod_is: &'static str,
    /// {0}: pod, {1}: status, {2}: why (kubelet message, last log line).
    pub pod_is_why: &'static str,
    /// {0}: pod, {1}: the scheduler's message.
    pub unschedulable: &'static str,
    /// {0}: pvc, {1}: phase, {2}: the last warning.
    pub pvc_is: &'static str,
}

pub static EN: Words = Words {
    reading: "reading the cluster (waiting for the first list of {0})…",
    stage_prefix: "step {0} of {1}: ",
    must_happen: "waiting for this to happen after step {0} ({1} already)",
    not_bound: "`{0}` is not bound",
    waiting_delete: "waiting for {0} {1} ({2}) to be deleted",
    no_owner: "pod {0} ({1}) has no owner, so nothing replaces it: run it with a Deployment",
    replacement_is: "replacement pod {0} is {1} ({2}/{3} ready)",
    waiting_replacement: "waiting for a new pod to replace {0} ({1})",
    service_binding: "`{0}` is service {1}, which several pods serve: probe one pod (`pod: {selector: ...}`) so the checker knows which one answered",
    quiz_wrong_many: "not quite: {0} choices are right, try again",
    quiz_wrong: "not quite: try again",
    pod_is: "pod {0} is {1}",
    pod_is_why: "pod {0} is {1}: {2}",
    unschedulable: "pod {0} cannot be scheduled: {1}",
    pvc_is: "pvc {0} is {1}: {2}",
};

pub static FR: Words = Words {
    reading: "lecture du cluster (en attente de la première liste des {0})…",
    stage_prefix: "étape {0} sur {1} : ",
    must_happen: "en attente que cela se produise après l'étape {0} (déjà vrai : {1})",
    not_bound: "`{0}` n'est pas lié",
    waiting_delete: "en attente de la suppression de {0} {1} ({2})",
    no_owner: "le pod {0} ({1}) n'a pas de propriétaire, rien ne le remplacera : lancez-le avec un Deployment",
    replacement_is: "le pod de remplacement {0} est {1} ({2}/{3} prêts)",
    waiting_replacement: "en attente d'un nouveau pod pour remplacer {0} ({1})",
    service_binding: "`{0}` est le service {1}, servi par plusieurs pods : sondez un seul pod (`pod: {selector: ...}`) pour savoir lequel a répondu",
    quiz_wrong_many: "pas tout à fait : {0} réponses sont justes, réessayez",
    quiz_wrong: "pas tout à fait : réessayez",
    pod_is: "le pod {0} est {1}",
    pod_is_why: "le pod {0} est {1} : {2}",
    unschedulable: "le pod {0} ne peut pas être placé : {1}",
    pvc_is: "le pvc {0} est {1} : {2}",
};

pub fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

/// Replaces `{0}`, `{1}`... with `args` (as `tui::strings::fill`; the
/// checker does not depend on the UI).
pub fn fill(template: &str, args: &[&dyn std::fmt::Display]) -> String {
    let mut s = template.to_owned();
    for (i, a) in args.iter().enumerate() {
        s = s.replace(&format!("{{{i}}}"), &a.to_string());
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_languages_fill_the_same_placeholders() {
        let pairs = [
            (super::EN.reading, super::FR.reading),
            (super::EN.stage_prefix, super::FR.stage_prefix),
            (super::EN.must_happen, super::FR.must_happen),
            (super::EN.waiting_delete, super::FR.waiting_delete),
            (super::EN.no_owner, super::FR.no_owner),
            (super::EN.replacement_is, super::FR.replacement_is),
            (super::EN.waiting_replacement, super::FR.waiting_replacement),
            (super::EN.service_binding, super::FR.service_binding),
            (super::EN.quiz_wrong_many, super::FR.quiz_wrong_many),
            (super::EN.pod_is, super::FR.pod_is),
            (super::EN.pod_is_why, super::FR.pod_is_why),
            (super::EN.unschedulable, super::FR.unschedulable),
            (super::EN.pvc_is, super::FR.pvc_is),
        ];
        for (en, fr) in pairs {
            for i in 0..4 {
                let p = format!("{{{i}}}");
                assert_eq!(en.contains(&p), fr.contains(&p), "{en} / {fr}");
            }
        }
    }
}
