//! The MQTT connection cap (`--mqtt-max-connections`), shared by both ports.
//!
//! A connection takes a slot when it is accepted and gives it back when it closes. Until it
//! has logged in (its CONNECT accepted), its hold is weak: when every slot is taken, a new
//! connection closes the **oldest connection that has not logged in** and takes its slot.
//! Only when every slot is a logged-in session is a new connection closed at accept. So
//! sockets that never log in (idle, slow, or a flood of them) cannot keep a device with valid
//! credentials out: it is the newest connection, it logs in within milliseconds, and once
//! logged in its slot is its own. Why this and not a separate budget for anonymous
//! connections: docs/limits.md, "MQTT connections".

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// The slots of both listeners.
#[derive(Debug)]
pub struct Slots {
    cap: usize,
    occupancy: Mutex<Occupancy>,
}

#[derive(Debug, Default)]
struct Occupancy {
    /// Slots held: connections not logged in plus sessions.
    held: usize,
    /// Connections not logged in, oldest first (ids grow with each accept).
    waiting: BTreeMap<u64, Arc<Notify>>,
    next_id: u64,
}

/// What a connection is told at accept.
#[derive(Debug)]
pub enum Admission {
    /// A slot of its own: a free one, or that of the oldest connection not logged in, which
    /// has been told to close.
    Admitted(Slot),
    /// Every slot is a logged-in session: the connection is closed at accept.
    Full,
}

/// One connection's slot, given back when it is dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
    opened: Instant,
    /// Notified when the slot is taken for a newer connection (it had not logged in).
    taken: Arc<Notify>,
    logged_in: AtomicBool,
}

impl Slots {
    pub fn new(cap: usize) -> Arc<Slots> {
        Arc::new(Slots {
            cap: cap.max(1),
            occupancy: Mutex::default(),
        })
    }

    /// The most connections open at once.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// A slot for a connection just accepted: a free one, or the slot of the oldest
    /// connection not logged in (which is told to close), or none.
    pub fn admit(self: &Arc<Self>) -> Admission {
        let taken = Arc::new(Notify::new());
        let opened = Instant::now();
        let mut occupancy = self.occupancy.lock();
        if occupancy.held < self.cap {
            occupancy.held += 1;
        } else if let Some((_, oldest)) = occupancy.waiting.pop_first() {
            // The slot passes to the new connection; the old one is told to close.
            oldest.notify_one();
        } else {
            return Admission::Full;
        }
        let id = occupancy.next_id;
        occupancy.next_id += 1;
        occupancy.waiting.insert(id, taken.clone());
        drop(occupancy);
        let slot = Slot {
            slots: self.clone(),
            id,
            opened,
            taken,
            logged_in: AtomicBool::new(false),
        };
        Admission::Admitted(slot)
    }

    /// Slots held now (connections open, as far as the cap counts them).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.occupancy.lock().held
    }

    /// Connections open and not logged in.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.occupancy.lock().waiting.len()
    }
}

impl Slot {
    /// Completes when the slot has been taken for a newer connection: the connection has not
    /// logged in and must close. Never completes once it has logged in.
    pub async fn taken(&self) {
        self.taken.notified().await;
    }

    /// Why the connection was closed once its slot was [`taken`](Self::taken): `stage` is
    /// how far it had got (`not logged in`, `handshake unfinished`).
    pub fn taken_reason(&self, stage: &str) -> String {
        format!(
            "{stage} after {:.1} s when all {} connection slots were taken: closed for a newer connection",
            self.opened.elapsed().as_secs_f64(),
            self.slots.cap
        )
    }

    /// The connection has logged in: its slot can no longer be taken. Should its slot have
    /// been taken a moment before (a new connection came while its login was being decided),
    /// the session still gets one: the cap is then exceeded by one until a connection closes.
    pub fn logged_in(&self) {
        let mut occupancy = self.slots.occupancy.lock();
        if occupancy.waiting.remove(&self.id).is_none() {
            occupancy.held += 1;
        }
        self.logged_in.store(true, Ordering::Relaxed);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut occupancy = self.slots.occupancy.lock();
        // A slot taken for another connection was handed on: there is nothing to give back.
        let held =
            self.logged_in.load(Ordering::Relaxed) || occupancy.waiting.remove(&self.id).is_some();
        if held {
            occupancy.held = occupancy.held.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(slots: &Arc<Slots>) -> Slot {
        match slots.admit() {
            Admission::Admitted(slot) => slot,
            Admission::Full => panic!("closed at accept"),
        }
    }

    /// Whether `slot` has been told to close (without waiting).
    fn told_to_close(slot: &Slot) -> bool {
        let taken = slot.taken();
        tokio::pin!(taken);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        std::future::Future::poll(taken.as_mut(), &mut cx).is_ready()
    }

    #[test]
    fn a_full_cap_closes_the_oldest_connection_not_logged_in_and_never_a_session() {
        let slots = Slots::new(3);
        let session = admitted(&slots);
        session.logged_in();
        let old = admitted(&slots);
        let newer = admitted(&slots);
        assert_eq!((slots.held(), slots.waiting()), (3, 2));

        // Full: the next one takes the slot of the oldest not logged in.
        let device = admitted(&slots);
        assert!(told_to_close(&old));
        assert!(!told_to_close(&newer));
        assert!(!told_to_close(&session));
        assert_eq!((slots.held(), slots.waiting()), (3, 2));
        // The closed connection's end gives nothing back: its slot is the new one's.
        drop(old);
        assert_eq!((slots.held(), slots.waiting()), (3, 2));

        // The new one logs in; the next takes `newer`'s slot.
        device.logged_in();
        let next = admitted(&slots);
        assert!(told_to_close(&newer));
        drop(newer);
        next.logged_in();
        // Three sessions: a fourth connection is closed at accept.
        assert_eq!((slots.held(), slots.waiting()), (3, 0));
        assert!(matches!(slots.admit(), Admission::Full));
        // A session that ends frees its slot for anyone.
        drop(session);
        assert_eq!(slots.held(), 2);
        let _again = admitted(&slots);
        assert_eq!((slots.held(), slots.waiting()), (3, 1));
        assert!(!told_to_close(&device) && !told_to_close(&next));
    }

    #[test]
    fn a_login_decided_as_its_slot_was_taken_still_counts() {
        let slots = Slots::new(1);
        let first = admitted(&slots);
        let second = admitted(&slots);
        assert!(told_to_close(&first));
        // `first` logs in although its slot was just taken: over the cap by one.
        first.logged_in();
        assert_eq!(slots.held(), 2);
        drop(first);
        drop(second);
        assert_eq!((slots.held(), slots.waiting()), (0, 0));
    }

    #[test]
    fn connections_that_close_before_logging_in_give_their_slots_back() {
        let slots = Slots::new(2);
        for _ in 0..10 {
            let a = admitted(&slots);
            let b = admitted(&slots);
            assert!(!told_to_close(&a));
            drop((a, b));
        }
        assert_eq!((slots.held(), slots.waiting()), (0, 0));
    }

    #[test]
    fn the_reason_says_how_far_it_got_and_the_cap() {
        let slots = Slots::new(100);
        let slot = admitted(&slots);
        let reason = slot.taken_reason("not logged in");
        assert!(
            reason.starts_with("not logged in after 0.")
                && reason.ends_with(
                    " s when all 100 connection slots were taken: closed for a newer connection"
                ),
            "{reason}"
        );
    }
}
