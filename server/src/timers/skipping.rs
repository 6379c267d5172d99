//! Time skipping with one global clock (the test server's style, "V1").
//!
//! The clock reads wall time plus an offset. Time runs at wall speed while anything holds it;
//! when nothing does, the timer loop moves the offset forward to the next due timer or test
//! sleep, so a workflow waiting a month finishes at once. What holds the clock:
//! - locks taken through TestService (`LockTimeSkipping`; the test server starts with one);
//! - work in flight: each run that has a workflow task, an activity attempt or a request to
//!   another workflow under way ([`TimeSkipper::set_run_busy`]), and each [`Hold`] (a timer
//!   firing, a transfer task, a query task).
//!
//! Locks and work share one counter, as in the Java test server the SDK was written against:
//! an unlock can release the hold of work in flight (the SDK's `env.sleep` from inside an
//! activity relies on it), and when work ends the locks are clamped so the counter never goes
//! below zero. A client waiting on an update's outcome lets time skip while no work is in
//! flight, whatever the locks say, as `result()` does in the SDK.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

use super::{Clock, SystemClock};
use crate::engine::Millis;

#[derive(Default)]
struct Counter {
    /// Locks taken through TestService; negative when unlocks released work's holds.
    locks: i64,
    busy_runs: HashSet<String>,
    holds: i64,
    waiting_clients: i64,
    /// Test sleeps by (wake time, id): each ends when the clock reaches its time.
    sleepers: BTreeMap<(Millis, u64), Sleeper>,
    next_sleeper_id: u64,
}

struct Sleeper {
    /// `UnlockTimeSkippingWithSleep` takes its lock back when it wakes.
    relock: bool,
    wake: oneshot::Sender<()>,
}

impl Counter {
    fn in_flight(&self) -> i64 {
        self.busy_runs.len() as i64 + self.holds
    }

    /// After work ended: an unlock that released its hold is used up with it.
    fn clamp(&mut self) {
        self.locks = self.locks.max(-self.in_flight());
    }

    fn may_skip(&self) -> bool {
        let in_flight = self.in_flight();
        self.locks + in_flight <= 0 || (self.waiting_clients > 0 && in_flight == 0)
    }
}

/// The global virtual clock and what holds it.
pub struct TimeSkipper {
    offset: AtomicI64,
    counter: Mutex<Counter>,
    /// Wakes the timer loop when time may now skip, or a sleeper was added.
    changed: Notify,
}

/// `UnlockTimeSkipping` with no lock to release, as the Java test server refuses it.
#[derive(Debug, thiserror::Error)]
#[error("Unbalanced lock and unlock calls")]
pub struct UnbalancedUnlock;

impl TimeSkipper {
    /// A clock reading wall time, with one lock taken if `locked` (the test server's start).
    pub fn new(locked: bool) -> Self {
        TimeSkipper {
            offset: AtomicI64::new(0),
            counter: Mutex::new(Counter {
                locks: i64::from(locked),
                ..Counter::default()
            }),
            changed: Notify::new(),
        }
    }

    fn counter(&self) -> std::sync::MutexGuard<'_, Counter> {
        self.counter.lock().expect("time skipping counter poisoned")
    }

    pub fn lock(&self) {
        self.counter().locks += 1;
    }

    pub fn unlock(&self) -> Result<(), UnbalancedUnlock> {
        let mut counter = self.counter();
        if counter.locks + counter.in_flight() <= 0 {
            return Err(UnbalancedUnlock);
        }
        counter.locks -= 1;
        drop(counter);
        self.changed.notify_one();
        Ok(())
    }

    /// Records whether a run has work in flight; called after every commit of the run.
    pub fn set_run_busy(&self, run_id: &str, busy: bool) {
        let mut counter = self.counter();
        if busy {
            if !counter.busy_runs.contains(run_id) {
                counter.busy_runs.insert(run_id.to_owned());
            }
            return;
        }
        if counter.busy_runs.remove(run_id) {
            counter.clamp();
            drop(counter);
            self.changed.notify_one();
        }
    }

    /// Holds the clock until the returned guard drops.
    pub fn hold(self: &Arc<Self>) -> Hold {
        self.counter().holds += 1;
        Hold(self.clone())
    }

    /// Lets time skip, while no work is in flight, until the returned guard drops.
    pub fn client_waiting(self: &Arc<Self>) -> WaitingClient {
        self.counter().waiting_clients += 1;
        self.changed.notify_one();
        WaitingClient(self.clone())
    }

    /// Waits until the clock reads `at`; with `relock`, takes a lock when it does (before
    /// anything else can happen), and releases one now.
    pub async fn sleep_until(&self, at: Millis, relock: bool) -> Result<(), UnbalancedUnlock> {
        let (wake, woken) = oneshot::channel();
        {
            let mut counter = self.counter();
            if relock {
                if counter.locks + counter.in_flight() <= 0 {
                    return Err(UnbalancedUnlock);
                }
                counter.locks -= 1;
            }
            let id = counter.next_sleeper_id;
            counter.next_sleeper_id += 1;
            counter.sleepers.insert((at, id), Sleeper { relock, wake });
        }
        self.changed.notify_one();
        // The timer loop wakes every sleeper it removes; it runs as long as the server.
        let _ = woken.await;
        Ok(())
    }

    /// Ends the sleeps due at `now`; returns when the next one is due.
    pub(super) fn wake_sleepers(&self, now: Millis) -> Option<Millis> {
        let mut counter = self.counter();
        while let Some(entry) = counter.sleepers.first_entry() {
            if entry.key().0 > now {
                return Some(entry.key().0);
            }
            let sleeper = entry.remove();
            if sleeper.relock {
                counter.locks += 1;
            }
            // A sleeper whose client left is simply gone.
            let _ = sleeper.wake.send(());
        }
        None
    }

    pub(super) fn may_skip(&self) -> bool {
        self.counter().may_skip()
    }

    /// Moves the clock forward to `at` (never back).
    pub(super) fn skip_to(&self, at: Millis) {
        let skip = at.saturating_sub(self.now());
        if skip > 0 {
            // Saturating: a time at the end of the range (an absurd sleep) must pin the clock
            // there, not wrap it into the past, where the timer loop would chase it forever.
            let _ = self
                .offset
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |offset| {
                    Some(offset.saturating_add(skip))
                });
        }
    }

    pub(super) async fn changed(&self) {
        self.changed.notified().await;
    }

    fn release(&self, release: impl FnOnce(&mut Counter)) {
        let mut counter = self.counter();
        release(&mut counter);
        counter.clamp();
        drop(counter);
        self.changed.notify_one();
    }
}

impl Clock for TimeSkipper {
    fn now(&self) -> Millis {
        SystemClock
            .now()
            .saturating_add(self.offset.load(Ordering::SeqCst))
    }

    fn real_wait_until(&self, at: Millis) -> Duration {
        Duration::from_millis(at.saturating_sub(self.now()).max(0) as u64)
    }
}

/// Work in flight that belongs to no run's state (a timer firing, a transfer or query task).
pub struct Hold(Arc<TimeSkipper>);

impl Drop for Hold {
    fn drop(&mut self) {
        self.0.release(|counter| counter.holds -= 1);
    }
}

/// A client waiting on a workflow's answer.
pub struct WaitingClient(Arc<TimeSkipper>);

impl Drop for WaitingClient {
    fn drop(&mut self) {
        self.0.release(|counter| counter.waiting_clients -= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_to_the_end_of_time_pins_the_clock_there() {
        let skipper = TimeSkipper::new(false);
        skipper.skip_to(Millis::MAX - 5);
        skipper.skip_to(Millis::MAX);
        // Not wrapped into the past, where the timer loop would chase the time forever.
        assert_eq!(skipper.now(), Millis::MAX);
        assert_eq!(skipper.real_wait_until(Millis::MAX), Duration::ZERO);
    }

    #[test]
    fn a_started_test_server_is_locked_and_unlocking_twice_is_unbalanced() {
        let skipper = TimeSkipper::new(true);
        assert!(!skipper.may_skip());
        skipper.unlock().unwrap();
        assert!(skipper.may_skip());
        assert!(skipper.unlock().is_err());
        skipper.lock();
        assert!(!skipper.may_skip());
    }

    #[test]
    fn work_in_flight_holds_the_clock_until_it_ends() {
        let skipper = Arc::new(TimeSkipper::new(false));
        skipper.set_run_busy("run", true);
        let hold = skipper.hold();
        assert!(!skipper.may_skip());
        skipper.set_run_busy("run", false);
        assert!(!skipper.may_skip());
        drop(hold);
        assert!(skipper.may_skip());
    }

    #[test]
    fn an_unlock_releases_work_and_is_used_up_when_the_work_ends() {
        let skipper = Arc::new(TimeSkipper::new(false));
        skipper.set_run_busy("activity", true);
        skipper.unlock().unwrap();
        assert!(
            skipper.may_skip(),
            "the unlock released the activity's hold"
        );
        skipper.set_run_busy("activity", false);
        skipper.set_run_busy("next task", true);
        assert!(!skipper.may_skip(), "new work holds the clock again");
    }

    #[test]
    fn a_waiting_client_lets_time_skip_only_while_nothing_is_in_flight() {
        let skipper = Arc::new(TimeSkipper::new(true));
        let waiting = skipper.client_waiting();
        assert!(skipper.may_skip());
        skipper.set_run_busy("run", true);
        assert!(!skipper.may_skip());
        skipper.set_run_busy("run", false);
        drop(waiting);
        assert!(
            !skipper.may_skip(),
            "the lock holds again once nobody waits"
        );
    }

    #[test]
    fn skipping_moves_the_clock_forward_only() {
        let skipper = TimeSkipper::new(false);
        let before = skipper.now();
        skipper.skip_to(before + 30 * 24 * 3600 * 1000);
        assert!(skipper.now() >= before + 30 * 24 * 3600 * 1000);
        let after = skipper.now();
        skipper.skip_to(before);
        assert!(skipper.now() >= after);
    }

    #[tokio::test]
    async fn a_sleep_with_relock_trades_its_lock_for_the_wait() {
        let skipper = Arc::new(TimeSkipper::new(true));
        let at = skipper.now() + 1_000;
        let sleeping = tokio::spawn({
            let skipper = skipper.clone();
            async move { skipper.sleep_until(at, true).await }
        });
        while skipper.counter().sleepers.is_empty() {
            tokio::task::yield_now().await;
        }
        assert!(skipper.may_skip(), "the sleep released the lock");
        assert_eq!(skipper.wake_sleepers(at - 1), Some(at));
        assert_eq!(skipper.wake_sleepers(at), None);
        sleeping.await.unwrap().unwrap();
        assert!(!skipper.may_skip(), "the lock is back");
    }
}
