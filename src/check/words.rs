//! The checker's own sentences in each course language: what the engine
//! says about sequences, replacements, quizzes and pods in trouble, and the
//! phrase book for the details of a condition ("deployment msg-api: not
//! ready (0/1)"), which `eval` writes as English templates passed to
//! [`Words::say`].

use crate::text::Lang;
pub use crate::text::fill;

#[derive(Debug)]
pub struct Words {
    /// Which column of [`DETAILS`] `say` reads.
    pub lang: Lang,
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
    lang: Lang::En,
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
    lang: Lang::Fr,
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

impl Words {
    /// A condition's detail in the course language: `en` is the English
    /// template, looked up in [`DETAILS`]; `{0}`, `{1}`... take `args`.
    /// A template missing from the book stays English (a test makes sure
    /// none is).
    pub fn say(&self, en: &'static str, args: &[&dyn std::fmt::Display]) -> String {
        let template = match self.lang {
            Lang::En => en,
            Lang::Fr => DETAILS
                .iter()
                .find(|(e, _)| *e == en)
                .map_or(en, |(_, fr)| *fr),
        };
        fill(template, args)
    }
}

/// The phrase book of condition details: (English, French). Kind names
/// (pod, pvc, configmap), field paths, states like Bound or
/// CrashLoopBackOff stay as kubectl prints them.
pub static DETAILS: &[(&str, &str)] = &[
    // combinators and resources
    ("{0} {1} still matches", "{0} {1} correspond encore"),
    ("{0} {1} still match", "{0} {1} correspondent encore"),
    ("{0} {1} still exists", "{0} {1} existe encore"),
    ("{0} {1} still exist", "{0} {1} existent encore"),
    ("not yet: {0}", "pas encore : {0}"),
    (" named {0}", " nommé {0}"),
    (" with labels {0}", " avec les labels {0}"),
    (" in namespace {0}", " dans le namespace {0}"),
    ("no {0}", "aucun {0}"),
    ("{0} {1} match", "{0} {1} correspondent"),
    ("no {0} matches", "aucun {0} ne correspond"),
    (
        "{0} {1} matches, expected {2}",
        "{0} {1} correspond, attendu : {2}",
    ),
    (
        "{0} {1} match, expected {2}",
        "{0} {1} correspondent, attendu : {2}",
    ),
    (" and ", " et "),
    // properties of an object
    ("not ready ({0})", "pas prêt ({0})"),
    ("ready ({0})", "prêt ({0})"),
    ("unknown", "inconnue"),
    ("phase is {0}, not {1}", "la phase est {0}, pas {1}"),
    ("not a pod", "ce n'est pas un pod"),
    ("not a PVC", "ce n'est pas un PVC"),
    ("has no pod spec", "n'a pas de spec de pod"),
    ("has no container", "n'a pas de conteneur"),
    ("reading its log…", "lecture de ses logs…"),
    (
        "cannot read the log of {0}: {1}",
        "impossible de lire les logs de {0} : {1}",
    ),
    (
        "the log of {0} does not contain \"{1}\"",
        "les logs de {0} ne contiennent pas « {1} »",
    ),
    (
        "the log (previous run) of {0} does not contain \"{1}\"",
        "les logs (exécution précédente) de {0} ne contiennent pas « {1} »",
    ),
    ("has no {0} event", "n'a pas d'événement {0}"),
    (
        "its last {0} event is {1}, not {2}",
        "son dernier événement {0} est {1}, pas {2}",
    ),
    (
        "its last {0} event ({1}) does not say \"{2}\"",
        "son dernier événement {0} ({1}) ne dit pas « {2} »",
    ),
    // containers
    (
        "container {0} is {1}, not {2}",
        "le conteneur {0} est {1}, pas {2}",
    ),
    (
        "container {0} is {1}{2}, not {3}",
        "le conteneur {0} est {1}{2}, pas {3}",
    ),
    (
        "container {0} last ended {1}, not {2}",
        "le conteneur {0} s'est arrêté la dernière fois en {1}, pas {2}",
    ),
    ("never", "jamais"),
    (
        "container {0} restarted {1} times, expected {2}",
        "le conteneur {0} a redémarré {1} fois, attendu : {2}",
    ),
    (
        "no status yet for container {0}",
        "pas encore de statut pour le conteneur {0}",
    ),
    (
        "no container status yet",
        "pas encore de statut de conteneur",
    ),
    ("waiting", "en attente"),
    ("running", "en cours d'exécution"),
    ("terminated", "terminé"),
    // claims and volumes
    (
        "is {0}, not bound to a volume yet",
        "est {0}, pas encore lié à un volume",
    ),
    ("is {0}, not Bound", "est {0}, pas Bound"),
    ("is bound to {0}, not {1}", "est lié à {0}, pas à {1}"),
    (
        "is bound to {0}, which is not visible yet",
        "est lié à {0}, qui n'est pas encore visible",
    ),
    (
        "volume {0} has storage class `{1}`, not `{2}`",
        "le volume {0} a la storage class `{1}`, pas `{2}`",
    ),
    (
        "volume {0} has reclaim policy {1}, not {2}",
        "le volume {0} a la reclaim policy {1}, pas {2}",
    ),
    (
        "volume {0} has capacity {1}, expected {2}",
        "le volume {0} a une capacité de {1}, attendu : {2}",
    ),
    (
        "volume {0} does not offer {1}",
        "le volume {0} n'offre pas {1}",
    ),
    (
        "volume {0} is not a {1} volume",
        "le volume {0} n'est pas un volume {1}",
    ),
    (
        "has no {0} volume from {1}",
        "n'a pas de volume {0} venant de {1}",
    ),
    ("has no {0} volume", "n'a pas de volume {0}"),
    (
        "its {0} volume {1} is mounted at {2} in {3}, not {4}",
        "son volume {0} {1} est monté sur {2} dans {3}, pas sur {4}",
    ),
    (
        "its {0} volume {1} is mounted read-write in {2}",
        "son volume {0} {1} est monté en lecture-écriture dans {2}",
    ),
    (
        "its {0} volume {1} is mounted read-only in {2}",
        "son volume {0} {1} est monté en lecture seule dans {2}",
    ),
    (
        "container {0} does not mount its {1} volume",
        "le conteneur {0} ne monte pas son volume {1}",
    ),
    (
        "no container mounts a {0} volume at {1}",
        "aucun conteneur ne monte de volume {0} sur {1}",
    ),
    (
        "no container mounts its {0} volume",
        "aucun conteneur ne monte son volume {0}",
    ),
    // environment
    (
        "container {0} sets {1} but not from {2}",
        "le conteneur {0} définit {1} mais pas depuis {2}",
    ),
    (
        "configmap {0} has no key {1}",
        "le configmap {0} n'a pas de clé {1}",
    ),
    ("no container sets {0}", "aucun conteneur ne définit {0}"),
    (
        "no container takes {0} from {1}",
        "aucun conteneur ne prend {0} depuis {1}",
    ),
    ("configmap {0} key {1}", "la clé {1} du configmap {0}"),
    ("secret {0} key {1}", "la clé {1} du secret {0}"),
    ("the value \"{0}\"", "la valeur « {0} »"),
    ("anywhere", "n'importe où"),
    // field matchers
    ("the response", "la réponse"),
    ("{0} is missing", "{0} est absent"),
    ("{0} is set ({1})", "{0} est défini ({1})"),
    ("{0} is {1}, not {2}", "{0} vaut {1}, pas {2}"),
    ("{0} is {1}", "{0} vaut {1}"),
    (
        "{0} is {1}, which does not match /{2}/",
        "{0} vaut {1}, qui ne correspond pas à /{2}/",
    ),
    ("{0} does not contain {1}", "{0} ne contient pas {1}"),
    ("{0} is {1}, expected {2}", "{0} vaut {1}, attendu : {2}"),
    (
        "{0} is {1}, not a number",
        "{0} vaut {1}, ce n'est pas un nombre",
    ),
    (
        "{0} has {1} item, expected {2}",
        "{0} a {1} élément, attendu : {2}",
    ),
    (
        "{0} has {1} items, expected {2}",
        "{0} a {1} éléments, attendu : {2}",
    ),
    ("{0} has no length", "{0} n'a pas de longueur"),
    (
        "nothing was seen by `{0}` to compare with",
        "rien n'a été vu par `{0}` pour comparer",
    ),
    (
        "{0} no longer holds what the first probe saw ({1})",
        "{0} ne contient plus ce que la première sonde a vu ({1})",
    ),
    ("{0} does not match", "{0} ne correspond pas"),
    // HTTP probes
    (
        "no service {0} in namespace {1}",
        "aucun service {0} dans le namespace {1}",
    ),
    ("service {0} has no port", "le service {0} n'a pas de port"),
    (
        "service {0} has no ready pod behind it",
        "le service {0} n'a aucun pod prêt derrière lui",
    ),
    ("the probe has no target", "la sonde n'a pas de cible"),
    (
        "no pod {0} in namespace {1}",
        "aucun pod {0} dans le namespace {1}",
    ),
    (
        "no ready pod with labels {0}",
        "aucun pod prêt avec les labels {0}",
    ),
    ("`{0}` is not bound yet", "`{0}` n'est pas encore lié"),
    ("pod {0} ({1}) is gone", "le pod {0} ({1}) a disparu"),
    (
        "pod {0} ({1}) is being deleted",
        "le pod {0} ({1}) est en cours de suppression",
    ),
    (
        "`pod:` needs `name`, `selector` or `ref`",
        "`pod:` demande `name`, `selector` ou `ref`",
    ),
    (
        "pod {0} declares no port: give `port:`",
        "le pod {0} ne déclare aucun port : indiquez `port:`",
    ),
    ("probing {0}…", "sondage de {0}…"),
    ("{0} answered as expected", "{0} a répondu comme attendu"),
    ("{0} did not answer: {1}", "{0} n'a pas répondu : {1}"),
    ("no answer within {0} s", "pas de réponse en {0} s"),
    (
        "{0} {1} answered {2}, expected {3}",
        "{0} {1} a répondu {2}, attendu : {3}",
    ),
    ("{0} {1} answered {2}", "{0} {1} a répondu {2}"),
    (
        "{0} {1}: the answer does not contain \"{2}\"",
        "{0} {1} : la réponse ne contient pas « {2} »",
    ),
    (
        "{0} {1}: the answer is not JSON",
        "{0} {1} : la réponse n'est pas du JSON",
    ),
    ("{0} {1}: {2}", "{0} {1} : {2}"),
    // sequence stages (engine)
    ("{0} {1} was deleted", "{0} {1} a été supprimé"),
    ("pod {0} replaced {1}", "le pod {0} a remplacé {1}"),
];

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
        let details = super::DETAILS.iter().copied();
        for (en, fr) in pairs.into_iter().chain(details) {
            for i in 0..6 {
                let p = format!("{{{i}}}");
                assert_eq!(en.contains(&p), fr.contains(&p), "{en} / {fr}");
            }
        }
    }

    /// Every English template `eval` and the engine pass to `say` is in the
    /// phrase book once, and every entry of the book is used.
    #[test]
    fn the_phrase_book_covers_every_detail() {
        // Templates are the literals passed to `say`, and those of a
        // `let template = if/match ...;` that picks one before saying it.
        let said = regex::Regex::new(r#"\.say\(\s*"((?:[^"\\]|\\.)*)""#).unwrap();
        let picked = regex::Regex::new(r"(?s)let template = (?:if|match)[^;]*;").unwrap();
        let literal = regex::Regex::new(r#""((?:[^"\\]|\\.)*)""#).unwrap();
        let unescape = |s: &str| s.replace("\\\"", "\"");
        let mut used = std::collections::BTreeSet::new();
        for src in [include_str!("eval.rs"), include_str!("engine.rs")] {
            used.extend(said.captures_iter(src).map(|c| unescape(&c[1])));
            for block in picked.find_iter(src) {
                used.extend(
                    literal
                        .captures_iter(block.as_str())
                        .map(|c| unescape(&c[1])),
                );
            }
        }
        assert!(used.len() > 50, "found only {} templates", used.len());
        let mut keys = std::collections::BTreeSet::new();
        for (en, _) in super::DETAILS {
            assert!(keys.insert(en.to_string()), "twice in the book: {en:?}");
            assert!(used.contains(*en), "in the book but never said: {en:?}");
        }
        for en in &used {
            assert!(keys.contains(en), "no French for {en:?}");
        }
    }

    #[test]
    fn say_translates_and_fill_is_one_pass() {
        assert_eq!(
            super::FR.say("{0} is missing", &[&"data.k"]),
            "data.k est absent"
        );
        assert_eq!(
            super::EN.say("{0} is missing", &[&"data.k"]),
            "data.k is missing"
        );
        assert_eq!(super::fill("{0} and {1}", &[&"{1}", &"x"]), "{1} and x");
        assert_eq!(super::fill("{ {9} {x}", &[&"a"]), "{ {9} {x}");
    }
}
