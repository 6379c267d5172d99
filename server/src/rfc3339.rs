//! Timestamps as clients write them (search attribute values, visibility queries): RFC 3339
//! as Go parses it, `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, upper-case T and Z.

use crate::engine::Millis;

/// Milliseconds since the Unix epoch of an RFC 3339 timestamp, if it is one.
pub fn parse_millis(text: &str) -> Option<Millis> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = bytes.get(range)?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let at = |index: usize, expected: u8| bytes.get(index) == Some(&expected);
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=12).contains(&month)
        || !(1..=days_in_month).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &bytes[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        millis = fraction[..digits]
            .iter()
            .chain(std::iter::repeat(&b'0'))
            .take(3)
            .fold(0, |n, d| n * 10 + i64::from(d - b'0'));
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (h, m) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'-' {
                -(h * 60 + m)
            } else {
                h * 60 + m
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

/// The day number, counted from 1970-01-01, of a date (month 1-12).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_milliseconds_since_the_epoch() {
        assert_eq!(parse_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_millis("2026-11-28T10:17:30Z"),
            Some(1_795_861_050_000)
        );
        assert_eq!(
            parse_millis("2026-11-28T10:17:30.25Z"),
            Some(1_795_861_050_250)
        );
        assert_eq!(
            parse_millis("2026-11-28T12:17:30+02:00"),
            Some(1_795_861_050_000)
        );
        assert_eq!(
            parse_millis("2024-02-29T00:00:00-00:30"),
            Some(1_709_166_600_000)
        );
        assert_eq!(parse_millis("1969-12-31T23:59:59Z"), Some(-1000));
    }

    #[test]
    fn what_go_refuses_is_not_a_timestamp() {
        for text in [
            "",
            "2026-11-28",
            "2026-11-28 10:17:30Z",
            "2026-11-28t10:17:30Z",
            "2026-11-28T10:17:30",
            "2026-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-11-28T24:00:00Z",
            "2026-11-28T10:17:30.Z",
            "2026-11-28T10:17:30+2:00",
        ] {
            assert_eq!(parse_millis(text), None, "{text:?}");
        }
    }
}
