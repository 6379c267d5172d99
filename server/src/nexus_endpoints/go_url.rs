//! The part of Go's `url.Parse` that decides whether an external target's URL parses, and
//! its scheme: what the real server checks, with Go's errors.

use crate::go_format::go_quote;

/// The URL's scheme, lower-cased (empty if it has none), or Go's error.
pub fn scheme(raw: &str) -> Result<String, String> {
    let (url, fragment) = match raw.split_once('#') {
        Some((url, fragment)) => (url, Some(fragment)),
        None => (raw, None),
    };
    let scheme = parse(url).map_err(|error| format!("parse {}: {error}", go_quote(url)))?;
    if let Some(fragment) = fragment {
        unescape(fragment, Mode::Other)
            .map_err(|error| format!("parse {}: {error}", go_quote(raw)))?;
    }
    Ok(scheme)
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Host,
    Other,
}

fn parse(url: &str) -> Result<String, String> {
    if url.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    if url == "*" {
        return Ok(String::new());
    }
    let (scheme, rest) = split_scheme(url)?;
    let scheme = scheme.to_ascii_lowercase();
    let rest = match rest.split_once('?') {
        Some((before, _query)) => before,
        None => rest,
    };
    if !rest.starts_with('/') {
        if !scheme.is_empty() {
            // Opaque, like `mailto:a@b`.
            return Ok(scheme);
        }
        let segment = rest.split('/').next().unwrap_or_default();
        if segment.contains(':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    let mut path = rest;
    if let Some(after) = rest.strip_prefix("//")
        && (!scheme.is_empty() || !rest.starts_with("///"))
    {
        let (authority, tail) = match after.find('/') {
            Some(at) => after.split_at(at),
            None => (after, ""),
        };
        check_authority(authority)?;
        path = tail;
    }
    unescape(path, Mode::Other)?;
    Ok(scheme)
}

/// Go's `getScheme`: letters, then letters, digits, `+`, `-` or `.` up to a colon.
fn split_scheme(url: &str) -> Result<(&str, &str), String> {
    for (i, byte) in url.bytes().enumerate() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((&url[..i], &url[i + 1..])),
            _ => return Ok(("", url)),
        }
    }
    Ok(("", url))
}

fn check_authority(authority: &str) -> Result<(), String> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    check_host(host)?;
    if let Some(userinfo) = userinfo {
        let valid = userinfo
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b));
        if !valid {
            return Err("net/url: invalid userinfo".into());
        }
        unescape(userinfo, Mode::Other)?;
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), String> {
    let port = if host.starts_with('[') {
        let Some(end) = host.rfind(']') else {
            return Err("missing ']' in host".into());
        };
        Some(&host[end + 1..])
    } else {
        host.rfind(':').map(|at| &host[at..])
    };
    if let Some(port) = port {
        let valid = port.is_empty()
            || port
                .strip_prefix(':')
                .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()));
        if !valid {
            return Err(format!("invalid port {} after host", go_quote(port)));
        }
    }
    unescape(host, Mode::Host)?;
    Ok(())
}

/// Go's `unescape` as a check: `%` must start two hex digits (in a host, only for
/// non-ASCII bytes or `%25`), and a host holds only the characters Go allows there.
fn unescape(text: &str, mode: Mode) -> Result<(), String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let escape = String::from_utf8_lossy(&bytes[i..bytes.len().min(i + 3)]);
                let hex = |at: usize| bytes.get(at).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return Err(format!("invalid URL escape {}", go_quote(&escape)));
                }
                let ascii = (bytes[i + 1] as char).to_digit(16).is_some_and(|d| d < 8);
                if mode == Mode::Host && ascii && escape != "%25" {
                    return Err(format!("invalid URL escape {}", go_quote(&escape)));
                }
                i += 3;
            }
            byte => {
                if mode == Mode::Host && byte < 0x80 && !allowed_in_host(byte) {
                    let shown = (byte as char).to_string();
                    return Err(format!(
                        "invalid character {} in host name",
                        go_quote(&shown)
                    ));
                }
                i += 1;
            }
        }
    }
    Ok(())
}

fn allowed_in_host(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&byte)
}
