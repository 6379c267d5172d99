//! Schedule specs (`temporal.api.schedule.v1.ScheduleSpec`): their canonical form and the
//! times they name, as the real server computes them (its `service/worker/scheduler`
//! `spec.go` and `calendar.go`). Pure: no clock, times are Unix milliseconds.
//!
//! - [`canonicalize`] validates a spec and returns it as the real server shows it
//!   (DescribeSchedule, ListSchedules; what it stores differs only in leaving range
//!   defaults as zeros): `calendar` and `cron_string` entries become
//!   `structured_calendar` entries (after the ones given), `@every` cron strings become
//!   `interval`s, `exclude_calendar` becomes `exclude_structured_calendar`, a cron string's
//!   `CRON_TZ=`/`TZ=` zone becomes `timezone_name`, and every range has its defaults
//!   filled in (`end` below `start` becomes `start`, `step` 0 becomes 1). Canonicalizing a
//!   canonical spec changes nothing.
//! - [`SpecError`] is a refused spec; its text is the real server's INVALID_ARGUMENT
//!   message ("Invalid schedule spec: …").
//! - [`CompiledSpec::new`] compiles any spec (canonicalizing it first);
//!   [`CompiledSpec::spec`] is its canonical form.
//! - [`CompiledSpec::next_time`]`(jitter_seed, after)` is the real server's `GetNextTime`:
//!   the first time strictly after `after` (in whole seconds) that a calendar or interval
//!   names and no excluded calendar matches, not before `start_time` and not after
//!   `end_time` nor after the year 2100; `nominal` is that time, `actual` the same plus
//!   its jitter. The real server iterates with `after = actual` of the previous result,
//!   and ListScheduleMatchingTimes lists `actual` times. `Err(TooManyExclusions)` when
//!   1,209,600 candidates in a row were excluded (the real server's default compute
//!   limit): the real server then takes no more actions for the schedule and answers
//!   ListScheduleMatchingTimes with that error's text as INVALID_ARGUMENT.
//! - [`jitter_seed`]`(namespace_id, schedule_id)` is the seed the real server uses.
//!
//! Jitter is deterministic, like the real server's: the 32-bit FarmHash fingerprint of the
//! nominal time (in Go's binary time encoding) followed by the seed, scaled into
//! `[0, max)` milliseconds, where `max` is the spec's `jitter` capped at the time to the next
//! nominal time (excludes not considered) and at 2³² − 1 ms.
//!
//! Calendars match in the spec's time zone: an IANA name (exact case), "UTC" or "" for UTC,
//! or `timezone_data` (TZif bytes) under any name. "Local" (the real server's own zone) is
//! UTC here. Names resolve in the tz database bundled in the binary (jiff's), so the host's
//! does not matter; where that database is newer than the real server's, zones whose rules
//! changed in between give other times (America/Havana from November 2026, for one).

use jiff::tz::TimeZone;
use temporalio_protos::temporal::api::schedule::v1::{
    IntervalSpec, Range, ScheduleSpec, StructuredCalendarSpec,
};

use super::calendar::CompiledCalendar;
use super::cron::{self, Cron, MAX_YEAR, MIN_YEAR};
use super::duration;
use crate::engine::Millis;

/// Candidates a search tries before it gives up, all of them excluded (the real server's
/// `scheduler.specMaxIterations` default: two weeks of one-second candidates).
const MAX_CANDIDATES: u32 = 14 * 24 * 60 * 60;

/// The first second of 2101 (UTC): no time is named from there on.
const END_OF_CALENDARS: i64 = 4_133_980_800;

/// Seconds from Go's zero time (January 1 of year 1) to the Unix epoch.
const GO_EPOCH_OFFSET: i64 = 62_135_596_800;

const NANOS_PER_MILLI: i64 = 1_000_000;

/// A spec the real server refuses, with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid schedule spec: {0}")]
pub struct SpecError(String);

/// The search for a spec's next time gave up: too many candidates in a row were excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the schedule calendar specification has too many exclusions. Please modify the \
     specification."
)]
pub struct TooManyExclusions;

/// A time a spec names: `nominal` as the spec names it, `actual` with jitter added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduledTime {
    pub nominal: Millis,
    pub actual: Millis,
}

/// The jitter seed of a schedule, as the real server forms it.
pub fn jitter_seed(namespace_id: &str, schedule_id: &str) -> String {
    format!("{namespace_id}-{schedule_id}")
}

/// The spec as the real server stores and shows it, or why it refuses it.
pub fn canonicalize(spec: &ScheduleSpec) -> Result<ScheduleSpec, SpecError> {
    CompiledSpec::new(spec).map(|compiled| compiled.spec)
}

/// A spec ready to name times.
#[derive(Debug, Clone)]
pub struct CompiledSpec {
    spec: ScheduleSpec,
    calendars: Vec<CompiledCalendar>,
    excludes: Vec<CompiledCalendar>,
    /// Each interval and its phase, in whole seconds.
    intervals: Vec<(i64, i64)>,
    start: Millis,
    end: Option<Millis>,
    jitter_nanos: i64,
}

impl CompiledSpec {
    /// Compiles any spec, canonicalizing it first.
    pub fn new(spec: &ScheduleSpec) -> Result<Self, SpecError> {
        let mut spec = canonical_form(spec).map_err(SpecError)?;
        let zone = time_zone(&spec).map_err(SpecError)?;
        fill_range_defaults(&mut spec);
        let compile = |calendars: &[StructuredCalendarSpec]| {
            calendars
                .iter()
                .map(|calendar| CompiledCalendar::new(calendar, &zone))
                .collect()
        };
        let seconds = |d| duration::nanos(d) / 1_000_000_000;
        Ok(CompiledSpec {
            calendars: compile(&spec.structured_calendar),
            excludes: compile(&spec.exclude_structured_calendar),
            intervals: spec
                .interval
                .iter()
                .map(|interval| {
                    (
                        seconds(interval.interval.as_ref()).max(1),
                        seconds(interval.phase.as_ref()).max(0),
                    )
                })
                .collect(),
            // Without a start time, the epoch.
            start: spec.start_time.as_ref().map_or(0, millis),
            end: spec.end_time.as_ref().map(millis),
            jitter_nanos: duration::nanos(spec.jitter.as_ref()),
            spec,
        })
    }

    /// The first time strictly after `after` that the spec names, with its jitter.
    pub fn next_time(
        &self,
        jitter_seed: &str,
        after: Millis,
    ) -> Result<Option<ScheduledTime>, TooManyExclusions> {
        // From just before the start, so that the start's own second can match.
        let mut after = after
            .max(self.start.saturating_sub(1_000))
            .div_euclid(1_000);
        let mut candidates = 0;
        let nominal = loop {
            if candidates == MAX_CANDIDATES {
                return Err(TooManyExclusions);
            }
            candidates += 1;
            let Some(candidate) = self.raw_next(after) else {
                return Ok(None);
            };
            if candidate >= END_OF_CALENDARS
                || self
                    .end
                    .is_some_and(|end| candidate.saturating_mul(1_000) > end)
            {
                return Ok(None);
            }
            if !self
                .excludes
                .iter()
                .any(|exclude| exclude.matches(candidate))
            {
                break candidate;
            }
            after = candidate;
        };
        // Jitter never reaches the next nominal time.
        let mut max_jitter = i128::from(self.jitter_nanos);
        if let Some(following) = self.raw_next(nominal) {
            max_jitter = max_jitter.min(i128::from(following - nominal) * 1_000_000_000);
        }
        let max_jitter_millis = (max_jitter.max(0) / i128::from(NANOS_PER_MILLI)) as u64;
        let nominal_millis = nominal.saturating_mul(1_000);
        Ok(Some(ScheduledTime {
            nominal: nominal_millis,
            actual: nominal_millis.saturating_add(jitter_millis(
                jitter_seed,
                nominal,
                max_jitter_millis,
            )),
        }))
    }

    /// The first second after `after` that a calendar or an interval names, excludes, start
    /// and end aside.
    fn raw_next(&self, after: i64) -> Option<i64> {
        let calendars = self.calendars.iter().filter_map(|c| c.next(after));
        // Go's division truncates toward zero, which shifts times before the phase (before
        // 1970) by one interval; kept for the same results.
        let intervals = self
            .intervals
            .iter()
            .map(|&(interval, phase)| ((after - phase) / interval + 1) * interval + phase);
        calendars.chain(intervals).min()
    }
}

/// Milliseconds of a timestamp, rounded down, saturating.
fn millis(timestamp: &prost_types::Timestamp) -> Millis {
    let nanos = i128::from(timestamp.seconds) * 1_000_000_000 + i128::from(timestamp.nanos);
    nanos
        .div_euclid(i128::from(NANOS_PER_MILLI))
        .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Up to `max_millis` of jitter for a nominal time: the nominal time in Go's binary time
/// encoding (version 1, seconds since year 1, nanoseconds, UTC), then the seed, hashed with
/// FarmHash's 32-bit fingerprint, scales the range.
fn jitter_millis(seed: &str, nominal: i64, max_millis: u64) -> i64 {
    let mut bytes = Vec::with_capacity(15 + seed.len());
    bytes.push(1);
    bytes.extend_from_slice(&(nominal + GO_EPOCH_OFFSET).to_be_bytes());
    bytes.extend_from_slice(&0u32.to_be_bytes());
    bytes.extend_from_slice(&(-1i16).to_be_bytes());
    bytes.extend_from_slice(seed.as_bytes());
    let fingerprint = u64::from(farmhash::fingerprint32(&bytes));
    ((fingerprint * max_millis.min(u64::from(u32::MAX))) >> 32) as i64
}

/// The real server's checks and conversions, in its order (the frontend's duration checks
/// first), before the time zone is loaded.
fn canonical_form(spec: &ScheduleSpec) -> Result<ScheduleSpec, String> {
    for interval in &spec.interval {
        if let Some(d) = &interval.interval {
            duration::check_valid(d)
                .map_err(|error| format!("interval is not a valid duration: {error}"))?;
        }
        if let Some(d) = &interval.phase {
            duration::check_valid(d)
                .map_err(|error| format!("phase is not a valid duration: {error}"))?;
        }
    }
    let mut spec = spec.clone();
    for calendar in std::mem::take(&mut spec.calendar) {
        spec.structured_calendar
            .push(cron::parse_calendar(&calendar)?);
    }
    // Deprecated in the API, still honoured by the real server.
    #[allow(deprecated)]
    let exclude_calendar = std::mem::take(&mut spec.exclude_calendar);
    for calendar in exclude_calendar {
        spec.exclude_structured_calendar
            .push(cron::parse_calendar(&calendar)?);
    }
    const CONFLICT: &str = "conflicting timezone names";
    // All cron strings must name the same zone, or all none.
    let mut cron_zone: Option<String> = None;
    for text in std::mem::take(&mut spec.cron_string) {
        let zone = match cron::parse_cron_string(&text)? {
            Cron::Calendar {
                calendar,
                time_zone,
            } => {
                spec.structured_calendar.push(calendar);
                time_zone
            }
            Cron::Interval(interval) => {
                spec.interval.push(interval);
                String::new()
            }
        };
        if cron_zone.as_ref().is_some_and(|seen| *seen != zone) {
            return Err(CONFLICT.into());
        }
        cron_zone = Some(zone);
    }
    if let Some(zone) = cron_zone.filter(|zone| !zone.is_empty()) {
        if (!spec.timezone_name.is_empty() && spec.timezone_name != zone)
            || !spec.timezone_data.is_empty()
        {
            return Err(CONFLICT.into());
        }
        spec.timezone_name = zone;
    }
    // Excluded structured calendars are not checked, as in the real server.
    for calendar in &spec.structured_calendar {
        check_calendar(calendar)?;
    }
    for interval in &spec.interval {
        check_interval(interval)?;
    }
    Ok(spec)
}

fn check_calendar(calendar: &StructuredCalendarSpec) -> Result<(), String> {
    let mut errors = Vec::new();
    let mut check = |ranges: &[Range], field: &str, min: i32, max: i32| {
        for range in ranges {
            if !(min..=max).contains(&range.start) {
                errors.push(format!("{field} Start is not in range [{min}-{max}]"));
            }
            if range.end != 0 && (range.end < range.start || range.end > max) {
                errors.push(format!(
                    "{field} End is before Start or not in range [{min}-{max}]"
                ));
            }
            if range.step < 0 {
                errors.push(format!("{field} has invalid Step"));
            }
        }
    };
    check(&calendar.second, "Second", 0, 59);
    check(&calendar.minute, "Minute", 0, 59);
    check(&calendar.hour, "Hour", 0, 23);
    check(&calendar.day_of_month, "DayOfMonth", 1, 31);
    check(&calendar.month, "Month", 1, 12);
    check(&calendar.year, "Year", MIN_YEAR, MAX_YEAR);
    check(&calendar.day_of_week, "DayOfWeek", 0, 6);
    if calendar.comment.len() > 200 {
        errors.push("comment is too long".into());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("invalid calendar spec: {}", errors.join(", ")))
    }
}

fn check_interval(interval: &IntervalSpec) -> Result<(), String> {
    let phase = duration::nanos(interval.phase.as_ref());
    let interval = duration::nanos(interval.interval.as_ref());
    if interval < 1_000_000_000 {
        Err("interval is too small".into())
    } else if phase < 0 {
        Err("phase is negative".into())
    } else if phase >= interval {
        Err("phase cannot be greater than Interval".into())
    } else {
        Ok(())
    }
}

/// The spec's time zone, looked up like Go's `time.LoadLocation` (or read from its TZif
/// data), with Go's error texts.
fn time_zone(spec: &ScheduleSpec) -> Result<TimeZone, String> {
    if !spec.timezone_data.is_empty() {
        return TimeZone::tzif(&spec.timezone_name, &spec.timezone_data)
            .map_err(|_| "malformed time zone information".into());
    }
    let name = spec.timezone_name.as_str();
    if matches!(name, "" | "UTC" | "Local") {
        return Ok(TimeZone::UTC);
    }
    if name.contains("..") || name.starts_with('/') || name.starts_with('\\') {
        return Err("time: invalid location name".into());
    }
    match TimeZone::get(name) {
        // The bundled database ignores case; the real server's file lookup does not.
        Ok(zone) if zone.iana_name() == Some(name) => Ok(zone),
        _ => Err(format!("unknown time zone {name}")),
    }
}

/// Range defaults filled in, as the real server shows specs.
fn fill_range_defaults(spec: &mut ScheduleSpec) {
    let calendars = spec
        .structured_calendar
        .iter_mut()
        .chain(spec.exclude_structured_calendar.iter_mut());
    for calendar in calendars {
        for ranges in [
            &mut calendar.second,
            &mut calendar.minute,
            &mut calendar.hour,
            &mut calendar.day_of_month,
            &mut calendar.month,
            &mut calendar.year,
            &mut calendar.day_of_week,
        ] {
            for range in ranges {
                range.end = range.end.max(range.start);
                if range.step == 0 {
                    range.step = 1;
                }
            }
        }
    }
}
