//! The clock and the timer queue that drives every deadline.
//!
//! The clock is the wall clock, or a [`TimeSkipper`]'s virtual clock when time skips.
//!
//! Each open run has at most one timer: the moment its state next needs the clock (see
//! `engine::deadlines`). The durable copy is the `timers` table, written with the run's state;
//! this queue is the in-memory index that a single task sleeps on.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use devserver_persistence::TimerRow;
use tokio::sync::Notify;

use crate::engine::Millis;

mod skipping;

pub use skipping::{Hold, TimeSkipper, UnbalancedUnlock, WaitingClient};

/// Where time comes from. The engine never reads it; the history service passes `now` in.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Millis;
    /// How long to sleep, in real time, until the clock reads `at`.
    fn real_wait_until(&self, at: Millis) -> Duration;
}

/// The wall clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as Millis)
    }

    fn real_wait_until(&self, at: Millis) -> Duration {
        Duration::from_millis((at - self.now()).max(0) as u64)
    }
}

#[derive(Default)]
struct Queue {
    by_time: BTreeSet<(Millis, String)>,
    by_run: HashMap<String, TimerRow>,
}

/// Timers of open runs, ordered by when they fire.
#[derive(Default)]
pub struct Timers {
    queue: Mutex<Queue>,
    changed: Notify,
}

impl Timers {
    /// Sets (or replaces) a run's timer.
    pub fn set(&self, timer: TimerRow) {
        let mut queue = self.queue.lock().expect("timer queue poisoned");
        let earliest_before = queue.by_time.first().map(|(at, _)| *at);
        if let Some(old) = queue.by_run.remove(&timer.run_id) {
            queue.by_time.remove(&(old.fire_at, old.run_id));
        }
        queue.by_time.insert((timer.fire_at, timer.run_id.clone()));
        let fire_at = timer.fire_at;
        queue.by_run.insert(timer.run_id.clone(), timer);
        drop(queue);
        if earliest_before.is_none_or(|earliest| fire_at < earliest) {
            self.changed.notify_one();
        }
    }

    pub fn clear(&self, run_id: &str) {
        let mut queue = self.queue.lock().expect("timer queue poisoned");
        if let Some(old) = queue.by_run.remove(run_id) {
            queue.by_time.remove(&(old.fire_at, old.run_id));
        }
    }

    /// Removes and returns the timers due at `now`, or the moment the next one is due.
    fn take_due(&self, now: Millis) -> Result<Vec<TimerRow>, Option<Millis>> {
        let mut queue = self.queue.lock().expect("timer queue poisoned");
        let mut due = Vec::new();
        while let Some((at, run_id)) = queue.by_time.first().cloned() {
            if at > now {
                break;
            }
            queue.by_time.pop_first();
            due.extend(queue.by_run.remove(&run_id));
        }
        if due.is_empty() {
            Err(queue.by_time.first().map(|(at, _)| *at))
        } else {
            Ok(due)
        }
    }

    /// Fires timers forever: `fire` is called once per due timer, in its own task. With a
    /// time skipper (which is then also `clock`), the clock jumps to the next timer or test
    /// sleep whenever the skipper allows; a firing timer holds the clock until `fire` is done,
    /// so the change it makes (a workflow task to run) holds it in turn before the next jump.
    pub async fn run<F, Fut>(
        self: Arc<Self>,
        clock: Arc<dyn Clock>,
        skipper: Option<Arc<TimeSkipper>>,
        fire: F,
    ) where
        F: Fn(TimerRow) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        loop {
            // Register interest before looking, so a timer set meanwhile is not missed.
            let changed = self.changed.notified();
            let now = clock.now();
            let next_timer = match self.take_due(now) {
                Ok(due) => {
                    for timer in due {
                        let hold = skipper.as_ref().map(TimeSkipper::hold);
                        let firing = fire(timer);
                        tokio::spawn(async move {
                            firing.await;
                            drop(hold);
                        });
                    }
                    continue;
                }
                Err(next) => next,
            };
            let next_sleeper = skipper.as_ref().and_then(|s| s.wake_sleepers(now));
            let next = next_timer.into_iter().chain(next_sleeper).min();
            let skip_allowed = async {
                match &skipper {
                    Some(skipper) => skipper.changed().await,
                    None => std::future::pending().await,
                }
            };
            match next {
                Some(at) if skipper.as_ref().is_some_and(|s| s.may_skip()) => {
                    skipper.as_ref().expect("checked").skip_to(at);
                }
                None => {
                    tokio::select! {
                        _ = changed => {}
                        _ = skip_allowed => {}
                    }
                }
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep(clock.real_wait_until(at)) => {}
                        _ = changed => {}
                        _ = skip_allowed => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(run_id: &str, fire_at: Millis) -> TimerRow {
        TimerRow {
            run_id: run_id.into(),
            namespace: "default".into(),
            workflow_id: run_id.into(),
            fire_at,
        }
    }

    #[test]
    fn due_timers_come_out_in_order_and_a_reset_replaces_the_old_moment() {
        let timers = Timers::default();
        timers.set(timer("a", 30));
        timers.set(timer("b", 10));
        timers.set(timer("c", 20));
        timers.set(timer("c", 40));
        timers.clear("b");
        assert_eq!(timers.take_due(25).unwrap_err(), Some(30));
        let due = timers.take_due(40).unwrap();
        assert_eq!(
            due.iter().map(|t| t.run_id.as_str()).collect::<Vec<_>>(),
            ["a", "c"]
        );
        assert_eq!(timers.take_due(100).unwrap_err(), None);
    }
}
