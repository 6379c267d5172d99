//! Cron schedules as the real server reads them: five fields (minute, hour, day of month,
//! month, day of week) or a descriptor (`@hourly`, `@every 90s`, ...), evaluated in UTC.

use super::Millis;

const MINUTE: Millis = 60_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CronSchedule {
    /// Runs every `interval`, counted from whole seconds.
    Every(Millis),
    Fields(Box<Fields>),
}

/// The allowed values of each field, as bit sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    /// Both day fields restricted: a day matches if either does (classic cron).
    either_day: bool,
}

/// The fields a cron descriptor (`@daily`, ...) stands for; other text as it is. Workflow
/// cron schedules and schedule specs read the same descriptors.
pub fn expand_descriptor(text: &str) -> &str {
    match text {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    }
}

impl CronSchedule {
    /// Parses a schedule; `None` if the real server would refuse it.
    pub fn parse(text: &str) -> Option<CronSchedule> {
        let text = text.trim();
        let text = match text.strip_prefix("CRON_TZ=").or(text.strip_prefix("TZ=")) {
            // Only UTC is known here: other zones are refused rather than misread.
            Some(rest) => {
                let (zone, rest) = rest.split_once(' ')?;
                if zone != "UTC" && zone != "Etc/UTC" {
                    return None;
                }
                rest.trim()
            }
            None => text,
        };
        if let Some(interval) = text.strip_prefix("@every ") {
            let every = parse_duration(interval.trim())?;
            return (every >= 1_000).then_some(CronSchedule::Every(every));
        }
        let fields: Vec<&str> = expand_descriptor(text).split_whitespace().collect();
        let [minute, hour, day_of_month, month, day_of_week] = fields.as_slice() else {
            return None;
        };
        Some(CronSchedule::Fields(Box::new(Fields {
            minutes: parse_field(minute, 0, 59, &[])?,
            hours: parse_field(hour, 0, 23, &[])?,
            days_of_month: parse_field(day_of_month, 1, 31, &[])?,
            months: parse_field(month, 1, 12, &MONTH_NAMES)?,
            // 7 is Sunday too.
            days_of_week: {
                let days = parse_field(day_of_week, 0, 7, &DAY_NAMES)?;
                (days | (days >> 7)) & 0x7f
            },
            either_day: !day_of_month.starts_with('*') && !day_of_week.starts_with('*'),
        })))
    }

    /// The first moment strictly after `after` that the schedule names.
    pub fn next_after(&self, after: Millis) -> Millis {
        match self {
            CronSchedule::Every(interval) => (after - after.rem_euclid(1_000)) + interval,
            CronSchedule::Fields(fields) => fields.next_after(after),
        }
    }
}

const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// One field: `*`, `?`, values, names, ranges and steps, separated by commas.
fn parse_field(field: &str, min: u32, max: u32, names: &[&str]) -> Option<u64> {
    let value = |text: &str| -> Option<u32> {
        let lower = text.to_ascii_lowercase();
        if let Some(index) = names.iter().position(|name| *name == lower) {
            return Some(index as u32 + if min == 1 { 1 } else { 0 });
        }
        text.parse().ok().filter(|v| (min..=max).contains(v))
    };
    let mut bits = 0u64;
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (low, high) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((low, high)) = range.split_once('-') {
            (value(low)?, value(high)?)
        } else {
            let single = value(range)?;
            // "5/15" means from 5 to the end, every 15.
            (single, if part.contains('/') { max } else { single })
        };
        if low > high {
            return None;
        }
        for v in (low..=high).step_by(step as usize) {
            bits |= 1 << v;
        }
    }
    Some(bits)
}

/// Durations like `1s`, `90m`, `1h30m`, `500ms`.
fn parse_duration(text: &str) -> Option<Millis> {
    let mut total = 0.0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ms" => 1.0,
            "s" => 1_000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            _ => return None,
        };
        total += number * unit;
        rest = &rest[unit_end..];
    }
    Some(total as Millis)
}

impl Fields {
    fn next_after(&self, after: Millis) -> Millis {
        // Start at the next whole minute and step: by day while the day does not match,
        // else by hour, else by minute. Four years bound the search (29 February).
        let mut t = after - after.rem_euclid(MINUTE) + MINUTE;
        let limit = t + 4 * 366 * 24 * 60 * MINUTE;
        while t < limit {
            let (days, minute_of_day) = (
                t.div_euclid(24 * 60 * MINUTE),
                t.rem_euclid(24 * 60 * MINUTE) / MINUTE,
            );
            let (_, month, day) = civil_from_days(days);
            let weekday = (days + 4).rem_euclid(7) as u32; // 1970-01-01 was a Thursday
            let day_of_month_ok = self.days_of_month & (1 << day) != 0;
            let day_of_week_ok = self.days_of_week & (1 << weekday) != 0;
            let day_ok = if self.either_day {
                day_of_month_ok || day_of_week_ok
            } else {
                day_of_month_ok && day_of_week_ok
            };
            if self.months & (1 << month) == 0 || !day_ok {
                t = (days + 1) * 24 * 60 * MINUTE;
                continue;
            }
            let (hour, minute) = (minute_of_day / 60, minute_of_day % 60);
            if self.hours & (1 << hour) == 0 {
                t += (60 - minute) * MINUTE;
                continue;
            }
            if self.minutes & (1 << minute) == 0 {
                t += MINUTE;
                continue;
            }
            return t;
        }
        limit
    }
}

/// Year, month (1-12) and day (1-31) of a day number counted from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-28 10:17:30 UTC.
    const NOW: Millis = 1_795_861_050_000;

    #[test]
    fn every_counts_from_whole_seconds() {
        let every = CronSchedule::parse("@every 1s").unwrap();
        assert_eq!(every.next_after(NOW + 400), NOW + 1_000);
        assert_eq!(
            CronSchedule::parse("@every 1h30m").unwrap().next_after(NOW),
            NOW + 90 * MINUTE
        );
    }

    #[test]
    fn fields_find_the_next_matching_minute() {
        let at = |text: &str| CronSchedule::parse(text).unwrap().next_after(NOW);
        assert_eq!(at("* * * * *"), NOW + 30_000);
        assert_eq!(at("*/15 * * * *"), NOW - 17 * MINUTE - 30_000 + 30 * MINUTE);
        assert_eq!(at("@hourly"), NOW - 17 * MINUTE - 30_000 + 60 * MINUTE);
        // 2026-11-28 is a Saturday: the next Monday 09:00 is two days later.
        let monday_nine = NOW - (10 * 60 + 17) * MINUTE - 30_000 + (2 * 24 + 9) * 60 * MINUTE;
        assert_eq!(at("0 9 * * MON"), monday_nine);
        assert_eq!(at("0 9 * * 1"), monday_nine);
        // The first of December at midnight.
        let december = NOW - (10 * 60 + 17) * MINUTE - 30_000 + 3 * 24 * 60 * MINUTE;
        assert_eq!(at("@monthly"), december);
    }

    #[test]
    fn malformed_schedules_are_refused() {
        for bad in [
            "",
            "* * * * * *",
            "61 * * * *",
            "* * * 13 *",
            "5-1 * * * *",
            "@every",
            "@every 10",
            "@sometimes",
            "CRON_TZ=Europe/Paris * * * * *",
        ] {
            assert_eq!(CronSchedule::parse(bad), None, "{bad:?}");
        }
        assert!(CronSchedule::parse("CRON_TZ=UTC 0 0 * * *").is_some());
    }
}
