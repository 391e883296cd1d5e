//! Go `time.ParseDuration` syntax (`5m0s`, `30s`, `1.5h`, `100ms`, `-1s`).
//!
//! The config file writes every duration this way. This module only turns
//! the text into signed nanoseconds; the caller decides whether a negative
//! or zero value is allowed for its field.

/// Largest magnitude Go accepts: a positive duration fits in an `i64` of
/// nanoseconds; a negative one may reach `i64::MIN`.
const MAX_POSITIVE: u128 = i64::MAX as u128;

/// Stop accumulating fraction digits beyond this scale (Go drops them too).
/// Keeps `fraction * nanoseconds-per-hour` far inside `u128`.
const MAX_SCALE: u128 = 1_000_000_000_000_000_000;

/// Parses a Go duration into signed nanoseconds. The error text explains
/// the problem without repeating the field name.
pub fn parse(text: &str) -> Result<i128, String> {
    let invalid = |why: &str| format!("invalid duration '{text}': {why}");
    let mut s = text;
    let mut negative = false;
    if let Some(rest) = s.strip_prefix('-') {
        negative = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid("empty"));
    }

    let mut total: u128 = 0;
    while !s.is_empty() {
        // Integer part.
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, rest) = s.split_at(int_len);
        s = rest;
        let mut whole: u128 = 0;
        for d in int_digits.bytes() {
            whole = whole * 10 + u128::from(d - b'0');
            if whole > MAX_POSITIVE + 1 {
                return Err(invalid("out of range"));
            }
        }
        // Fraction.
        let mut frac: u128 = 0;
        let mut scale: u128 = 1;
        let mut frac_len = 0;
        if let Some(rest) = s.strip_prefix('.') {
            frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            let (frac_digits, rest) = rest.split_at(frac_len);
            s = rest;
            for d in frac_digits.bytes() {
                if scale >= MAX_SCALE {
                    break;
                }
                frac = frac * 10 + u128::from(d - b'0');
                scale *= 10;
            }
        }
        if int_len == 0 && frac_len == 0 {
            return Err(invalid("expected a number like '30s' or '5m'"));
        }
        // Unit.
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(s.len(), |(i, _)| i);
        let (unit, rest) = s.split_at(unit_len);
        s = rest;
        let nanos_per_unit: u128 = match unit {
            "" => return Err(invalid("missing unit (want ns, us, ms, s, m or h)")),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            other => {
                return Err(invalid(&format!(
                    "unknown unit '{other}' (want ns, us, ms, s, m or h)"
                )));
            }
        };
        let part = whole
            .checked_mul(nanos_per_unit)
            .and_then(|w| w.checked_add(frac * nanos_per_unit / scale))
            .ok_or_else(|| invalid("out of range"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| invalid("out of range"))?;
        if total > MAX_POSITIVE + 1 {
            return Err(invalid("out of range"));
        }
    }
    if !negative && total > MAX_POSITIVE {
        return Err(invalid("out of range"));
    }
    let total = i128::try_from(total).map_err(|_| invalid("out of range"))?;
    Ok(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::parse;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics(text in "[-+0-9.a-zµμ]{0,40}") {
            let _ = parse(&text);
        }

        #[test]
        fn components_add_up(h in 0i128..100_000, m in 0i128..60, s in 0i128..60, ms in 0i128..1000) {
            let text = format!("{h}h{m}m{s}s{ms}ms");
            prop_assert_eq!(parse(&text), Ok(((h * 60 + m) * 60 + s) * S + ms * 1_000_000));
            let neg = format!("-{text}");
            prop_assert_eq!(parse(&neg), Ok(-(((h * 60 + m) * 60 + s) * S + ms * 1_000_000)));
        }
    }

    const S: i128 = 1_000_000_000;

    #[test]
    fn accepts_go_syntax() {
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("-0"), Ok(0));
        assert_eq!(parse("0s"), Ok(0));
        assert_eq!(parse("30s"), Ok(30 * S));
        assert_eq!(parse("5m0s"), Ok(300 * S));
        assert_eq!(parse("15m"), Ok(900 * S));
        assert_eq!(parse("1h"), Ok(3600 * S));
        assert_eq!(parse("1.5h"), Ok(5400 * S));
        assert_eq!(parse(".5s"), Ok(S / 2));
        assert_eq!(parse("1.s"), Ok(S));
        assert_eq!(parse("100ms"), Ok(S / 10));
        assert_eq!(parse("1h2m3s4ms5us6ns"), Ok(3723 * S + 4_005_006));
        assert_eq!(parse("2µs"), Ok(2_000));
        assert_eq!(parse("-1.5s"), Ok(-3 * S / 2));
        assert_eq!(parse("+2s"), Ok(2 * S));
        assert_eq!(
            parse("1.123456789012345678901234567890123456789h"),
            Ok(4044 * S + 444_440_444)
        );
        assert_eq!(parse("2562047h47m16.854775807s"), Ok(i128::from(i64::MAX)));
        assert_eq!(parse("-2562047h47m16.854775808s"), Ok(i128::from(i64::MIN)));
    }

    #[test]
    fn rejects_bad_durations_with_a_reason() {
        for (text, why) in [
            ("", "empty"),
            ("-", "empty"),
            ("5", "missing unit"),
            ("5d", "unknown unit 'd'"),
            ("s", "expected a number"),
            ("1.5.5s", "missing unit"),
            ("five minutes", "expected a number"),
            ("2562047h47m16.854775808s", "out of range"),
            ("99999999999999999999999h", "out of range"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(
                err.starts_with(&format!("invalid duration '{text}'")),
                "{err}"
            );
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
