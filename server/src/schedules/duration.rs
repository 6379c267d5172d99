//! Durations the way the real server (Go) reads and checks them: `@every` arguments go through
//! `time.ParseDuration` with Temporal's `d` unit, and protobuf durations through
//! `durationpb`'s conversion and validity check. Error texts are Go's, since they reach
//! clients inside INVALID_ARGUMENT messages.

use prost_types::Duration;

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// A protobuf duration in nanoseconds, saturating at the bounds of Go's `time.Duration` like
/// `durationpb.AsDuration`; an absent one is zero.
pub(super) fn nanos(duration: Option<&Duration>) -> i64 {
    duration.map_or(0, |d| {
        let nanos = i128::from(d.seconds) * NANOS_PER_SECOND + i128::from(d.nanos);
        nanos.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    })
}

/// `durationpb.CheckValid`: at most 10,000 years, nanos within a second and of the seconds'
/// sign.
pub(super) fn check_valid(d: &Duration) -> Result<(), String> {
    // 10,000 Julian years.
    const MAX_SECONDS: i64 = 315_576_000_000;
    let problem = if d.seconds < -MAX_SECONDS {
        "exceeds -10000 years"
    } else if d.seconds > MAX_SECONDS {
        "exceeds +10000 years"
    } else if d.nanos <= -1_000_000_000 || d.nanos >= 1_000_000_000 {
        "has out-of-range nanos"
    } else if (d.seconds > 0 && d.nanos < 0) || (d.seconds < 0 && d.nanos > 0) {
        "has seconds and nanos with different signs"
    } else {
        return Ok(());
    };
    // The message as the real server's build prints it: Go's protobuf library deliberately
    // varies its separators per build, and this one writes a no-break space after "proto:"
    // and two spaces between fields.
    let mut fields = Vec::new();
    if d.seconds != 0 {
        fields.push(format!("seconds:{}", d.seconds));
    }
    if d.nanos != 0 {
        fields.push(format!("nanos:{}", d.nanos));
    }
    Err(format!(
        "proto:\u{a0}duration ({}) {problem}",
        fields.join("  ")
    ))
}

/// Temporal's `timestamp.ParseDuration`: Go's `time.ParseDuration` where `<number>d` first
/// becomes 24 hours per day. Returns nanoseconds.
pub(super) fn parse(text: &str) -> Result<i64, String> {
    parse_go(&replace_days(text))
}

/// Rewrites each `<number>d` (the regular expression `(\d+(\.\d*)?|(\.\d+))d`) as
/// `<24 × number>h` with six decimals, as Temporal does before Go parses the rest.
fn replace_days(text: &str) -> String {
    let bytes = text.as_bytes();
    let digits_from = |i: usize| {
        i + bytes[i.min(bytes.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    // The end of a match starting at `i`, trying the alternatives in the expression's order.
    let match_at = |i: usize| -> Option<usize> {
        let end = if bytes[i].is_ascii_digit() {
            let integer = digits_from(i);
            if bytes.get(integer) == Some(&b'.') {
                digits_from(integer + 1)
            } else {
                integer
            }
        } else if bytes[i] == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            digits_from(i + 1)
        } else {
            return None;
        };
        (bytes.get(end) == Some(&b'd')).then_some(end + 1)
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let replaced = match_at(i).and_then(|end| {
            let days: f64 = text[i..end - 1].parse().ok()?;
            let hours = 24.0 * days;
            hours.is_finite().then(|| (end, format!("{hours:.6}h")))
        });
        match replaced {
            Some((end, hours)) => {
                out.push_str(&hours);
                i = end;
            }
            None => {
                let c = text[i..].chars().next().unwrap_or_default();
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    out
}

/// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, with its error texts.
fn parse_go(text: &str) -> Result<i64, String> {
    const LIMIT: u64 = 1 << 63;
    let invalid = || format!("time: invalid duration {}", quote(text));
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let first = rest.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }
        let integer_digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let mut value: u64 = 0;
        for digit in rest[..integer_digits].bytes() {
            if value > LIMIT / 10 {
                return Err(invalid());
            }
            value = value * 10 + u64::from(digit - b'0');
            if value > LIMIT {
                return Err(invalid());
            }
        }
        rest = &rest[integer_digits..];
        // Fraction digits past what fits are dropped, not an error.
        let (mut fraction, mut scale, mut fraction_digits) = (0u64, 1f64, None);
        if let Some(after_point) = rest.strip_prefix('.') {
            let digits = after_point.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for digit in after_point[..digits].bytes() {
                if overflow || fraction > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let next = fraction * 10 + u64::from(digit - b'0');
                if next > LIMIT {
                    overflow = true;
                    continue;
                }
                fraction = next;
                scale *= 10.0;
            }
            fraction_digits = Some(digits);
            rest = &after_point[digits..];
        }
        if integer_digits == 0 && fraction_digits.unwrap_or(0) == 0 {
            return Err(invalid());
        }
        let unit_len = rest
            .bytes()
            .take_while(|b| *b != b'.' && !b.is_ascii_digit())
            .count();
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", quote(text)));
        }
        let unit_name = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit: u64 = match unit_name {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(unit_name),
                    quote(text)
                ));
            }
        };
        if value > LIMIT / unit {
            return Err(invalid());
        }
        value *= unit;
        if fraction > 0 {
            value += (fraction as f64 * (unit as f64 / scale)) as u64;
            if value > LIMIT {
                return Err(invalid());
            }
        }
        total += value;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if negative {
        return Ok((total as i64).wrapping_neg());
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// The `time` package's own quoting: bytes outside printable ASCII as `\xNN`.
fn quote(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        if c.is_ascii() && c >= ' ' {
            if c == '"' || c == '\\' {
                quoted.push('\\');
            }
            quoted.push(c);
        } else {
            let mut buffer = [0; 4];
            for byte in c.encode_utf8(&mut buffer).bytes() {
                quoted.push_str(&format!("\\x{byte:02x}"));
            }
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn parses_go_durations_and_days() {
        assert_eq!(parse("1h30m"), Ok(5_400 * SECOND));
        assert_eq!(parse("1.5d"), Ok(129_600 * SECOND));
        assert_eq!(parse("2d12h"), Ok(216_000 * SECOND));
        assert_eq!(parse("-1h"), Ok(-3_600 * SECOND));
        assert_eq!(parse(".5s"), Ok(SECOND / 2));
        assert_eq!(parse("1\u{b5}s"), Ok(1_000));
        assert_eq!(parse("0"), Ok(0));
    }

    #[test]
    fn duration_errors_read_like_go() {
        assert_eq!(
            parse("1x"),
            Err(r#"time: unknown unit "x" in duration "1x""#.into())
        );
        assert_eq!(
            parse("10"),
            Err(r#"time: missing unit in duration "10""#.into())
        );
        assert_eq!(parse(""), Err(r#"time: invalid duration """#.into()));
        assert_eq!(parse(" 1h"), Err(r#"time: invalid duration " 1h""#.into()));
        assert_eq!(
            parse("1h é"),
            Err(r#"time: unknown unit "h \xc3\xa9" in duration "1h \xc3\xa9""#.into())
        );
        assert_eq!(
            parse("9999999999h"),
            Err(r#"time: invalid duration "9999999999h""#.into())
        );
    }

    #[test]
    fn checks_protobuf_durations() {
        let duration = |seconds, nanos| Duration { seconds, nanos };
        assert_eq!(check_valid(&duration(60, 5)), Ok(()));
        assert_eq!(
            check_valid(&duration(60, -1)),
            Err(
                "proto:\u{a0}duration (seconds:60  nanos:-1) has seconds and nanos with \
                 different signs"
                    .into()
            )
        );
        assert_eq!(
            check_valid(&duration(315_576_000_001, 0)),
            Err("proto:\u{a0}duration (seconds:315576000001) exceeds +10000 years".into())
        );
        assert_eq!(
            check_valid(&duration(0, 1_000_000_000)),
            Err("proto:\u{a0}duration (nanos:1000000000) has out-of-range nanos".into())
        );
        assert_eq!(nanos(Some(&duration(i64::MAX, 0))), i64::MAX);
        assert_eq!(nanos(None), 0);
    }
}
