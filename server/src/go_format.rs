//! Values as the real server (written in Go) prints them in its messages, so that ours read
//! the same: `%q` of a string, `%v` of a float64, a `time.Duration`.

/// A string as Go's `%q` prints it.
pub fn go_quote(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\x07' => quoted.push_str("\\a"),
            '\x08' => quoted.push_str("\\b"),
            '\x0c' => quoted.push_str("\\f"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\x0b' => quoted.push_str("\\v"),
            c if c.is_ascii_control() => quoted.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A float64 as Go's `%v` prints it: the shortest digits, in exponent form below 1e-4 or
/// from 1e6.
pub fn go_float(value: f64) -> String {
    let scientific = format!("{value:e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return scientific;
    };
    let exponent: i32 = exponent.parse().unwrap_or_default();
    if value == 0.0 || (-4..6).contains(&exponent) {
        return value.to_string();
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

/// A duration of milliseconds as Go's `time.Duration.String` prints it ("1m30.5s", "250ms").
pub fn go_duration(millis: i64) -> String {
    if millis == 0 {
        return "0s".into();
    }
    let sign = if millis < 0 { "-" } else { "" };
    let millis = millis.unsigned_abs();
    if millis < 1000 {
        return format!("{sign}{millis}ms");
    }
    let (hours, minutes) = (millis / 3_600_000, millis / 60_000 % 60);
    let seconds = match millis % 1000 {
        0 => format!("{}s", millis / 1000 % 60),
        fraction => {
            let digits = format!("{fraction:03}");
            format!("{}.{}s", millis / 1000 % 60, digits.trim_end_matches('0'))
        }
    };
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}"),
        (0, m) => format!("{sign}{m}m{seconds}"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_floats_print_like_go() {
        assert_eq!(go_quote("abc"), "\"abc\"");
        assert_eq!(go_quote("a\"b\\c\nd\x01é"), "\"a\\\"b\\\\c\\nd\\x01é\"");
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(10.0), "10");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1e20), "1e+20");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(0.0001), "0.0001");
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(250), "250ms");
        assert_eq!(go_duration(-250), "-250ms");
        assert_eq!(go_duration(9_000), "9s");
        assert_eq!(go_duration(8_998), "8.998s");
        assert_eq!(go_duration(90_500), "1m30.5s");
        assert_eq!(go_duration(3_600_000), "1h0m0s");
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(go_float(5.0), "5");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(9223372036854775808.0), "9.223372036854776e+18");
        assert_eq!(go_float(1.5e300), "1.5e+300");
    }
}
