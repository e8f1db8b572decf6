//! Watches: newline-delimited JSON events streamed over a chunked response,
//! replayed from a resourceVersion, with bookmarks and timeouts, and an
//! ERROR 410 event when the requested version is older than what is kept.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::apiserver::http::Body;
use crate::apiserver::table;
use crate::machinery::resources::ResourceDef;
use crate::machinery::selectors::{self, FieldSelector, LabelSelector};
use crate::machinery::status::ApiError;
use crate::storage::store::{Event, EventType, Obj, Store};

/// Upstream picks a random timeout between 30 and 60 minutes; one value is enough here.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);

/// What a watch request asked for.
pub struct WatchOptions {
    pub res: &'static ResourceDef,
    pub ns: Option<String>,
    pub label: LabelSelector,
    pub field: FieldSelector,
    /// "" or "0": start with the current objects; else replay after it.
    pub resource_version: String,
    pub timeout: Option<Duration>,
    pub bookmarks: bool,
    /// One-row Tables instead of objects.
    pub table: bool,
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
fn expired(requested: u64, oldest: u64) -> Value {
    let e = ApiError::gone(format!("too old resource version: {requested} ({oldest})"));
    json!({"type": "ERROR", "object": e.to_status()})
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
}

/// Starts a watch and answers with its streamed body.
pub fn serve(store: Store, o: WatchOptions) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut enc = Encoder {
        res: o.res,
        table: o.table,
        columns_sent: false,
    };
    let mut initial: Vec<Bytes> = Vec::new();
    let mut live: Option<(broadcast::Receiver<Arc<Event>>, u64)> = None;
    match o.resource_version.as_str() {
        "" | "0" => {
            let (items, rv, rx) = store.list_and_subscribe(o.res, o.ns.as_deref());
            for obj in items.iter().filter(|x| o.matches(x)) {
                initial.push(enc.line("ADDED", obj));
            }
            live = Some((rx, rv));
        }
        rv => match rv.parse::<u64>() {
            Err(_) => {
                let e = ApiError::bad_request(format!("invalid resource version: {rv:?}"));
                initial.push(line_value(
                    &json!({"type": "ERROR", "object": e.to_status()}),
                ));
            }
            Ok(n) => match store.watch_from(n) {
                Err(oldest) => initial.push(line_value(&expired(n, oldest))),
                Ok((replay, rx)) => {
                    let mut last = n;
                    for e in replay {
                        last = e.rv;
                        if let Some(kind) = o.view(&e) {
                            initial.push(enc.line(kind, &e.object));
                        }
                    }
                    live = Some((rx, last));
                }
            },
        },
    }
    tokio::spawn(async move {
        for b in initial {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        let Some((mut events, mut progress)) = live else {
            return;
        };
        let deadline = tokio::time::sleep(o.timeout.unwrap_or(DEFAULT_TIMEOUT));
        tokio::pin!(deadline);
        let mut bookmarks = tokio::time::interval(BOOKMARK_EVERY);
        bookmarks.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = store.closed() => return,
                _ = tx.closed() => return,
                _ = bookmarks.tick(), if o.bookmarks => {
                    let obj = json!({"kind": o.res.kind, "apiVersion": o.res.api_version(),
                                     "metadata": {"resourceVersion": progress.to_string()}});
                    if tx.send(line_value(&json!({"type": "BOOKMARK", "object": obj}))).await.is_err() {
                        return;
                    }
                }
                ev = events.recv() => match ev {
                    Ok(e) => {
                        if e.rv <= progress {
                            continue;
                        }
                        progress = e.rv;
                        if let Some(kind) = o.view(&e)
                            && tx.send(enc.line(kind, &e.object)).await.is_err() {
                                return;
                            }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let _ = tx.send(line_value(&expired(progress, store.resource_version()))).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(Frame::data(b)), rx))
    });
    let mut resp = Response::new(StreamBody::new(stream).boxed());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
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
        assert_eq!(expired(3, 9)["object"]["code"], 410);
        assert_eq!(
            expired(3, 9)["object"]["message"],
            "too old resource version: 3 (9)"
        );
    }
}
