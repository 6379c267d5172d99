//! The clock and the timer queue that drives every deadline.
//!
//! The clock is the wall clock, or a [`TimeSkipper`]'s virtual clock when time skips.
//!
//! Each open run has at most one timer: the moment its state next needs the clock (see
//! `engine::deadlines`), and so has each schedule: its next action. The durable copies are
//! the `timers` table, written with the run's state, and the schedule's `wake_at`, written
//! with the schedule; this queue is the in-memory index that a single task sleeps on, so one
//! clock (a skipping one included) drives both.

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

/// What a timer wakes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timer {
    Run(TimerRow),
    Schedule {
        namespace: String,
        schedule_id: String,
        fire_at: Millis,
    },
}

/// A timer's identity: each run and each schedule has at most one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKey {
    Run(String),
    Schedule {
        namespace: String,
        schedule_id: String,
    },
}

impl Timer {
    pub fn key(&self) -> TimerKey {
        match self {
            Timer::Run(row) => TimerKey::Run(row.run_id.clone()),
            Timer::Schedule {
                namespace,
                schedule_id,
                ..
            } => TimerKey::Schedule {
                namespace: namespace.clone(),
                schedule_id: schedule_id.clone(),
            },
        }
    }

    pub fn fire_at(&self) -> Millis {
        match self {
            Timer::Run(row) => row.fire_at,
            Timer::Schedule { fire_at, .. } => *fire_at,
        }
    }

    /// The same timer, due at `fire_at` instead.
    pub fn at(self, fire_at: Millis) -> Timer {
        match self {
            Timer::Run(row) => Timer::Run(TimerRow { fire_at, ..row }),
            Timer::Schedule {
                namespace,
                schedule_id,
                ..
            } => Timer::Schedule {
                namespace,
                schedule_id,
                fire_at,
            },
        }
    }
}

impl From<TimerRow> for Timer {
    fn from(row: TimerRow) -> Timer {
        Timer::Run(row)
    }
}

#[derive(Default)]
struct Queue {
    by_time: BTreeSet<(Millis, TimerKey)>,
    by_key: HashMap<TimerKey, Timer>,
}

/// Timers of open runs and schedules, ordered by when they fire.
#[derive(Default)]
pub struct Timers {
    queue: Mutex<Queue>,
    changed: Notify,
}

impl Timers {
    /// Sets (or replaces) a run's or a schedule's timer.
    pub fn set(&self, timer: impl Into<Timer>) {
        let timer = timer.into();
        let key = timer.key();
        let fire_at = timer.fire_at();
        let mut queue = self.queue.lock().expect("timer queue poisoned");
        let earliest_before = queue.by_time.first().map(|(at, _)| *at);
        if let Some(old) = queue.by_key.remove(&key) {
            queue.by_time.remove(&(old.fire_at(), key.clone()));
        }
        queue.by_time.insert((fire_at, key.clone()));
        queue.by_key.insert(key, timer);
        drop(queue);
        if earliest_before.is_none_or(|earliest| fire_at < earliest) {
            self.changed.notify_one();
        }
    }

    pub fn clear(&self, key: &TimerKey) {
        let mut queue = self.queue.lock().expect("timer queue poisoned");
        if let Some(old) = queue.by_key.remove(key) {
            queue.by_time.remove(&(old.fire_at(), key.clone()));
        }
    }

    /// Removes and returns the timers due at `now`, or the moment the next one is due.
    fn take_due(&self, now: Millis) -> Result<Vec<Timer>, Option<Millis>> {
        let mut queue = self.queue.lock().expect("timer queue poisoned");
        let mut due = Vec::new();
        while let Some((at, key)) = queue.by_time.first().cloned() {
            if at > now {
                break;
            }
            queue.by_time.pop_first();
            due.extend(queue.by_key.remove(&key));
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
        F: Fn(Timer) -> Fut,
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
        timers.clear(&TimerKey::Run("b".into()));
        let schedule = Timer::Schedule {
            namespace: "default".into(),
            schedule_id: "a".into(),
            fire_at: 35,
        };
        timers.set(schedule.clone());
        assert_eq!(timers.take_due(25).unwrap_err(), Some(30));
        let due = timers.take_due(40).unwrap();
        assert_eq!(
            due,
            [timer("a", 30).into(), schedule, timer("c", 40).into()]
        );
        assert_eq!(timers.take_due(100).unwrap_err(), None);
    }
}
