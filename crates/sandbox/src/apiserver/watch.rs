//! Watches: newline-delimited JSON events streamed over a chunked
//! response, as upstream's watch cache serves them.
//!
//! - Watch-list (`sendInitialEvents=true&resourceVersionMatch=NotOlderThan`,
//!   what client-go 1.35's reflectors send, and what a watch from
//!   resourceVersion "" or "0" defaults to): the current objects as ADDED
//!   events, then one BOOKMARK annotated `k8s.io/initial-events-end: "true"`
//!   (when bookmarks are allowed), then the changes.
//! - From a resourceVersion: the changes after it, replayed from the
//!   feed; an ERROR 410 event when it is older than what the feed keeps.
//! - Bookmarks every 30 s when allowed; the stream ends at the timeout.
//!
//! The body is pulled, not pushed: each event is encoded when the client
//! is ready for it, so a slow client holds a cursor into the feed, never
//! a queue of copies. Each client may hold at most [`MAX_WATCHES_PER_CLIENT`]
//! watches at once (429 beyond), so a flood of watches cannot grow memory
//! without bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};

use crate::apiserver::table;
use crate::machinery::http::Body;
use crate::machinery::meta::lock;
use crate::machinery::resources::ResourceDef;
use crate::machinery::selectors::{self, FieldSelector, LabelSelector};
use crate::machinery::status::{ApiError, Cause};
use crate::storage::feed::{Event, EventType, FeedError, Subscription};
use crate::storage::store::{Obj, Store};

/// Upstream picks a random timeout between 30 and 60 minutes; one value is enough here.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);
/// The annotation of the bookmark that ends a watch-list's initial events.
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";
/// How many watches one client (one bearer token) may hold open at once.
pub const MAX_WATCHES_PER_CLIENT: usize = 1_000;

/// What a watch request asked for.
pub struct WatchOptions {
    pub res: &'static ResourceDef,
    pub ns: Option<String>,
    pub label: LabelSelector,
    pub field: FieldSelector,
    /// "" or "0": from the current objects; else the changes after it.
    pub resource_version: String,
    /// Send the current objects first (watch-list), after defaulting.
    pub send_initial_events: bool,
    pub timeout: Option<Duration>,
    pub bookmarks: bool,
    /// One-row Tables instead of objects.
    pub table: bool,
}

/// The `sendInitialEvents` and `resourceVersionMatch` of a watch, checked
/// and defaulted as upstream's `ListOptions` validation does; answers
/// whether the watch starts with the current objects.
pub fn list_options(query: &HashMap<String, String>) -> Result<bool, ApiError> {
    let sie = match query.get("sendInitialEvents").map(String::as_str) {
        None => None,
        Some("true" | "1") => Some(true),
        Some(_) => Some(false),
    };
    let rvm = query
        .get("resourceVersionMatch")
        .map(String::as_str)
        .filter(|m| !m.is_empty());
    let rv = query.get("resourceVersion").map_or("", String::as_str);
    let mut causes = Vec::new();
    match (sie, rvm) {
        (Some(_), m) if m != Some("NotOlderThan") => {
            causes.push(Cause::forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        (None, Some(_)) => causes.push(Cause::forbidden(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        )),
        _ => {}
    }
    if let Some(m) = rvm
        && m != "NotOlderThan"
    {
        causes.push(Cause::unsupported(
            "resourceVersionMatch",
            m,
            &["NotOlderThan"],
        ));
    }
    if rvm.is_some() && query.get("continue").is_some_and(|c| !c.is_empty()) {
        causes.push(Cause::forbidden(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden when continue is provided",
        ));
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid_kind(
            "meta.k8s.io",
            "ListOptions",
            "",
            causes,
        ));
    }
    // A watch from "now" without either option starts with the current
    // objects, as it always did (and now ends them with the bookmark).
    Ok(sie.unwrap_or(rv.is_empty() || rv == "0"))
}

/// The same checks for a list (no watch).
pub fn check_list_options(query: &HashMap<String, String>) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    if query.contains_key("sendInitialEvents") {
        causes.push(Cause::forbidden(
            "sendInitialEvents",
            "sendInitialEvents is forbidden for list",
        ));
    }
    let rv = query.get("resourceVersion").map_or("", String::as_str);
    if let Some(m) = query.get("resourceVersionMatch").filter(|m| !m.is_empty()) {
        if rv.is_empty() {
            causes.push(Cause::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if query.get("continue").is_some_and(|c| !c.is_empty()) {
            causes.push(Cause::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
        match m.as_str() {
            "Exact" if rv == "0" => causes.push(Cause::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            )),
            "Exact" | "NotOlderThan" => {}
            other => causes.push(Cause::unsupported(
                "resourceVersionMatch",
                other,
                &["Exact", "NotOlderThan", ""],
            )),
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_kind(
            "meta.k8s.io",
            "ListOptions",
            "",
            causes,
        ))
    }
}

impl WatchOptions {
    fn matches(&self, obj: &Obj) -> bool {
        self.ns.as_deref().is_none_or(|ns| *obj.ns == *ns)
            && selectors::selects(&self.label, &self.field, obj)
    }

    /// The event type this watcher sees for a change, if any (objects
    /// moving in or out of the selection become ADDED or DELETED).
    fn view(&self, e: &Event) -> Option<&'static str> {
        if !same(e.resource, self.res) {
            return None;
        }
        let now = self.matches(&e.object);
        match e.kind {
            EventType::Added => now.then_some("ADDED"),
            EventType::Deleted => now.then_some("DELETED"),
            EventType::Modified => {
                let before = e.old.as_deref().is_some_and(|o| self.matches(o));
                match (before, now) {
                    (true, true) => Some("MODIFIED"),
                    (false, true) => Some("ADDED"),
                    (true, false) => Some("DELETED"),
                    (false, false) => None,
                }
            }
        }
    }
}

fn same(a: &ResourceDef, b: &ResourceDef) -> bool {
    std::ptr::eq(a, b) || (a.group == b.group && a.plural == b.plural)
}

/// The ERROR event for a version that is no longer kept.
fn expired(requested: u64, oldest: u64) -> Bytes {
    let e = ApiError::gone(format!("too old resource version: {requested} ({oldest})"));
    line_value(&json!({"type": "ERROR", "object": e.to_status()}))
}

struct Encoder {
    res: &'static ResourceDef,
    table: bool,
    columns_sent: bool,
}

impl Encoder {
    fn line(&mut self, kind: &str, stored: &Obj) -> Bytes {
        let object = if self.table {
            let obj = stored.value();
            let rv = obj["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let t = table::table(self.res, [obj], &rv, None, true, !self.columns_sent);
            self.columns_sent = true;
            std::borrow::Cow::Owned(t)
        } else {
            // The stored bytes are the object's JSON: no need to parse it.
            std::borrow::Cow::Borrowed(stored.json())
        };
        let mut out = Vec::with_capacity(object.len() + 32);
        out.extend_from_slice(b"{\"type\":\"");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\",\"object\":");
        out.extend_from_slice(&object);
        out.extend_from_slice(b"}\n");
        Bytes::from(out)
    }

    /// A BOOKMARK: an empty object of the kind with the resourceVersion
    /// (and the initial-events-end annotation when it ends them).
    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({INITIAL_EVENTS_END: "true"});
        }
        let obj = json!({"kind": self.res.kind, "apiVersion": self.res.api_version(),
            "metadata": meta});
        line_value(&json!({"type": "BOOKMARK", "object": obj}))
    }
}

/// How many watches each client holds; a slot is given back when its
/// watch's body is dropped (the client went away, or the watch ended).
#[derive(Default, Debug)]
pub struct WatchSlots {
    held: Mutex<HashMap<String, usize>>,
}

/// One held watch slot.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<WatchSlots>,
    client: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = lock(&self.slots.held);
        if let Some(n) = held.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.client);
            }
        }
    }
}

impl WatchSlots {
    /// A slot for `client`, or the 429 upstream answers when it holds too many.
    pub fn take(self: &Arc<Self>, client: &str) -> Result<Slot, ApiError> {
        let mut held = lock(&self.held);
        let n = held.entry(client.to_string()).or_default();
        if *n >= MAX_WATCHES_PER_CLIENT {
            let mut e = ApiError::new(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
            );
            e.details = Some(json!({"retryAfterSeconds": 1}));
            return Err(e);
        }
        *n += 1;
        Ok(Slot {
            slots: self.clone(),
            client: client.to_string(),
        })
    }

    /// How many watches a client holds now.
    #[cfg(test)]
    pub fn held(&self, client: &str) -> usize {
        lock(&self.held).get(client).copied().unwrap_or(0)
    }
}

/// The state of one watch's body between two events.
struct Stream {
    store: Store,
    o: WatchOptions,
    enc: Encoder,
    /// Lines to send before following the feed (initial events, replay).
    pending: std::collections::VecDeque<Bytes>,
    /// Current objects still to send as ADDED (encoded when pulled).
    initial: std::vec::IntoIter<Arc<Obj>>,
    /// The bookmark that ends the initial events, once they are sent.
    initial_end: Option<Bytes>,
    feed: Option<Subscription>,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    bookmarks: tokio::time::Interval,
    /// The resourceVersion of the last change seen.
    progress: u64,
    _slot: Slot,
}

impl Stream {
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(b) = self.pending.pop_front() {
            return Some(b);
        }
        for obj in self.initial.by_ref() {
            if self.o.matches(&obj) {
                return Some(self.enc.line("ADDED", &obj));
            }
        }
        if let Some(b) = self.initial_end.take() {
            return Some(b);
        }
        let feed = self.feed.as_mut()?;
        loop {
            tokio::select! {
                _ = &mut self.deadline => return None,
                _ = self.store.closed() => return None,
                _ = self.bookmarks.tick(), if self.o.bookmarks => {
                    return Some(self.enc.bookmark(self.progress, false));
                }
                ev = feed.recv() => match ev {
                    Ok(e) => {
                        self.progress = e.rv;
                        if let Some(kind) = self.o.view(&e) {
                            return Some(self.enc.line(kind, &e.object));
                        }
                    }
                    Err(FeedError::Lagged { oldest }) => {
                        let line = expired(self.progress, oldest);
                        self.feed = None;
                        return Some(line);
                    }
                    Err(_) => return None,
                },
            }
        }
    }
}

/// Starts a watch and answers with its streamed body.
pub fn serve(store: Store, o: WatchOptions, slot: Slot) -> Result<Response<Body>, ApiError> {
    let enc = Encoder {
        res: o.res,
        table: o.table,
        columns_sent: false,
    };
    let mut pending = std::collections::VecDeque::new();
    let mut initial = Vec::new();
    let mut initial_end = None;
    let mut feed = None;
    let mut progress = 0;
    let rv = match o.resource_version.as_str() {
        "" | "0" => None,
        rv => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv:?}")))?,
        ),
    };
    let current = store.resource_version();
    if let Some(n) = rv
        && n > current
    {
        let mut e = ApiError::new(
            504,
            "Timeout",
            format!("Timeout: Too large resource version: {n}, current: {current}"),
        );
        e.details = Some(json!({"causes": [{"reason": "ResourceVersionTooLarge",
            "message": "Too large resource version"}], "retryAfterSeconds": 1}));
        return Err(e);
    }
    if o.send_initial_events {
        let (items, snapshot, sub) = store.list_and_subscribe(o.res, o.ns.as_deref());
        initial = items;
        progress = snapshot;
        if o.bookmarks {
            initial_end = Some(enc.bookmark(snapshot, true));
        }
        feed = Some(sub);
    } else {
        let from = rv.unwrap_or(current);
        match store.watch_from(from) {
            Err(oldest) => pending.push_back(expired(from, oldest)),
            Ok(sub) => {
                progress = from;
                feed = Some(sub);
            }
        }
    }
    let mut bookmarks = tokio::time::interval(BOOKMARK_EVERY);
    bookmarks.reset();
    let state = Stream {
        deadline: Box::pin(tokio::time::sleep(o.timeout.unwrap_or(DEFAULT_TIMEOUT))),
        store,
        o,
        enc,
        pending,
        initial: initial.into_iter(),
        initial_end,
        feed,
        bookmarks,
        progress,
        _slot: slot,
    };
    let stream = futures::stream::unfold(state, |mut s| async move {
        s.next()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(Frame::data(b)), s))
    });
    let mut resp = Response::new(StreamBody::new(stream).boxed());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

fn line_value(v: &Value) -> Bytes {
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machinery::resources::{self};

    fn opts(label: &str) -> WatchOptions {
        WatchOptions {
            res: &resources::PODS,
            ns: Some("d".into()),
            label: LabelSelector::parse(label).unwrap(),
            field: FieldSelector::default(),
            resource_version: String::new(),
            send_initial_events: false,
            timeout: None,
            bookmarks: false,
            table: false,
        }
    }

    fn pod(app: &str) -> Arc<Obj> {
        Arc::new(Obj::of(
            &json!({"metadata": {"name": "p", "namespace": "d", "labels": {"app": app}}}),
        ))
    }

    fn ev(kind: EventType, old: Option<&str>, new: &str) -> Event {
        Event {
            kind,
            resource: &resources::PODS,
            object: pod(new),
            old: old.map(pod),
            rv: 5,
        }
    }

    #[test]
    fn objects_moving_in_and_out_of_the_selection() {
        let o = opts("app=web");
        assert_eq!(o.view(&ev(EventType::Added, None, "web")), Some("ADDED"));
        assert_eq!(o.view(&ev(EventType::Added, None, "db")), None);
        assert_eq!(
            o.view(&ev(EventType::Modified, Some("web"), "web")),
            Some("MODIFIED")
        );
        assert_eq!(
            o.view(&ev(EventType::Modified, Some("db"), "web")),
            Some("ADDED")
        );
        assert_eq!(
            o.view(&ev(EventType::Modified, Some("web"), "db")),
            Some("DELETED")
        );
        assert_eq!(o.view(&ev(EventType::Modified, Some("db"), "db")), None);
        assert_eq!(
            o.view(&ev(EventType::Deleted, Some("web"), "web")),
            Some("DELETED")
        );
        let mut other = ev(EventType::Added, None, "web");
        other.resource = &resources::CONFIG_MAPS;
        assert_eq!(o.view(&other), None);
        let line: Value = serde_json::from_slice(&expired(3, 9)).unwrap();
        assert_eq!(line["object"]["code"], 410);
        assert_eq!(line["object"]["message"], "too old resource version: 3 (9)");
    }

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn watch_list_options_are_checked_and_defaulted() {
        let wl = q(&[
            ("sendInitialEvents", "true"),
            ("resourceVersionMatch", "NotOlderThan"),
        ]);
        assert!(list_options(&wl).unwrap());
        // The defaults: from "now" means with the current objects.
        assert!(list_options(&q(&[])).unwrap());
        assert!(list_options(&q(&[("resourceVersion", "0")])).unwrap());
        assert!(!list_options(&q(&[("resourceVersion", "12")])).unwrap());
        let e = list_options(&q(&[("sendInitialEvents", "true")])).unwrap_err();
        assert_eq!(
            e.message,
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
        );
        let e = list_options(&q(&[("resourceVersionMatch", "NotOlderThan")])).unwrap_err();
        assert!(e.message.contains(
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"
        ));
        let e = check_list_options(&q(&[("sendInitialEvents", "true")])).unwrap_err();
        assert!(
            e.message
                .ends_with("sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list")
        );
    }

    #[test]
    fn a_client_holds_a_bounded_number_of_watches() {
        let slots = Arc::new(WatchSlots::default());
        let held: Vec<Slot> = (0..MAX_WATCHES_PER_CLIENT)
            .map(|_| slots.take("a").unwrap())
            .collect();
        assert_eq!(slots.take("a").unwrap_err().code, 429);
        assert!(slots.take("b").is_ok());
        drop(held);
        assert_eq!(slots.held("a"), 0);
        assert!(slots.take("a").is_ok());
    }
}
