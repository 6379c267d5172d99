//! Values as the real server (written in Go) reads them from a query, and prints them back in
//! its messages.

/// Nanoseconds in a millisecond: Go counts time in nanoseconds, the store in milliseconds.
pub(super) const NANOS_PER_MILLI: i64 = 1_000_000;

/// An `ExecutionDuration` value in nanoseconds, from any form the real server takes: a
/// number of nanoseconds (`"90"`), a Go duration (`"1h30m"`, `"-1.5h"`, `"300ms"`, with
/// `d` for 24 hours as Temporal adds), or `"hh:mm:ss"`.
pub(super) fn duration_nanos(text: &str) -> Option<i64> {
    text.parse()
        .ok()
        .or_else(|| go_duration(text))
        .or_else(|| hours_minutes_seconds(text))
}

/// Go's `time.ParseDuration`, plus the unit `d`.
fn go_duration(text: &str) -> Option<i64> {
    const UNITS: [(&str, u64); 9] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("μs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
        ("d", 86_400_000_000_000),
    ];
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let limit = 1u64 << 63;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let whole_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let whole = &rest[..whole_end];
        rest = &rest[whole_end..];
        let mut fraction = "";
        if let Some(after_point) = rest.strip_prefix('.') {
            let fraction_end = after_point
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_point.len());
            fraction = &after_point[..fraction_end];
            rest = &after_point[fraction_end..];
        }
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = UNITS
            .iter()
            .find(|(unit, _)| *unit == &rest[..unit_end])
            .map(|(_, scale)| *scale)?;
        rest = &rest[unit_end..];
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let mut value = whole.checked_mul(scale).filter(|v| *v <= limit)?;
        // Like Go, digits beyond what a u64 holds add nothing.
        let (mut digits, mut divisor) = (0u64, 1f64);
        for d in fraction.bytes() {
            match digits
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
            {
                Some(more) => {
                    digits = more;
                    divisor *= 10.0;
                }
                None => break,
            }
        }
        if digits > 0 {
            value = value.checked_add((digits as f64 * (scale as f64 / divisor)) as u64)?;
        }
        total = total.checked_add(value).filter(|v| *v <= limit)?;
    }
    if negative {
        Some(0i64.wrapping_sub_unsigned(total))
    } else {
        i64::try_from(total).ok()
    }
}

/// `h:m:s`, minutes and seconds below 60.
fn hours_minutes_seconds(text: &str) -> Option<i64> {
    let mut parts = text.split(':').map(|part| part.parse::<i64>().ok());
    let (Some(Some(hours)), Some(Some(minutes)), Some(Some(seconds)), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if hours < 0 || !(0..60).contains(&minutes) || !(0..60).contains(&seconds) {
        return None;
    }
    hours
        .checked_mul(3600)?
        .checked_add(minutes * 60 + seconds)?
        .checked_mul(1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn durations_read_every_form_the_real_server_takes() {
        for (text, nanos) in [
            ("90", 90),
            ("-5", -5),
            ("0", 0),
            ("1s", SECOND),
            ("1h30m", 5400 * SECOND),
            ("-1.5h", -5400 * SECOND),
            ("+2m", 120 * SECOND),
            ("300ms", 300_000_000),
            ("1.5us", 1500),
            ("1µs", 1000),
            ("1μs", 1000),
            ("7ns", 7),
            (".5s", 500_000_000),
            ("1d", 86_400 * SECOND),
            ("1d2h", 93_600 * SECOND),
            ("00:00:01", SECOND),
            ("1:02:03", 3723 * SECOND),
            ("2562047h47m16.854775807s", i64::MAX),
            ("-2562047h47m16.854775808s", i64::MIN),
        ] {
            assert_eq!(duration_nanos(text), Some(nanos), "{text}");
        }
        for text in [
            "", "bad", "1", "1x", "s", ".s", "1h-1m", "1:60:00", "-1:00:00", "1:2", "1:2:3:4",
            "2562048h",
        ] {
            let expected = if text == "1" { Some(1) } else { None };
            assert_eq!(duration_nanos(text), expected, "{text}");
        }
    }
}
