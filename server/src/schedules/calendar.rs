//! Structured calendars matched in a time zone: whether an instant matches, and the first
//! matching second after one. This follows the real server's search (`compiledCalendar.next`)
//! step by step, including how it treats daylight saving changes: local times that a change
//! skips are skipped, and an hour that repeats is searched twice (once per offset). Every
//! field must match, day of month and day of week included (unlike classic cron, which
//! accepts either).
//!
//! Times are Unix seconds; the real server works at one-second resolution.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use temporalio_protos::temporal::api::schedule::v1::{Range, StructuredCalendarSpec};

use super::cron::MAX_YEAR;

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// A structured calendar ready for matching.
#[derive(Debug, Clone)]
pub(super) struct CompiledCalendar {
    zone: Zone,
    /// No ranges means every year.
    year: Vec<Range>,
    month: Values,
    day_of_month: Values,
    day_of_week: Values,
    hour: Values,
    minute: Values,
    second: Values,
    /// Some field other than the year has no values. The real server searches up to the
    /// last year before it finds nothing; the answer is the same without the search.
    matches_nothing: bool,
}

impl CompiledCalendar {
    pub(super) fn new(calendar: &StructuredCalendarSpec, zone: &TimeZone) -> Self {
        let fields = [
            Values::of(&calendar.month),
            Values::of(&calendar.day_of_month),
            Values::of(&calendar.day_of_week),
            Values::of(&calendar.hour),
            Values::of(&calendar.minute),
            Values::of(&calendar.second),
        ];
        let [month, day_of_month, day_of_week, hour, minute, second] = fields;
        CompiledCalendar {
            zone: Zone(zone.clone()),
            year: calendar.year.clone(),
            month,
            day_of_month,
            day_of_week,
            hour,
            minute,
            second,
            matches_nothing: fields.iter().any(|values| values.0 == 0),
        }
    }

    /// Whether the instant's local time matches every field.
    pub(super) fn matches(&self, unix: i64) -> bool {
        let local = self.zone.civil(unix);
        self.year_matches(local.year)
            && self.month.has(local.month)
            && self.day_of_month.has(local.day)
            && self.day_of_week.has(local.weekday)
            && self.hour.has(local.hour)
            && self.minute.has(local.minute)
            && self.second.has(local.second)
    }

    /// The first matching second after `after`, if any up to the end of the last calendar
    /// year.
    pub(super) fn next(&self, after: i64) -> Option<i64> {
        // Nothing to find, or nothing left after the last year. A search from before the
        // earliest instant the time zone code handles starts there.
        if self.matches_nothing || after >= days_from_civil(i64::from(MAX_YEAR) + 1, 1, 2) * DAY {
            return None;
        }
        let after = after.max(Timestamp::MIN.as_second() + 2 * DAY);
        let zone = &self.zone;
        let start = zone.civil(after);
        let (mut y, mut mo, mut d) = (start.year, start.month, start.day);
        let (mut h, mut m, mut s) = (start.hour, start.minute, start.second);
        // Within the second pass over a repeated hour, results are an hour later than the
        // local time names (which resolves to the first pass).
        let mut repeat = if zone.civil(after - HOUR).hour == h {
            HOUR
        } else {
            0
        };
        s += 1;
        'outer: loop {
            if s >= 60 {
                (m, s) = (m + 1, 0);
            }
            if m >= 60 {
                let previous = zone.date(y, mo, d, h, 0, 0);
                (h, m) = (h + 1, 0);
                let next = zone.date(y, mo, d, h, 0, 0);
                // Two hours between consecutive local hours: the one just searched repeats.
                if repeat == 0 && next - previous > HOUR {
                    h -= 1;
                    repeat = HOUR;
                } else {
                    repeat = 0;
                }
            }
            if h >= 24 {
                (d, h) = (d + 1, 0);
            }
            if d > days_in_month(y, mo) {
                (mo, d) = (mo + 1, 1);
            }
            if mo > 12 {
                (y, mo) = (y + 1, 1);
            }
            if y > i64::from(MAX_YEAR) {
                return None;
            }
            if !self.year_matches(y) {
                (y, mo, d, h, m, s, repeat) = (y + 1, 1, 1, 0, 0, 0, 0);
                continue 'outer;
            }
            while !self.month.has(mo) {
                (mo, d, h, m, s, repeat) = (mo + 1, 1, 0, 0, 0, 0);
                if mo > 12 {
                    continue 'outer;
                }
            }
            while !self.day_of_month.has(d)
                || !self
                    .day_of_week
                    .has(zone.civil(zone.date(y, mo, d, h, m, s)).weekday)
            {
                (d, h, m, s, repeat) = (d + 1, 0, 0, 0, 0);
                if d > days_in_month(y, mo) {
                    continue 'outer;
                }
            }
            while !self.hour.has(h) {
                (h, m, s, repeat) = (h + 1, 0, 0, 0);
                if h >= 24 {
                    continue 'outer;
                }
            }
            while !self.minute.has(m) {
                (m, s) = (m + 1, 0);
                if m >= 60 {
                    continue 'outer;
                }
            }
            while !self.second.has(s) {
                s += 1;
                if s >= 60 {
                    continue 'outer;
                }
            }
            let found = zone.date(y, mo, d, h, m, s);
            // A local time that a daylight saving change skips resolves to another hour.
            if zone.civil(found).hour != h {
                (h, m, s) = (h + 1, 0, 0);
                continue 'outer;
            }
            return Some(found + repeat);
        }
    }

    fn year_matches(&self, year: i64) -> bool {
        self.year.is_empty()
            || self.year.iter().any(|range| {
                let (start, end, step) = normalized(range);
                (start..=end).contains(&year) && (year - start) % step == 0
            })
    }
}

/// A range with its defaults filled in: `end` at least `start`, `step` at least 1.
fn normalized(range: &Range) -> (i64, i64, i64) {
    let start = i64::from(range.start);
    let end = i64::from(range.end).max(start);
    let step = i64::from(range.step);
    (start, end, if step == 0 { 1 } else { step })
}

/// The values of a field below 64, as bits. No ranges match nothing. Values a range names
/// outside 0..64 never match (only excluded calendars can hold them: the others are
/// validated).
#[derive(Debug, Clone, Copy)]
struct Values(u64);

impl Values {
    fn of(ranges: &[Range]) -> Self {
        let mut bits = 0u64;
        for range in ranges {
            let (start, end, step) = normalized(range);
            // Only an excluded calendar (which is not validated) can hold a negative step;
            // the real server never finishes listing such a range, here it adds nothing.
            if step < 0 {
                continue;
            }
            // The first value of the range that is not negative.
            let mut value = if start < 0 {
                start + (-start + step - 1) / step * step
            } else {
                start
            };
            while value <= end.min(63) {
                bits |= 1 << value;
                value += step;
            }
        }
        Values(bits)
    }

    fn has(self, value: i64) -> bool {
        (0..64).contains(&value) && self.0 >> value & 1 == 1
    }
}

/// Local date and time fields of an instant.
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    /// 0 is Sunday.
    weekday: i64,
}

#[derive(Debug, Clone)]
struct Zone(TimeZone);

impl Zone {
    /// The zone's offset from UTC at an instant, in seconds.
    fn offset(&self, unix: i64) -> i64 {
        let unix = unix.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
        let instant = Timestamp::from_second(unix).unwrap_or(Timestamp::UNIX_EPOCH);
        i64::from(self.0.to_offset(instant).seconds())
    }

    fn civil(&self, unix: i64) -> Civil {
        let local = unix + self.offset(unix);
        let days = local.div_euclid(DAY);
        let seconds = local.rem_euclid(DAY);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: seconds / HOUR,
            minute: seconds % HOUR / 60,
            second: seconds % 60,
            weekday: (days + 4).rem_euclid(7),
        }
    }

    /// The instant of a local time, the way Go's `time.Date` resolves it: the offset in
    /// force at the local time read as UTC, corrected once if that offset's period does not
    /// hold the result. A skipped local time so lands an hour off (before the change), and a
    /// repeated one on its first occurrence.
    fn date(&self, year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> i64 {
        let local = days_from_civil(year, month, 1) * DAY
            + (day - 1) * DAY
            + hour * HOUR
            + minute * 60
            + second;
        local - self.offset(local - self.offset(local))
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (any month number,
/// carried into the year).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = year + (month - 1).div_euclid(12);
    let month = (month - 1).rem_euclid(12) + 1;
    // Years start in March so that the leap day comes last.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_round_trip() {
        for (days, date) in [
            (0, (1970, 1, 1)),
            (-1, (1969, 12, 31)),
            (19_782, (2024, 2, 29)),
            (47_482, (2100, 1, 1)),
            (-719_162, (1, 1, 1)),
        ] {
            assert_eq!(civil_from_days(days), date);
            assert_eq!(days_from_civil(date.0, date.1, date.2), days);
        }
        assert_eq!(days_from_civil(2024, 13, 1), days_from_civil(2025, 1, 1));
    }

    #[test]
    fn values_ignore_what_cannot_match() {
        let range = |start, end, step| Range { start, end, step };
        assert_eq!(Values::of(&[range(-3, 4, 3)]).0, 0b1001);
        assert_eq!(Values::of(&[range(62, 99, 0)]).0, 0b11 << 62);
        assert_eq!(Values::of(&[range(5, 0, 0)]).0, 1 << 5);
        assert_eq!(Values::of(&[]).0, 0);
        assert!(!Values::of(&[range(0, 63, 1)]).has(64));
    }
}
