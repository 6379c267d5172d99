//! Schedules. `spec` is the pure core: a schedule spec's canonical form and the times it
//! names (see its documentation for the API); `cron`, `calendar` and `duration` are its
//! parts (string forms, calendar matching, Go's durations).

mod calendar;
mod cron;
mod duration;
mod spec;
#[cfg(test)]
mod tests;

pub use spec::{
    CompiledSpec, ScheduledTime, SpecError, TooManyExclusions, canonicalize, jitter_seed,
};
