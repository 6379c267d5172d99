//! Specs checked against what the real server (Temporal CLI 1.9.1's dev server, server
//! 1.32.0) answered: DescribeSchedule's canonical specs, ListScheduleMatchingTimes' times
//! and CreateSchedule's errors for the same specs.

// `exclude_calendar` is deprecated in the API, but clients still send it.
#![allow(deprecated)]

use prost_types::{Duration, Timestamp};
use temporalio_protos::temporal::api::schedule::v1::{
    CalendarSpec, IntervalSpec, Range, ScheduleSpec, StructuredCalendarSpec,
};

use crate::engine::Millis;
use crate::rfc3339::parse_millis;
use crate::schedules::spec::*;

/// The id of the real server's `default` namespace when the jitter was sampled.
const NAMESPACE_ID: &str = "01a220fc-8c37-7955-94ba-63b2a7ced5f9";

fn at(text: &str) -> Millis {
    parse_millis(text).unwrap_or_else(|| panic!("not a timestamp: {text}"))
}

fn timestamp(text: &str) -> Timestamp {
    let millis = at(text);
    Timestamp {
        seconds: millis.div_euclid(1_000),
        nanos: (millis.rem_euclid(1_000) * 1_000_000) as i32,
    }
}

fn seconds(seconds: i64) -> Duration {
    Duration { seconds, nanos: 0 }
}

fn interval(every: i64, phase: Option<i64>) -> IntervalSpec {
    IntervalSpec {
        interval: Some(seconds(every)),
        phase: phase.map(seconds),
    }
}

fn cron(strings: &[&str]) -> ScheduleSpec {
    ScheduleSpec {
        cron_string: strings.iter().map(|s| s.to_string()).collect(),
        ..ScheduleSpec::default()
    }
}

fn range(start: i32, end: i32, step: i32) -> Range {
    Range { start, end, step }
}

/// What ListScheduleMatchingTimes lists for a schedule with this spec and id: the actual
/// (jittered) times after `start`, each search starting from the previous actual time, up
/// to `end`.
fn matching_times(spec: &ScheduleSpec, schedule_id: &str, start: &str, end: &str) -> Vec<Millis> {
    let compiled = CompiledSpec::new(spec).unwrap();
    let seed = jitter_seed(NAMESPACE_ID, schedule_id);
    let (mut after, end) = (at(start), at(end));
    let mut times = Vec::new();
    while let Some(time) = compiled.next_time(&seed, after).unwrap() {
        if time.actual > end {
            break;
        }
        times.push(time.actual);
        after = time.actual;
    }
    times
}

fn times(texts: &[&str]) -> Vec<Millis> {
    texts.iter().map(|text| at(text)).collect()
}

fn error(spec: &ScheduleSpec) -> String {
    canonicalize(spec).unwrap_err().to_string()
}

/// A calendar of the canonical form: `second`, `minute`, `hour` as given, and every day.
fn daily(second: Range, minute: Range, hour: Range) -> StructuredCalendarSpec {
    StructuredCalendarSpec {
        second: vec![second],
        minute: vec![minute],
        hour: vec![hour],
        day_of_month: vec![range(1, 31, 1)],
        month: vec![range(1, 12, 1)],
        day_of_week: vec![range(0, 6, 1)],
        ..StructuredCalendarSpec::default()
    }
}

#[test]
fn cron_strings_become_structured_calendars() {
    let spec = canonicalize(&cron(&["0 12 * * MON-FRI"])).unwrap();
    assert_eq!(
        spec,
        ScheduleSpec {
            structured_calendar: vec![StructuredCalendarSpec {
                day_of_week: vec![range(1, 5, 1)],
                ..daily(range(0, 0, 1), range(0, 0, 1), range(12, 12, 1))
            }],
            ..ScheduleSpec::default()
        }
    );

    let spec = canonicalize(&cron(&["CRON_TZ=America/New_York 30 9 * * *"])).unwrap();
    assert_eq!(spec.timezone_name, "America/New_York");
    assert_eq!(
        spec.structured_calendar,
        [daily(range(0, 0, 1), range(30, 30, 1), range(9, 9, 1))]
    );

    let spec = canonicalize(&cron(&["*/15 1-5/2 1,15 JAN,jul *"])).unwrap();
    assert_eq!(
        spec.structured_calendar,
        [StructuredCalendarSpec {
            day_of_month: vec![range(1, 1, 1), range(15, 15, 1)],
            month: vec![range(1, 1, 1), range(7, 7, 1)],
            ..daily(range(0, 0, 1), range(0, 59, 15), range(1, 5, 2))
        }]
    );

    let spec = canonicalize(&cron(&["5 4 * * 7 # sunday", "0 0 0 1 1 * 2030-2032/2"])).unwrap();
    assert_eq!(
        spec.structured_calendar,
        [
            StructuredCalendarSpec {
                day_of_week: vec![range(0, 0, 1)],
                comment: "sunday".into(),
                ..daily(range(0, 0, 1), range(5, 5, 1), range(4, 4, 1))
            },
            StructuredCalendarSpec {
                day_of_month: vec![range(1, 1, 1)],
                month: vec![range(1, 1, 1)],
                year: vec![range(2030, 2032, 2)],
                ..daily(range(0, 0, 1), range(0, 0, 1), range(0, 0, 1))
            },
        ]
    );
    assert_eq!(
        canonicalize(&cron(&["@daily"]))
            .unwrap()
            .structured_calendar,
        [daily(range(0, 0, 1), range(0, 0, 1), range(0, 0, 1))]
    );
}

#[test]
fn every_becomes_an_interval_and_drops_its_time_zone() {
    let spec = canonicalize(&cron(&["@every 1h30m"])).unwrap();
    assert_eq!(
        spec,
        ScheduleSpec {
            interval: vec![interval(5_400, None)],
            ..ScheduleSpec::default()
        }
    );
    let spec = canonicalize(&cron(&["CRON_TZ=Asia/Tokyo @every 2h"])).unwrap();
    assert_eq!(spec.interval, [interval(7_200, None)]);
    assert_eq!(spec.timezone_name, "");
    let spec = canonicalize(&cron(&["@every 14h/3h # hi", "@every 1.5d"])).unwrap();
    assert_eq!(
        spec.interval,
        [interval(50_400, Some(10_800)), interval(129_600, None)]
    );
}

#[test]
fn calendars_and_ranges_take_their_defaults() {
    let spec = ScheduleSpec {
        calendar: vec![
            CalendarSpec::default(),
            CalendarSpec {
                day_of_week: "tu-th,Sat".into(),
                month: "sep-DECEMBER".into(),
                comment: "c".into(),
                ..CalendarSpec::default()
            },
        ],
        structured_calendar: vec![StructuredCalendarSpec {
            hour: vec![range(5, 0, 0)],
            minute: vec![range(0, 59, 0)],
            ..StructuredCalendarSpec::default()
        }],
        // Excluded structured calendars are not validated, only completed.
        exclude_structured_calendar: vec![StructuredCalendarSpec {
            hour: vec![range(99, 0, 0)],
            ..StructuredCalendarSpec::default()
        }],
        ..ScheduleSpec::default()
    };
    let canonical = canonicalize(&spec).unwrap();
    let midnight = daily(range(0, 0, 1), range(0, 0, 1), range(0, 0, 1));
    assert_eq!(
        canonical.structured_calendar,
        [
            StructuredCalendarSpec {
                hour: vec![range(5, 5, 1)],
                minute: vec![range(0, 59, 1)],
                ..StructuredCalendarSpec::default()
            },
            midnight.clone(),
            StructuredCalendarSpec {
                day_of_week: vec![range(2, 4, 1), range(6, 6, 1)],
                month: vec![range(9, 12, 1)],
                comment: "c".into(),
                ..midnight
            },
        ]
    );
    assert!(canonical.calendar.is_empty());
    assert_eq!(
        canonical.exclude_structured_calendar,
        [StructuredCalendarSpec {
            hour: vec![range(99, 99, 1)],
            ..StructuredCalendarSpec::default()
        }]
    );
    assert_eq!(canonicalize(&canonical).unwrap(), canonical);
    assert_eq!(
        canonicalize(&ScheduleSpec::default()).unwrap(),
        ScheduleSpec::default()
    );
}

#[test]
fn errors_read_like_the_real_server() {
    let cases: Vec<(ScheduleSpec, &str)> = vec![
        (cron(&["* * * *"]), "CronString does not have 5-7 fields"),
        (
            cron(&["@fortnightly"]),
            "CronString does not have 5-7 fields",
        ),
        (
            cron(&["# just comment"]),
            "CronString does not have 5-7 fields",
        ),
        // The zone ends at the first space, not at a tab.
        (
            cron(&["CRON_TZ=UTC\t0 * * * *"]),
            "CronString does not have 5-7 fields",
        ),
        (
            cron(&["CRON_TZ=UTC"]),
            "CronString has time zone but missing fields",
        ),
        (
            cron(&["61 25 * * *"]),
            "Minute is not in range [0-59], Hour is not in range [0-23]",
        ),
        (
            cron(&["*/x * * * *"]),
            r#"strconv.Atoi: parsing "x": invalid syntax"#,
        ),
        (
            cron(&["CRON_TZ=Mars/Base 0 * * * *"]),
            "unknown time zone Mars/Base",
        ),
        (
            cron(&["CRON_TZ=UTC 0 * * * *", "CRON_TZ=Asia/Tokyo 0 * * * *"]),
            "conflicting timezone names",
        ),
        (
            cron(&["CRON_TZ=Asia/Tokyo 0 * * * *", "0 1 * * *"]),
            "conflicting timezone names",
        ),
        (
            ScheduleSpec {
                timezone_name: "UTC".into(),
                ..cron(&["CRON_TZ=Asia/Tokyo 0 * * * *"])
            },
            "conflicting timezone names",
        ),
        (
            cron(&["@every"]),
            "CronString does not have interval after @every",
        ),
        (
            cron(&["@every 1x"]),
            r#"time: unknown unit "x" in duration "1x""#,
        ),
        (
            cron(&["@every 10"]),
            r#"time: missing unit in duration "10""#,
        ),
        (cron(&["@every -1h"]), "interval is too small"),
        (cron(&["@every 500ms"]), "interval is too small"),
        (
            cron(&["@every 1h/2h"]),
            "phase cannot be greater than Interval",
        ),
        (
            ScheduleSpec {
                interval: vec![IntervalSpec::default()],
                ..ScheduleSpec::default()
            },
            "interval is too small",
        ),
        (
            ScheduleSpec {
                interval: vec![interval(-5, None)],
                ..ScheduleSpec::default()
            },
            "interval is too small",
        ),
        (
            ScheduleSpec {
                interval: vec![interval(60, Some(-1))],
                ..ScheduleSpec::default()
            },
            "phase is negative",
        ),
        (
            ScheduleSpec {
                interval: vec![interval(60, Some(60))],
                ..ScheduleSpec::default()
            },
            "phase cannot be greater than Interval",
        ),
        (
            ScheduleSpec {
                interval: vec![IntervalSpec {
                    interval: Some(Duration {
                        seconds: 60,
                        nanos: -1,
                    }),
                    phase: None,
                }],
                ..ScheduleSpec::default()
            },
            "interval is not a valid duration: proto:\u{a0}duration (seconds:60  nanos:-1) has \
             seconds and nanos with different signs",
        ),
        (
            ScheduleSpec {
                interval: vec![IntervalSpec {
                    interval: Some(seconds(60)),
                    phase: Some(Duration {
                        seconds: -1,
                        nanos: 5,
                    }),
                }],
                ..ScheduleSpec::default()
            },
            "phase is not a valid duration: proto:\u{a0}duration (seconds:-1  nanos:5) has \
             seconds and nanos with different signs",
        ),
        (
            ScheduleSpec {
                calendar: vec![CalendarSpec {
                    hour: "1, 2".into(),
                    ..CalendarSpec::default()
                }],
                ..ScheduleSpec::default()
            },
            "Hour is not in range [0-23]",
        ),
        (
            ScheduleSpec {
                calendar: vec![CalendarSpec {
                    hour: "-5".into(),
                    ..CalendarSpec::default()
                }],
                ..ScheduleSpec::default()
            },
            "Hour Start is not in range [0-23]",
        ),
        (
            ScheduleSpec {
                exclude_calendar: vec![CalendarSpec {
                    hour: "30".into(),
                    ..CalendarSpec::default()
                }],
                ..cron(&["0 * * * *"])
            },
            "Hour is not in range [0-23]",
        ),
        (
            ScheduleSpec {
                structured_calendar: vec![StructuredCalendarSpec {
                    second: vec![range(60, 0, 0)],
                    hour: vec![range(5, 3, 0)],
                    day_of_week: vec![range(1, 0, -1)],
                    year: vec![range(1999, 0, 0)],
                    ..StructuredCalendarSpec::default()
                }],
                ..ScheduleSpec::default()
            },
            "invalid calendar spec: Second Start is not in range [0-59], Hour End is before \
             Start or not in range [0-23], Year Start is not in range [2000-2100], DayOfWeek \
             has invalid Step",
        ),
        (
            ScheduleSpec {
                structured_calendar: vec![StructuredCalendarSpec {
                    comment: "x".repeat(201),
                    ..StructuredCalendarSpec::default()
                }],
                ..ScheduleSpec::default()
            },
            "invalid calendar spec: comment is too long",
        ),
        (
            ScheduleSpec {
                timezone_name: "Nowhere/Land".into(),
                ..cron(&["0 * * * *"])
            },
            "unknown time zone Nowhere/Land",
        ),
        // Names are case-sensitive, as in the real server's database.
        (
            ScheduleSpec {
                timezone_name: "america/new_york".into(),
                ..cron(&["0 * * * *"])
            },
            "unknown time zone america/new_york",
        ),
        (
            ScheduleSpec {
                timezone_name: "utc".into(),
                ..cron(&["0 * * * *"])
            },
            "unknown time zone utc",
        ),
        (
            ScheduleSpec {
                timezone_name: "Etc/Unknown".into(),
                ..cron(&["0 * * * *"])
            },
            "unknown time zone Etc/Unknown",
        ),
        (
            ScheduleSpec {
                timezone_name: "../etc/passwd".into(),
                ..cron(&["0 * * * *"])
            },
            "time: invalid location name",
        ),
        (
            ScheduleSpec {
                timezone_name: "/etc/localtime".into(),
                ..cron(&["0 * * * *"])
            },
            "time: invalid location name",
        ),
        (
            ScheduleSpec {
                timezone_data: b"garbage".to_vec(),
                ..cron(&["0 9 * * *"])
            },
            "malformed time zone information",
        ),
        (
            ScheduleSpec {
                timezone_data: fixed_zone_tzif(3_600),
                ..cron(&["CRON_TZ=UTC 0 9 * * *"])
            },
            "conflicting timezone names",
        ),
    ];
    for (spec, message) in cases {
        assert_eq!(
            error(&spec),
            format!("Invalid schedule spec: {message}"),
            "{spec:?}"
        );
    }
}

#[test]
fn time_zones_by_name() {
    for (zone, first) in [
        ("Local", "2024-01-01T09:00:00Z"),
        ("Etc/UTC", "2024-01-01T09:00:00Z"),
        ("US/Eastern", "2024-01-01T14:00:00Z"),
        ("Etc/GMT+5", "2024-01-01T14:00:00Z"),
        ("Asia/Tokyo", "2024-01-01T00:00:00Z"),
    ] {
        let spec = ScheduleSpec {
            timezone_name: zone.into(),
            ..cron(&["0 9 * * *"])
        };
        assert_eq!(canonicalize(&spec).unwrap().timezone_name, zone);
        assert_eq!(
            matching_times(
                &spec,
                "zone",
                "2023-12-31T23:59:59Z",
                "2024-01-01T23:59:59Z"
            ),
            times(&[first]),
            "{zone}"
        );
    }
}

/// TZif version 1 data of a zone with one fixed offset.
fn fixed_zone_tzif(offset: i32) -> Vec<u8> {
    let mut data = b"TZif".to_vec();
    data.extend([0; 16]);
    for count in [0u32, 0, 0, 0, 1, 4] {
        data.extend(count.to_be_bytes());
    }
    data.extend(offset.to_be_bytes());
    data.extend([0, 0]);
    data.extend(b"ABC\0");
    data
}

#[test]
fn time_zone_data_names_the_zone() {
    for name in ["Custom/Zone", ""] {
        let spec = ScheduleSpec {
            timezone_name: name.into(),
            timezone_data: fixed_zone_tzif(3_600),
            ..cron(&["0 9 * * *"])
        };
        assert_eq!(
            canonicalize(&spec).unwrap().timezone_data,
            spec.timezone_data
        );
        assert_eq!(
            matching_times(
                &spec,
                "data",
                "2024-01-01T00:00:00Z",
                "2024-01-03T00:00:00Z"
            ),
            times(&["2024-01-01T08:00:00Z", "2024-01-02T08:00:00Z"])
        );
    }
}

#[test]
fn cron_strings_name_their_times() {
    let cases: [(&str, &str, &str, &[&str]); 7] = [
        (
            "*/15 1-5/2 1,15 JAN,jul *",
            "2024-01-01T00:00:00Z",
            "2024-03-01T00:00:00Z",
            &[
                "2024-01-01T01:00:00Z",
                "2024-01-01T01:15:00Z",
                "2024-01-01T01:30:00Z",
                "2024-01-01T01:45:00Z",
                "2024-01-01T03:00:00Z",
                "2024-01-01T03:15:00Z",
                "2024-01-01T03:30:00Z",
                "2024-01-01T03:45:00Z",
                "2024-01-01T05:00:00Z",
                "2024-01-01T05:15:00Z",
                "2024-01-01T05:30:00Z",
                "2024-01-01T05:45:00Z",
                "2024-01-15T01:00:00Z",
                "2024-01-15T01:15:00Z",
                "2024-01-15T01:30:00Z",
                "2024-01-15T01:45:00Z",
                "2024-01-15T03:00:00Z",
                "2024-01-15T03:15:00Z",
                "2024-01-15T03:30:00Z",
                "2024-01-15T03:45:00Z",
                "2024-01-15T05:00:00Z",
                "2024-01-15T05:15:00Z",
                "2024-01-15T05:30:00Z",
                "2024-01-15T05:45:00Z",
            ],
        ),
        (
            "5 4 * * 7 # sunday",
            "2024-01-01T00:00:00Z",
            "2024-03-01T00:00:00Z",
            &[
                "2024-01-07T04:05:00Z",
                "2024-01-14T04:05:00Z",
                "2024-01-21T04:05:00Z",
                "2024-01-28T04:05:00Z",
                "2024-02-04T04:05:00Z",
                "2024-02-11T04:05:00Z",
                "2024-02-18T04:05:00Z",
                "2024-02-25T04:05:00Z",
            ],
        ),
        // Strictly after the start: midnight of the first day is not listed.
        (
            "@daily",
            "2024-01-01T00:00:00Z",
            "2024-01-04T00:00:00Z",
            &[
                "2024-01-02T00:00:00Z",
                "2024-01-03T00:00:00Z",
                "2024-01-04T00:00:00Z",
            ],
        ),
        (
            "CRON_TZ=Asia/Tokyo 0 9 * * MON",
            "2024-01-01T00:00:00Z",
            "2024-01-20T00:00:00Z",
            &["2024-01-08T00:00:00Z", "2024-01-15T00:00:00Z"],
        ),
        (
            "0 0 29 2 *",
            "2024-01-01T00:00:00Z",
            "2033-01-01T00:00:00Z",
            &[
                "2024-02-29T00:00:00Z",
                "2028-02-29T00:00:00Z",
                "2032-02-29T00:00:00Z",
            ],
        ),
        (
            "0 0 31 * *",
            "2024-01-01T00:00:00Z",
            "2024-12-01T00:00:00Z",
            &[
                "2024-01-31T00:00:00Z",
                "2024-03-31T00:00:00Z",
                "2024-05-31T00:00:00Z",
                "2024-07-31T00:00:00Z",
                "2024-08-31T00:00:00Z",
                "2024-10-31T00:00:00Z",
            ],
        ),
        // Calendars end with 2100.
        (
            "0 0 1 1 * 2099-2100",
            "2098-01-01T00:00:00Z",
            "2200-01-01T00:00:00Z",
            &["2099-01-01T00:00:00Z", "2100-01-01T00:00:00Z"],
        ),
    ];
    for (cron_string, start, end, expected) in cases {
        assert_eq!(
            matching_times(&cron(&[cron_string]), "cron", start, end),
            times(expected),
            "{cron_string}"
        );
    }
}

#[test]
fn day_of_month_and_day_of_week_must_both_match() {
    // Fridays the 13th only; classic cron would take every 13th and every Friday.
    assert_eq!(
        matching_times(
            &cron(&["0 0 13 * FRI"]),
            "fri13",
            "2024-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z"
        ),
        times(&[
            "2024-09-13T00:00:00Z",
            "2024-12-13T00:00:00Z",
            "2025-06-13T00:00:00Z"
        ])
    );
}

#[test]
fn intervals_count_from_the_epoch_plus_phase() {
    let spec = |intervals| ScheduleSpec {
        interval: intervals,
        ..ScheduleSpec::default()
    };
    assert_eq!(
        matching_times(
            &spec(vec![interval(3_600, Some(900))]),
            "phase",
            "2024-01-01T00:00:00Z",
            "2024-01-01T04:00:00Z"
        ),
        times(&[
            "2024-01-01T00:15:00Z",
            "2024-01-01T01:15:00Z",
            "2024-01-01T02:15:00Z",
            "2024-01-01T03:15:00Z"
        ])
    );
    // Fractions of seconds are dropped.
    let fractional = IntervalSpec {
        interval: Some(Duration {
            seconds: 90,
            nanos: 500_000_000,
        }),
        phase: Some(Duration {
            seconds: 1,
            nanos: 900_000_000,
        }),
    };
    assert_eq!(
        matching_times(
            &spec(vec![fractional]),
            "fraction",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:06:00Z"
        ),
        times(&[
            "2024-01-01T00:00:01Z",
            "2024-01-01T00:01:31Z",
            "2024-01-01T00:03:01Z",
            "2024-01-01T00:04:31Z"
        ])
    );
    assert_eq!(
        matching_times(
            &spec(vec![interval(365 * 86_400, None)]),
            "years",
            "2099-06-01T00:00:00Z",
            "2103-01-01T00:00:00Z"
        ),
        times(&["2099-11-30T00:00:00Z", "2100-11-30T00:00:00Z"])
    );
    // Nothing before the epoch without a start time, and Go's rounding toward zero there.
    assert_eq!(
        matching_times(
            &spec(vec![interval(3_600, Some(60))]),
            "epoch",
            "1969-12-31T22:00:00Z",
            "1970-01-01T02:00:00Z"
        ),
        times(&["1970-01-01T01:01:00Z"])
    );
}

#[test]
fn calendars_and_intervals_add_up_and_excludes_remove() {
    let spec = ScheduleSpec {
        interval: vec![interval(1_800, None)],
        exclude_calendar: vec![CalendarSpec {
            hour: "1".into(),
            minute: "*".into(),
            ..CalendarSpec::default()
        }],
        ..cron(&["10 * * * *"])
    };
    assert_eq!(
        matching_times(
            &spec,
            "union",
            "2024-01-01T00:00:00Z",
            "2024-01-01T03:00:00Z"
        ),
        times(&[
            "2024-01-01T00:10:00Z",
            "2024-01-01T00:30:00Z",
            "2024-01-01T02:00:00Z",
            "2024-01-01T02:10:00Z",
            "2024-01-01T02:30:00Z",
            "2024-01-01T03:00:00Z"
        ])
    );
    // A structured calendar's fields without ranges match nothing (only the year's match
    // every value), so this excludes nothing and that calendar never fires.
    let spec = ScheduleSpec {
        interval: vec![interval(3_600, None)],
        structured_calendar: vec![StructuredCalendarSpec {
            hour: vec![range(5, 0, 0)],
            ..StructuredCalendarSpec::default()
        }],
        exclude_structured_calendar: vec![StructuredCalendarSpec {
            hour: vec![range(2, 4, 0)],
            minute: vec![range(0, 59, 0)],
            second: vec![range(0, 59, 0)],
            ..StructuredCalendarSpec::default()
        }],
        ..ScheduleSpec::default()
    };
    assert_eq!(
        matching_times(
            &spec,
            "empty",
            "2024-01-01T00:00:00Z",
            "2024-01-01T04:00:00Z"
        ),
        times(&[
            "2024-01-01T01:00:00Z",
            "2024-01-01T02:00:00Z",
            "2024-01-01T03:00:00Z",
            "2024-01-01T04:00:00Z"
        ])
    );
}

#[test]
fn start_and_end_time_bound_the_times() {
    let spec = ScheduleSpec {
        interval: vec![interval(3_600, None)],
        start_time: Some(timestamp("2024-01-01T02:00:00Z")),
        end_time: Some(timestamp("2024-01-01T05:00:00Z")),
        ..ScheduleSpec::default()
    };
    assert_eq!(
        matching_times(
            &spec,
            "bounds",
            "2024-01-01T00:00:00Z",
            "2024-01-01T09:00:00Z"
        ),
        times(&[
            "2024-01-01T02:00:00Z",
            "2024-01-01T03:00:00Z",
            "2024-01-01T04:00:00Z",
            "2024-01-01T05:00:00Z"
        ])
    );
    // The search starts a second before the start time, in whole seconds: a start time
    // within a second still lets that second match.
    let spec = ScheduleSpec {
        interval: vec![interval(3_600, None)],
        start_time: Some(timestamp("2024-01-01T02:00:00.500Z")),
        ..ScheduleSpec::default()
    };
    assert_eq!(
        matching_times(
            &spec,
            "start",
            "2024-01-01T00:00:00Z",
            "2024-01-01T04:00:00Z"
        ),
        times(&[
            "2024-01-01T02:00:00Z",
            "2024-01-01T03:00:00Z",
            "2024-01-01T04:00:00Z"
        ])
    );
}

#[test]
fn jitter_is_the_real_servers() {
    let hourly = ScheduleSpec {
        jitter: Some(seconds(1_800)),
        ..cron(&["0 * * * *"])
    };
    assert_eq!(
        matching_times(
            &hourly,
            "fixed-jitter_hourly",
            "2024-01-01T00:00:00Z",
            "2024-01-01T06:00:00Z"
        ),
        times(&[
            "2024-01-01T01:22:11.682Z",
            "2024-01-01T02:12:53.996Z",
            "2024-01-01T03:08:49.182Z",
            "2024-01-01T04:15:33.889Z",
            "2024-01-01T05:16:21.875Z"
        ])
    );
    // Capped at the next nominal time, ten minutes on.
    let capped = ScheduleSpec {
        interval: vec![interval(600, None)],
        jitter: Some(seconds(86_400)),
        ..ScheduleSpec::default()
    };
    assert_eq!(
        matching_times(
            &capped,
            "fixed-jitter_big",
            "2024-01-01T00:00:00Z",
            "2024-01-01T01:00:00Z"
        ),
        times(&[
            "2024-01-01T00:11:10.855Z",
            "2024-01-01T00:26:01.031Z",
            "2024-01-01T00:39:52.982Z",
            "2024-01-01T00:48:34.608Z",
            "2024-01-01T00:51:22.899Z"
        ])
    );
    // 55 days of jitter count as 2^32 - 1 milliseconds (about 49.7 days).
    let long = ScheduleSpec {
        interval: vec![interval(60 * 86_400, None)],
        jitter: Some(seconds(55 * 86_400)),
        ..ScheduleSpec::default()
    };
    assert_eq!(
        matching_times(
            &long,
            "fixed-jitter_frac",
            "2024-01-01T00:00:00Z",
            "2024-12-01T00:00:00Z"
        ),
        times(&[
            "2024-02-13T09:23:31.808Z",
            "2024-04-15T09:29:36.909Z",
            "2024-06-01T09:42:53.213Z",
            "2024-08-15T20:36:05.807Z",
            "2024-10-24T18:36:32.726Z",
            "2024-11-26T13:37:06.486Z"
        ])
    );
}

#[test]
fn jitter_stays_within_its_bounds() {
    let compiled = CompiledSpec::new(&ScheduleSpec {
        jitter: Some(seconds(30)),
        ..cron(&["0 * * * *"])
    })
    .unwrap();
    let mut after = at("2024-01-01T00:00:00Z");
    for _ in 0..200 {
        let time = compiled.next_time("seed", after).unwrap().unwrap();
        assert_eq!(time.nominal, after + 3_600_000);
        assert!((time.nominal..time.nominal + 30_000).contains(&time.actual));
        assert_eq!(compiled.next_time("seed", after), Ok(Some(time)));
        after = time.nominal;
    }
    // Without jitter the actual time is the nominal one.
    let compiled = CompiledSpec::new(&cron(&["0 * * * *"])).unwrap();
    let time = compiled.next_time("seed", after).unwrap().unwrap();
    assert_eq!(time.actual, time.nominal);
}

/// Local times that a change to daylight saving time skips are skipped; those it repeats
/// match twice.
#[test]
fn daylight_saving_changes() {
    let in_zone = |cron_string: &str, zone: &str| ScheduleSpec {
        timezone_name: zone.into(),
        ..cron(&[cron_string])
    };
    let cases: [(ScheduleSpec, &str, &str, &[&str]); 7] = [
        (
            in_zone("30 2 * * *", "America/New_York"),
            "2024-03-08T00:00:00Z",
            "2024-03-12T00:00:00Z",
            &[
                "2024-03-08T07:30:00Z",
                "2024-03-09T07:30:00Z",
                "2024-03-11T06:30:00Z",
            ],
        ),
        (
            in_zone("30 1 * * *", "America/New_York"),
            "2024-11-02T00:00:00Z",
            "2024-11-05T00:00:00Z",
            &[
                "2024-11-02T05:30:00Z",
                "2024-11-03T05:30:00Z",
                "2024-11-03T06:30:00Z",
                "2024-11-04T06:30:00Z",
            ],
        ),
        (
            in_zone("*/15 1-3 * * *", "America/New_York"),
            "2024-03-10T05:00:00Z",
            "2024-03-10T09:00:00Z",
            &[
                "2024-03-10T06:00:00Z",
                "2024-03-10T06:15:00Z",
                "2024-03-10T06:30:00Z",
                "2024-03-10T06:45:00Z",
                "2024-03-10T07:00:00Z",
                "2024-03-10T07:15:00Z",
                "2024-03-10T07:30:00Z",
                "2024-03-10T07:45:00Z",
            ],
        ),
        (
            in_zone("*/15 0-3 * * *", "America/New_York"),
            "2024-11-03T03:00:00Z",
            "2024-11-03T09:00:00Z",
            &[
                "2024-11-03T04:00:00Z",
                "2024-11-03T04:15:00Z",
                "2024-11-03T04:30:00Z",
                "2024-11-03T04:45:00Z",
                "2024-11-03T05:00:00Z",
                "2024-11-03T05:15:00Z",
                "2024-11-03T05:30:00Z",
                "2024-11-03T05:45:00Z",
                "2024-11-03T06:00:00Z",
                "2024-11-03T06:15:00Z",
                "2024-11-03T06:30:00Z",
                "2024-11-03T06:45:00Z",
                "2024-11-03T07:00:00Z",
                "2024-11-03T07:15:00Z",
                "2024-11-03T07:30:00Z",
                "2024-11-03T07:45:00Z",
                "2024-11-03T08:00:00Z",
                "2024-11-03T08:15:00Z",
                "2024-11-03T08:30:00Z",
                "2024-11-03T08:45:00Z",
            ],
        ),
        // Starting within the repeated hour's second pass.
        (
            in_zone("*/20 1 * * *", "America/New_York"),
            "2024-11-03T06:10:00Z",
            "2024-11-03T09:00:00Z",
            &["2024-11-03T06:20:00Z", "2024-11-03T06:40:00Z"],
        ),
        // Half-hour changes, which the real server's search handles oddly; same results.
        (
            in_zone("*/15 1-2 * * *", "Australia/Lord_Howe"),
            "2024-04-06T13:00:00Z",
            "2024-04-06T17:00:00Z",
            &[
                "2024-04-06T14:00:00Z",
                "2024-04-06T14:15:00Z",
                "2024-04-06T15:00:00Z",
                "2024-04-06T16:15:00Z",
            ],
        ),
        (
            in_zone("*/15 1-3 * * *", "Australia/Lord_Howe"),
            "2024-10-05T13:00:00Z",
            "2024-10-05T17:00:00Z",
            &[
                "2024-10-05T14:30:00Z",
                "2024-10-05T14:45:00Z",
                "2024-10-05T15:00:00Z",
                "2024-10-05T15:15:00Z",
                "2024-10-05T15:30:00Z",
                "2024-10-05T15:45:00Z",
                "2024-10-05T16:00:00Z",
                "2024-10-05T16:15:00Z",
                "2024-10-05T16:30:00Z",
                "2024-10-05T16:45:00Z",
            ],
        ),
    ];
    for (spec, start, end, expected) in cases {
        assert_eq!(
            matching_times(&spec, "dst", start, end),
            times(expected),
            "{spec:?}"
        );
    }
}

#[test]
fn too_many_excluded_candidates_stop_the_search() {
    // Every second of January 1-14 excluded: 1,209,600 candidates.
    let spec = ScheduleSpec {
        interval: vec![interval(1, None)],
        exclude_calendar: vec![CalendarSpec {
            second: "*".into(),
            minute: "*".into(),
            hour: "*".into(),
            day_of_month: "1-14".into(),
            month: "1".into(),
            ..CalendarSpec::default()
        }],
        ..ScheduleSpec::default()
    };
    let compiled = CompiledSpec::new(&spec).unwrap();
    assert_eq!(
        compiled.next_time("seed", at("2023-12-31T23:59:59Z")),
        Err(TooManyExclusions)
    );
    let fifteenth = at("2024-01-15T00:00:00Z");
    assert_eq!(
        compiled.next_time("seed", at("2024-01-01T00:00:00Z")),
        Ok(Some(ScheduledTime {
            nominal: fifteenth,
            actual: fifteenth
        }))
    );
}

#[test]
fn nothing_to_name() {
    let compiled = CompiledSpec::new(&ScheduleSpec::default()).unwrap();
    assert_eq!(compiled.next_time("seed", 0), Ok(None));
    let compiled = CompiledSpec::new(&cron(&["0 0 1 1 * 2030"])).unwrap();
    assert_eq!(
        compiled.next_time("seed", at("2030-01-01T00:00:00Z")),
        Ok(None)
    );
    assert_eq!(compiled.next_time("seed", i64::MAX), Ok(None));
    assert_eq!(
        compiled.next_time("seed", i64::MIN),
        Ok(Some(ScheduledTime {
            nominal: at("2030-01-01T00:00:00Z"),
            actual: at("2030-01-01T00:00:00Z")
        }))
    );
}
