//! The change feed: the ring of recent changes, bounded in events and in
//! bytes, that watches replay from a resourceVersion and follow, and that
//! the controllers' loop wakes on.
//!
//! Every subscriber is a cursor (the last resourceVersion it has seen)
//! into the one ring; nothing is copied per subscriber, so 10,000 watches
//! cost 10,000 cursors, and a slow reader pins no more than the ring
//! holds. A reader whose cursor falls behind the ring's start has lagged:
//! it gets [`FeedError::Lagged`] (a watch answers 410 Gone, as upstream's
//! watch cache does, and the client lists again).

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::machinery::resources::ResourceDef;
use crate::machinery::stored::Obj;

/// How many recent changes are kept at most (upstream's watch cache keeps
/// 100 per resource type by default, more under load).
pub(crate) const RING_EVENTS: usize = 1_024;
/// How many bytes of object versions the ring keeps at most: rewriting a
/// large object must not pin a copy of every version (each can be up to
/// the 1.5 MiB object limit).
pub(crate) const RING_BYTES: usize = 32 * 1024 * 1024;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change, as watchers and controllers see it.
#[derive(Debug)]
pub struct Event {
    pub kind: EventType,
    pub resource: &'static ResourceDef,
    /// The object after the change (for deletes: the last state, with the
    /// deletion's resourceVersion).
    pub object: Arc<Obj>,
    /// The object before the change (none for creates).
    pub old: Option<Arc<Obj>>,
    pub rv: u64,
}

impl Event {
    /// The bytes this event keeps alive (counted against [`RING_BYTES`]).
    fn weight(&self) -> usize {
        self.object.json().len() + self.old.as_ref().map_or(0, |o| o.json().len())
    }
}

/// The ring itself, shared by the store and every subscriber.
pub(crate) struct Ring {
    events: VecDeque<Arc<Event>>,
    bytes: usize,
    /// Readers may start from any resourceVersion >= this.
    start: u64,
}

/// The feed: the ring, the resourceVersion of its newest event (what
/// subscribers wait on), and the store's shutdown token.
pub(crate) struct Feed {
    ring: RwLock<Ring>,
    latest: watch::Sender<u64>,
    closing: CancellationToken,
}

/// Why a subscriber got no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedError {
    /// The changes after the cursor are no longer kept; `oldest` is the
    /// resourceVersion readers may start from now. The cursor has moved
    /// to the newest change, so the next read waits for new ones.
    Lagged { oldest: u64 },
    /// Nothing new yet (only from [`Subscription::try_recv`]).
    Empty,
    /// The store is closing.
    Closed,
}

impl Feed {
    pub(crate) fn new(rv: u64, closing: CancellationToken) -> Feed {
        Feed {
            ring: RwLock::new(Ring {
                events: VecDeque::new(),
                bytes: 0,
                start: rv,
            }),
            latest: watch::Sender::new(rv),
            closing,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Ring> {
        self.ring.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends durable changes (in resourceVersion order) and wakes every
    /// subscriber; the oldest changes go when the ring is over its bounds.
    pub(crate) fn publish(&self, batch: &[Arc<Event>]) {
        let Some(last) = batch.last() else {
            return;
        };
        {
            let mut ring = self.ring.write().unwrap_or_else(|e| e.into_inner());
            for ev in batch {
                ring.bytes += ev.weight();
                ring.events.push_back(ev.clone());
            }
            while ring.events.len() > RING_EVENTS
                || (ring.bytes > RING_BYTES && ring.events.len() > 1)
            {
                let Some(dropped) = ring.events.pop_front() else {
                    break;
                };
                ring.bytes -= dropped.weight();
                ring.start = dropped.rv;
            }
        }
        self.latest.send_replace(last.rv);
    }

    /// The resourceVersion readers may start from.
    pub(crate) fn oldest(&self) -> u64 {
        self.read().start
    }

    /// How many bytes the ring holds now.
    pub(crate) fn bytes(&self) -> usize {
        self.read().bytes
    }
}

/// A reader of the feed: a cursor, woken when changes are published.
pub struct Subscription {
    feed: Arc<Feed>,
    cursor: u64,
    wake: watch::Receiver<u64>,
}

impl Subscription {
    /// A reader of the changes after `rv`; `Err(oldest)` when those are
    /// no longer kept.
    pub(crate) fn after(feed: &Arc<Feed>, rv: u64) -> Result<Subscription, u64> {
        let start = feed.oldest();
        if rv < start {
            return Err(start);
        }
        Ok(Subscription {
            feed: feed.clone(),
            cursor: rv,
            wake: feed.latest.subscribe(),
        })
    }

    /// A reader of the changes after `rv`, or after the oldest change
    /// kept when `rv` is older (the current version never is).
    pub(crate) fn at_least(feed: &Arc<Feed>, rv: u64) -> Subscription {
        Subscription {
            feed: feed.clone(),
            cursor: rv.max(feed.oldest()),
            wake: feed.latest.subscribe(),
        }
    }

    /// The resourceVersion of the last change this reader has seen.
    #[cfg(test)]
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// The next change after the cursor, if the ring has it.
    pub fn try_recv(&mut self) -> Result<Arc<Event>, FeedError> {
        if self.feed.closing.is_cancelled() {
            return Err(FeedError::Closed);
        }
        let ring = self.feed.read();
        if self.cursor < ring.start {
            let oldest = ring.start;
            self.cursor = ring.events.back().map_or(oldest, |e| e.rv);
            return Err(FeedError::Lagged { oldest });
        }
        let at = ring.events.partition_point(|e| e.rv <= self.cursor);
        match ring.events.get(at) {
            Some(ev) => {
                self.cursor = ev.rv;
                Ok(ev.clone())
            }
            None => Err(FeedError::Empty),
        }
    }

    /// Waits for the next change after the cursor.
    pub async fn recv(&mut self) -> Result<Arc<Event>, FeedError> {
        loop {
            match self.try_recv() {
                Err(FeedError::Empty) => {}
                other => return other,
            }
            // Mark the current value seen before looking again, so a
            // publish between the look and the wait is not missed.
            self.wake.borrow_and_update();
            match self.try_recv() {
                Err(FeedError::Empty) => {}
                other => return other,
            }
            tokio::select! {
                changed = self.wake.changed() => {
                    if changed.is_err() {
                        return Err(FeedError::Closed);
                    }
                }
                _ = self.feed.closing.cancelled() => return Err(FeedError::Closed),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machinery::resources;
    use serde_json::json;

    fn ev(rv: u64, size: usize) -> Arc<Event> {
        let obj =
            json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"k": "x".repeat(size)}});
        Arc::new(Event {
            kind: EventType::Modified,
            resource: &resources::CONFIG_MAPS,
            object: Arc::new(Obj::of(&obj)),
            old: None,
            rv,
        })
    }

    #[tokio::test]
    async fn readers_follow_replay_and_lag() {
        let feed = Arc::new(Feed::new(10, CancellationToken::new()));
        let mut sub = Subscription::after(&feed, 10).unwrap();
        assert_eq!(sub.try_recv().unwrap_err(), FeedError::Empty);
        feed.publish(&[ev(11, 1), ev(12, 1)]);
        assert_eq!(sub.recv().await.unwrap().rv, 11);
        assert_eq!(sub.recv().await.unwrap().rv, 12);
        let mut late = Subscription::after(&feed, 11).unwrap();
        assert_eq!(late.try_recv().unwrap().rv, 12);
        // Big versions push the old ones out: bounded in bytes.
        for rv in 13..60 {
            feed.publish(&[ev(rv, 2 * 1024 * 1024)]);
        }
        assert!(feed.bytes() <= RING_BYTES, "{}", feed.bytes());
        assert!(Subscription::after(&feed, 12).is_err());
        match sub.try_recv() {
            Err(FeedError::Lagged { oldest }) => assert!(oldest > 12),
            other => panic!("{other:?}"),
        }
        assert_eq!(sub.cursor(), 59);
        assert_eq!(sub.try_recv().unwrap_err(), FeedError::Empty);
    }
}
