//! The string forms of a schedule spec, `cron_string` entries and `CalendarSpec`s, read into
//! structured calendars and intervals the way the real server reads them (its `calendar.go`),
//! with its error texts.
//!
//! Ranges come out in the real server's compact form (`end` 0 for a single value, `step` 0
//! for 1); `spec::canonicalize` validates and then fills them in, like the real server does
//! before it shows a spec.

use prost_types::Duration;
use temporalio_protos::temporal::api::schedule::v1::{
    CalendarSpec, IntervalSpec, Range, StructuredCalendarSpec,
};

use super::duration;
use crate::engine::expand_descriptor;
use crate::go_format::go_quote;

/// The first and last years a calendar may name.
pub(super) const MIN_YEAR: i32 = 2000;
pub(super) const MAX_YEAR: i32 = 2100;

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// What one cron string stands for.
#[derive(Debug, PartialEq)]
pub(super) enum Cron {
    /// A calendar, and the time zone its `CRON_TZ=`/`TZ=` prefix named ("" without one).
    Calendar {
        calendar: StructuredCalendarSpec,
        time_zone: String,
    },
    /// `@every <interval>[/<phase>]`. The real server drops any time zone prefix of these,
    /// so they count as naming none.
    Interval(IntervalSpec),
}

/// Reads a cron string: an optional `CRON_TZ=<zone> ` or `TZ=<zone> ` prefix, then
/// `@every`, a predefined `@hourly`-style name or 5 to 7 fields (`minute hour
/// day-of-month month day-of-week`, then `year`, or `second` first and `year` last),
/// and an optional `# comment`.
pub(super) fn parse_cron_string(text: &str) -> Result<Cron, String> {
    let mut text = text.trim();
    let mut time_zone = "";
    if text.starts_with("TZ=") || text.starts_with("CRON_TZ=") {
        let (prefix, rest) = text
            .split_once(' ')
            .ok_or("CronString has time zone but missing fields")?;
        time_zone = prefix.split_once('=').map_or("", |(_, zone)| zone);
        text = rest;
    }
    let (fields, comment) = text.split_once('#').unwrap_or((text, ""));
    let (fields, comment) = (fields.trim(), comment.trim());

    if fields.starts_with("@every") {
        return parse_every(fields).map(Cron::Interval);
    }
    let fields: Vec<&str> = expand_descriptor(fields).split_whitespace().collect();
    // Five fields, a year after them, or a second before and a year after.
    let (second, fields) = match fields.len() {
        5 | 6 => ("", &fields[..]),
        7 => (fields[0], &fields[1..]),
        _ => return Err("CronString does not have 5-7 fields".into()),
    };
    let [minute, hour, day_of_month, month, day_of_week, year @ ..] = fields else {
        return Err("CronString does not have 5-7 fields".into());
    };
    let calendar = CalendarSpec {
        second: second.to_string(),
        minute: minute.to_string(),
        hour: hour.to_string(),
        day_of_month: day_of_month.to_string(),
        month: month.to_string(),
        day_of_week: day_of_week.to_string(),
        year: year
            .first()
            .map_or_else(String::new, |year| year.to_string()),
        comment: comment.to_string(),
    };
    Ok(Cron::Calendar {
        calendar: parse_calendar(&calendar)?,
        time_zone: time_zone.to_string(),
    })
}

/// `@every <interval>` or `@every <interval>/<phase>`, durations in Go's syntax plus days.
fn parse_every(text: &str) -> Result<IntervalSpec, String> {
    let (_, argument) = text
        .split_once(' ')
        .ok_or("CronString does not have interval after @every")?;
    let (interval, phase) = argument.split_once('/').unwrap_or((argument, ""));
    let interval = Some(proto_duration(duration::parse(interval)?));
    let phase = if phase.is_empty() {
        None
    } else {
        Some(proto_duration(duration::parse(phase)?))
    };
    Ok(IntervalSpec { interval, phase })
}

fn proto_duration(nanos: i64) -> Duration {
    Duration {
        seconds: nanos / 1_000_000_000,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}

/// How a field's values may be written besides decimal numbers.
#[derive(Clone, Copy, PartialEq)]
enum Names {
    None,
    /// "*" stands for every year, written as no range at all.
    Year,
    /// Month names, or prefixes of at least three letters.
    Month,
    /// Weekday names, or prefixes of at least two letters; 7 is also Sunday.
    Weekday,
}

/// A `CalendarSpec` as structured ranges. Empty fields take their defaults: second, minute
/// and hour 0, the rest every value. All fields' errors are reported together.
pub(super) fn parse_calendar(calendar: &CalendarSpec) -> Result<StructuredCalendarSpec, String> {
    let mut errors = Vec::new();
    let mut field = |text: &str, name, default, min, max, names| {
        parse_ranges(text, name, default, min, max, names).unwrap_or_else(|error| {
            errors.push(error);
            Vec::new()
        })
    };
    let structured = StructuredCalendarSpec {
        second: field(&calendar.second, "Second", "0", 0, 59, Names::None),
        minute: field(&calendar.minute, "Minute", "0", 0, 59, Names::None),
        hour: field(&calendar.hour, "Hour", "0", 0, 23, Names::None),
        day_of_week: field(
            &calendar.day_of_week,
            "DayOfWeek",
            "*",
            0,
            7,
            Names::Weekday,
        ),
        day_of_month: field(
            &calendar.day_of_month,
            "DayOfMonth",
            "*",
            1,
            31,
            Names::None,
        ),
        month: field(&calendar.month, "Month", "*", 1, 12, Names::Month),
        year: field(
            &calendar.year,
            "Year",
            "*",
            i64::from(MIN_YEAR),
            i64::from(MAX_YEAR),
            Names::Year,
        ),
        comment: calendar.comment.clone(),
    };
    if errors.is_empty() {
        Ok(structured)
    } else {
        Err(errors.join(", "))
    }
}

/// One field: `*`, `x`, `x-z`, `x-z/y`, `x/y` (x to the maximum) or `*/y`, and lists of
/// these separated by commas.
fn parse_ranges(
    text: &str,
    field: &str,
    default: &str,
    min: i64,
    max: i64,
    names: Names,
) -> Result<Vec<Range>, String> {
    let mut text = text.trim();
    if text.is_empty() {
        text = default;
    }
    if text == "*" && names == Names::Year {
        return Ok(Vec::new());
    }
    let mut ranges = Vec::new();
    for part in text.split(',') {
        let (part, step) = match part.split_once('/') {
            Some((_, step)) if step.contains('/') => {
                return Err(format!("{field} has too many slashes"));
            }
            Some((_, "")) => return Err(format!("{field} missing step value")),
            Some((part, step)) => {
                let step = go_atoi(step)?;
                if step < 1 {
                    return Err(format!("{field} has invalid Step"));
                }
                (part, Some(step))
            }
            None => (part, None),
        };
        let (mut start, mut end) = (min, max);
        if part != "*" {
            if let Some((first, last)) = part.split_once('-') {
                if last.contains('-') {
                    return Err(format!("{field} has too many dashes"));
                }
                start = parse_value(first, min, max, names)
                    .ok_or_else(|| format!("{field} Start is not in range [{min}-{max}]"))?;
                end = parse_value(last, start, max, names).ok_or_else(|| {
                    format!("{field} End is before Start or not in range [{min}-{max}]")
                })?;
            } else {
                start = parse_value(part, min, max, names)
                    .ok_or_else(|| format!("{field} is not in range [{min}-{max}]"))?;
                // With a step, a single value runs to the maximum.
                if step.is_none() {
                    end = start;
                }
            }
        }
        let step = step.unwrap_or(1);
        // 7 is Sunday too: it becomes 0, which may need a range of its own (3-7 is 0,3-6;
        // 1-7/2 is 0,1-6/2; but 0-7 is 0-6 and 3-7/3 never reaches 7).
        if names == Names::Weekday && end == 7 {
            if (7 - start) % step == 0 && (step > 1 || start > 1) {
                ranges.push(compact_range(0, 0, 1));
                if start == 7 {
                    continue;
                }
            }
            end = 6;
        }
        ranges.push(compact_range(start, end, step));
    }
    Ok(ranges)
}

/// A range as the real server writes it: the defaults (an `end` equal to `start`, a `step`
/// of 1) as zeros, and the step cut to 32 bits like Go's conversion does.
fn compact_range(start: i64, end: i64, step: i64) -> Range {
    Range {
        start: start as i32,
        end: if end == start { 0 } else { end as i32 },
        step: if step == 1 { 0 } else { step as i32 },
    }
}

/// A number, or a month or weekday name where the field takes them, within `min..=max`.
fn parse_value(text: &str, min: i64, max: i64, names: Names) -> Option<i64> {
    let (list, shortest): (&[&str], usize) = match names {
        Names::Month => (&MONTHS, 3),
        Names::Weekday => (&WEEKDAYS, 2),
        Names::None | Names::Year => (&[], usize::MAX),
    };
    let value = if text.len() >= shortest {
        let lower = text.to_lowercase();
        list.iter()
            .position(|name| name.starts_with(&lower))
            .map(|index| index as i64 + i64::from(names == Names::Month))
    } else {
        None
    };
    let value = match value {
        Some(value) => value,
        None => go_atoi(text).ok()?,
    };
    (min..=max).contains(&value).then_some(value)
}

/// Go's `strconv.Atoi`, with its error text.
fn go_atoi(text: &str) -> Result<i64, String> {
    text.parse().map_err(|error: std::num::ParseIntError| {
        let reason = match error.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        format!("strconv.Atoi: parsing {}: {reason}", go_quote(text))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: i32, end: i32, step: i32) -> Range {
        Range { start, end, step }
    }

    fn calendar_of(cron: &str) -> StructuredCalendarSpec {
        match parse_cron_string(cron) {
            Ok(Cron::Calendar { calendar, .. }) => calendar,
            other => panic!("{cron}: {other:?}"),
        }
    }

    #[test]
    fn reads_fields_in_compact_form() {
        let calendar = calendar_of("*/15 1-5/2 1,15 JAN,jul *");
        assert_eq!(calendar.second, [range(0, 0, 0)]);
        assert_eq!(calendar.minute, [range(0, 59, 15)]);
        assert_eq!(calendar.hour, [range(1, 5, 2)]);
        assert_eq!(calendar.day_of_month, [range(1, 0, 0), range(15, 0, 0)]);
        assert_eq!(calendar.month, [range(1, 0, 0), range(7, 0, 0)]);
        assert_eq!(calendar.day_of_week, [range(0, 6, 0)]);
        assert!(calendar.year.is_empty());
    }

    #[test]
    fn sunday_is_0_or_7() {
        let weekdays = |field: &str| calendar_of(&format!("0 0 * * {field}")).day_of_week;
        assert_eq!(weekdays("7"), [range(0, 0, 0)]);
        assert_eq!(weekdays("3-7"), [range(0, 0, 0), range(3, 6, 0)]);
        assert_eq!(weekdays("1-7/2"), [range(0, 0, 0), range(1, 6, 2)]);
        assert_eq!(weekdays("3-7/3"), [range(3, 6, 3)]);
        assert_eq!(weekdays("0-7"), [range(0, 6, 0)]);
        assert_eq!(weekdays("*/2"), [range(0, 6, 2)]);
        assert_eq!(weekdays("5/1"), [range(0, 0, 0), range(5, 6, 0)]);
        assert_eq!(weekdays("tu-th,Sat"), [range(2, 4, 0), range(6, 0, 0)]);
    }

    #[test]
    fn six_and_seven_fields_add_year_and_second() {
        let calendar = calendar_of("0 0 1 1 * 2030-2032/2");
        assert_eq!(calendar.year, [range(2030, 2032, 2)]);
        let calendar = calendar_of("30 0 0 1 1 * 2030");
        assert_eq!(calendar.second, [range(30, 0, 0)]);
        assert_eq!(calendar.year, [range(2030, 0, 0)]);
        assert_eq!(calendar_of("0 0 1 1 * */50").year, [range(2000, 2100, 50)]);
    }

    #[test]
    fn prefixes_comments_and_predefined_names() {
        assert_eq!(
            parse_cron_string("  CRON_TZ=America/New_York @daily # midnight "),
            Ok(Cron::Calendar {
                calendar: StructuredCalendarSpec {
                    comment: "midnight".into(),
                    ..calendar_of("0 0 * * *")
                },
                time_zone: "America/New_York".into(),
            })
        );
        assert_eq!(calendar_of("@hourly"), calendar_of("0 * * * *"));
        assert_eq!(calendar_of("@weekly"), calendar_of("0 0 * * 0"));
        assert_eq!(calendar_of("@monthly"), calendar_of("0 0 1 * *"));
        assert_eq!(calendar_of("@annually"), calendar_of("0 0 1 1 *"));
        let every = |seconds, phase: Option<i64>| {
            Ok(Cron::Interval(IntervalSpec {
                interval: Some(Duration { seconds, nanos: 0 }),
                phase: phase.map(|seconds| Duration { seconds, nanos: 0 }),
            }))
        };
        assert_eq!(parse_cron_string("@every 1h30m"), every(5_400, None));
        assert_eq!(
            parse_cron_string("TZ=Asia/Tokyo @every 14h/3h # x"),
            every(50_400, Some(10_800))
        );
    }

    #[test]
    fn errors_read_like_the_real_server() {
        let error = |cron: &str| parse_cron_string(cron).unwrap_err();
        assert_eq!(error("* * * *"), "CronString does not have 5-7 fields");
        assert_eq!(error("@fortnightly"), "CronString does not have 5-7 fields");
        assert_eq!(
            error("CRON_TZ=UTC"),
            "CronString has time zone but missing fields"
        );
        assert_eq!(
            error("@every"),
            "CronString does not have interval after @every"
        );
        assert_eq!(
            error("61 25 * * *"),
            "Minute is not in range [0-59], Hour is not in range [0-23]"
        );
        assert_eq!(
            error("5-3 * * * *"),
            "Minute End is before Start or not in range [0-59]"
        );
        assert_eq!(error("x-3 * * * *"), "Minute Start is not in range [0-59]");
        assert_eq!(error("1/2/3 * * * *"), "Minute has too many slashes");
        assert_eq!(error("1-2-3 * * * *"), "Minute has too many dashes");
        assert_eq!(error("*/0 * * * *"), "Minute has invalid Step");
        assert_eq!(error("5/ * * * *"), "Minute missing step value");
        assert_eq!(
            error("*/x * * * *"),
            r#"strconv.Atoi: parsing "x": invalid syntax"#
        );
        assert_eq!(
            error("*/99999999999999999999 * * * *"),
            r#"strconv.Atoi: parsing "99999999999999999999": value out of range"#
        );
        assert_eq!(error("0 0 * ja *"), "Month is not in range [1-12]");
        let calendar = CalendarSpec {
            second: "70".into(),
            hour: "x".into(),
            day_of_week: "Fooday".into(),
            month: "Jux".into(),
            year: "1999".into(),
            ..CalendarSpec::default()
        };
        assert_eq!(
            parse_calendar(&calendar).unwrap_err(),
            "Second is not in range [0-59], Hour is not in range [0-23], DayOfWeek is not in \
             range [0-7], Month is not in range [1-12], Year is not in range [2000-2100]"
        );
    }
}
