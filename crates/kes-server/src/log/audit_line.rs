//! The audit log's JSON line (spec §8.7): [`AuditRecord`] and its
//! hand-written serializer (the exact bytes serde would produce for
//! [`kes_types::api::AuditEvent`]) with a fast RFC 3339 formatter, an
//! IPv4 and integer writer and the JSON string check. This runs once per
//! audited request, so it allocates nothing beyond the output buffer.

use std::cell::Cell;
use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One audited request (written as one JSON line). Borrows the request's
/// path and identity, so recording it allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRecord<'a> {
    /// When the request was answered (wall clock).
    pub time: SystemTime,
    /// Client IP, when known.
    pub ip: Option<IpAddr>,
    /// Request path.
    pub path: &'a str,
    /// Client identity, when known.
    pub identity: Option<&'a str>,
    /// Response status code.
    pub status: u16,
    /// Time taken to answer.
    pub latency: Duration,
}

impl AuditRecord<'_> {
    /// The JSON line of this record (with trailing `\n`), e.g.
    /// `{"time":"2025-05-01T12:00:00.123456789Z","request":{"ip":"10.1.2.3","path":"/v1/key/create/k1","identity":"3ecf…"},"response":{"code":200,"time":2000000}}`.
    pub fn to_json_line(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_json_line(&mut out);
        out
    }

    /// Appends the JSON line of this record (with trailing `\n`) to `out`.
    ///
    /// Written by hand (this runs once per audited request): the same bytes
    /// serde would produce for `AuditEvent` (the test
    /// `hand_written_audit_json_equals_serde` checks that), without
    /// intermediate strings or `fmt` machinery on the common path.
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        out.reserve(128 + self.path.len() + self.identity.map_or(0, str::len));
        out.extend_from_slice(b"{\"time\":\"");
        push_rfc3339_nanos(out, self.time);
        out.extend_from_slice(b"\",\"request\":{");
        match self.ip {
            Some(IpAddr::V4(ip)) => {
                out.extend_from_slice(b"\"ip\":\"");
                push_ipv4(out, ip);
                out.extend_from_slice(b"\",");
            }
            Some(ip @ IpAddr::V6(_)) => {
                let _ = write!(out, "\"ip\":\"{ip}\",");
            }
            None => {}
        }
        out.extend_from_slice(b"\"path\":");
        push_json_str(out, self.path);
        if let Some(id) = self.identity.filter(|id| !id.is_empty()) {
            out.extend_from_slice(b",\"identity\":");
            push_json_str(out, id);
        }
        out.extend_from_slice(b"},\"response\":{\"code\":");
        push_u64(out, u64::from(self.status));
        out.extend_from_slice(b",\"time\":");
        push_u64(
            out,
            u64::try_from(self.latency.as_nanos()).unwrap_or(u64::MAX),
        );
        out.extend_from_slice(b"}}\n");
    }
}

/// Appends `n` in decimal.
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        start -= 1;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

/// Appends an IPv4 address in dotted decimal (what `Display` prints).
fn push_ipv4(out: &mut Vec<u8>, ip: std::net::Ipv4Addr) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        push_u64(out, u64::from(octet));
    }
}

/// Seconds since the Unix epoch of 10000-01-01T00:00:00Z: the fast
/// RFC 3339 path covers `[1970, 10000)`.
const YEAR_10000: u64 = 253_402_300_800;

thread_local! {
    /// The last second formatted on this thread and its
    /// `YYYY-MM-DDTHH:MM:SS` rendering (audit lines arrive many per second).
    static SECOND_PREFIX: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

/// Appends `time` as RFC 3339 in UTC with as many fractional digits as
/// needed (Go's `time.RFC3339Nano`): exactly what `time`'s `Rfc3339`
/// formatter prints (the proptest `fast_rfc3339_equals_time_crate` checks
/// that), with the date/time prefix computed once per second per thread.
fn push_rfc3339_nanos(out: &mut Vec<u8>, time: SystemTime) {
    let since_epoch = match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) if d.as_secs() < YEAR_10000 => d,
        _ => {
            // Before 1970 or after 9999: never on a real clock.
            let nanos = match time.duration_since(SystemTime::UNIX_EPOCH) {
                Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
                Err(e) => i128::try_from(e.duration().as_nanos()).map_or(i128::MIN, |n| -n),
            };
            let text = match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
                Ok(t) => rfc3339_nanos(t),
                Err(_) => format!("{time:?}"),
            };
            out.extend_from_slice(text.as_bytes());
            return;
        }
    };
    let secs = since_epoch.as_secs();
    let prefix = SECOND_PREFIX.with(|cell| {
        let (cached_secs, cached) = cell.get();
        if cached_secs == secs {
            return cached;
        }
        let prefix = second_prefix(secs);
        cell.set((secs, prefix));
        prefix
    });
    out.extend_from_slice(&prefix);
    let nanos = since_epoch.subsec_nanos();
    if nanos != 0 {
        let mut digits = [0u8; 9];
        let mut n = nanos;
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        // `time` strips trailing zeros: .5, .123, .123456789.
        let len = digits.iter().rposition(|&d| d != b'0').map_or(0, |i| i + 1);
        out.push(b'.');
        out.extend_from_slice(digits.get(..len).unwrap_or_default());
    }
    out.push(b'Z');
}

/// `YYYY-MM-DDTHH:MM:SS` of `secs` since the Unix epoch (`secs` below
/// [`YEAR_10000`]).
fn second_prefix(secs: u64) -> [u8; 19] {
    let (year, month, day) = civil_from_days(secs / 86_400);
    let of_day = secs % 86_400;
    let (hour, minute, second) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    let two = |n: u64| [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
    let [y0, y1] = two(year / 100);
    let [y2, y3] = two(year % 100);
    let [mo0, mo1] = two(month);
    let [d0, d1] = two(day);
    let [h0, h1] = two(hour);
    let [mi0, mi1] = two(minute);
    let [s0, s1] = two(second);
    [
        y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b'T', h0, h1, b':', mi0, mi1, b':', s0, s1,
    ]
}

/// The proleptic Gregorian `(year, month, day)` of `days` since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so leap days end each 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Appends `s` as a JSON string: verbatim when it needs no escaping (the
/// common case: paths of valid names, hex identities), else via serde_json.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // A fold without early exit, so the check vectorizes.
    let plain = s.bytes().fold(true, |plain, b| {
        plain & ((0x20..0x7f).contains(&b) & (b != b'"') & (b != b'\\'))
    });
    if plain {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// RFC 3339 in UTC with as many fractional digits as needed (Go's
/// `time.RFC3339Nano`).
fn rfc3339_nanos(time: OffsetDateTime) -> String {
    let t = time.to_offset(time::UtcOffset::UTC);
    t.format(&Rfc3339).unwrap_or_else(|_| {
        // Only years outside 0..=9999 fail; fall back to a plain rendering.
        format!("{t}")
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::strategy::Strategy as _;
    use time::macros::datetime;

    #[test]
    fn hand_written_audit_json_equals_serde() {
        use kes_types::api::{AuditEvent, AuditRequest, AuditResponse};
        let reference = |r: &AuditRecord| {
            let event = AuditEvent {
                time: rfc3339_nanos(OffsetDateTime::from(r.time)),
                request: AuditRequest {
                    ip: r.ip.map(|ip| ip.to_string()).unwrap_or_default(),
                    path: r.path.to_owned(),
                    identity: r.identity.unwrap_or_default().to_owned(),
                },
                response: AuditResponse {
                    code: r.status,
                    time: u64::try_from(r.latency.as_nanos()).unwrap(),
                },
            };
            let mut v = serde_json::to_vec(&event).unwrap();
            v.push(b'\n');
            v
        };
        let paths = [
            "/v1/key/generate/k1",
            "/v1/key/list/*",
            "/a\"b\\c\n\u{7f}é<>&",
            "",
        ];
        let ips: [Option<IpAddr>; 7] = [
            None,
            Some("10.1.2.3".parse().unwrap()),
            Some("0.0.0.0".parse().unwrap()),
            Some("255.255.255.255".parse().unwrap()),
            Some("::1".parse().unwrap()),
            Some("::ffff:10.1.2.3".parse().unwrap()),
            Some("2001:db8::8a2e:370:7334".parse().unwrap()),
        ];
        let ids = [None, Some(""), Some("3ecf"), Some("x\"y")];
        let times = [
            datetime!(2025-05-01 12:00:00.123456789 UTC),
            datetime!(2025-05-01 12:00:00 UTC),
            datetime!(2025-05-01 12:00:00.1 UTC),
            datetime!(2024-02-29 23:59:59.000000001 UTC),
        ];
        let latencies = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_micros(1500),
            Duration::from_secs(u64::MAX / 1_000_000_000),
        ];
        for path in paths {
            for ip in ips {
                for (i, id) in ids.into_iter().enumerate() {
                    let mut r = record();
                    r.path = path;
                    r.ip = ip;
                    r.identity = id;
                    r.time = times[i].into();
                    r.latency = latencies[i];
                    r.status = [200, 400, 403, 9999][i];
                    assert_eq!(
                        String::from_utf8(r.to_json_line()).unwrap(),
                        String::from_utf8(reference(&r)).unwrap()
                    );
                }
            }
        }
    }

    pub(in crate::log) fn record() -> AuditRecord<'static> {
        AuditRecord {
            time: datetime!(2025-05-01 12:00:00.123456789 UTC).into(),
            ip: Some("10.1.2.3".parse().unwrap()),
            path: "/v1/key/create/k1",
            identity: Some("3ecf"),
            status: 200,
            latency: Duration::from_micros(1500),
        }
    }

    /// What `time`'s RFC 3339 formatter prints for `secs.nanos` since the
    /// epoch (the reference the fast formatter must equal).
    fn time_crate_rfc3339(secs: i64, nanos: u32) -> String {
        let t = OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(secs) * 1_000_000_000 + i128::from(nanos),
        )
        .unwrap();
        rfc3339_nanos(t)
    }

    fn fast_rfc3339(time: SystemTime) -> String {
        let mut out = Vec::new();
        push_rfc3339_nanos(&mut out, time);
        String::from_utf8(out).unwrap()
    }

    fn at(secs: i64, nanos: u32) -> SystemTime {
        let d = Duration::new(secs.unsigned_abs(), 0);
        let whole = if secs >= 0 {
            SystemTime::UNIX_EPOCH + d
        } else {
            SystemTime::UNIX_EPOCH - d
        };
        whole + Duration::from_nanos(u64::from(nanos))
    }

    proptest::proptest! {
        #[test]
        fn fast_rfc3339_equals_time_crate(
            secs in 0..YEAR_10000 as i64,
            nanos in proptest::prop_oneof![
                0..1_000_000_000u32,
                proptest::strategy::Just(0u32),
                (0..1000u32).prop_map(|ms| ms * 1_000_000),
                (0..1_000_000u32).prop_map(|us| us * 1000),
            ],
        ) {
            proptest::prop_assert_eq!(fast_rfc3339(at(secs, nanos)), time_crate_rfc3339(secs, nanos));
            // Same second again (served from the per-thread prefix cache).
            let other = (nanos + 1) % 1_000_000_000;
            proptest::prop_assert_eq!(fast_rfc3339(at(secs, other)), time_crate_rfc3339(secs, other));
        }

        #[test]
        fn push_u64_equals_display(n in proptest::num::u64::ANY) {
            let mut out = Vec::new();
            push_u64(&mut out, n);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }

        #[test]
        fn push_ipv4_equals_display(octets in proptest::array::uniform4(proptest::num::u8::ANY)) {
            let ip = std::net::Ipv4Addr::from(octets);
            let mut out = Vec::new();
            push_ipv4(&mut out, ip);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), ip.to_string());
        }
    }

    #[test]
    fn fast_rfc3339_edges_equal_time_crate() {
        let days = |y: i64, m: u8, d: u8| {
            time::Date::from_calendar_date(i32::try_from(y).unwrap(), m.try_into().unwrap(), d)
                .unwrap()
                .midnight()
                .assume_utc()
                .unix_timestamp()
        };
        let mut instants = vec![0, 59, 60, 3599, 3600, 86_399, 86_400, YEAR_10000 as i64 - 1];
        for y in [1970, 1972, 1999, 2000, 2024, 2025, 2100, 2400, 9999] {
            for (m, d) in [(1, 1), (2, 28), (3, 1), (12, 31)] {
                let s = days(y, m, d);
                instants.extend([s - 1, s, s + 86_399]);
            }
            if time::util::is_leap_year(i32::try_from(y).unwrap()) {
                instants.push(days(y, 2, 29));
            }
        }
        for secs in instants
            .into_iter()
            .filter(|s| (0..YEAR_10000 as i64).contains(s))
        {
            for nanos in [0, 1, 10, 100_000_000, 120_000_000, 123_456_789, 999_999_999] {
                assert_eq!(
                    fast_rfc3339(at(secs, nanos)),
                    time_crate_rfc3339(secs, nanos),
                    "{secs}.{nanos}"
                );
            }
        }
        // Going back to an earlier second after a later one (cache miss).
        let t = datetime!(2025-05-01 12:00:01.5 UTC);
        assert_eq!(fast_rfc3339(t.into()), "2025-05-01T12:00:01.5Z");
        assert_eq!(
            fast_rfc3339((t - Duration::from_secs(1)).into()),
            "2025-05-01T12:00:00.5Z"
        );
        assert_eq!(fast_rfc3339(t.into()), "2025-05-01T12:00:01.5Z");
    }

    #[test]
    fn rfc3339_outside_the_fast_range_falls_back_to_time_crate() {
        for (secs, nanos) in [(-1, 0), (-1, 500_000_000), (-86_400 * 365, 7)] {
            assert_eq!(
                fast_rfc3339(at(secs, nanos)),
                time_crate_rfc3339(secs, nanos),
                "{secs}.{nanos}"
            );
        }
        // Beyond what `time` can represent: some rendering, no panic.
        assert!(!fast_rfc3339(at(YEAR_10000 as i64, 0)).is_empty());
    }

    /// The audit line as the previous implementation built it (`time`'s
    /// RFC 3339 formatter, `fmt` for the IP and numbers, owned strings);
    /// a second reference for the bytes and the baseline of
    /// `audit_cost_per_record`.
    pub(in crate::log) fn previous_json_line(r: &AuditRecord<'_>) -> Vec<u8> {
        let (path, identity) = (r.path.to_owned(), r.identity.map(str::to_owned));
        let mut out = Vec::with_capacity(96 + path.len() + 64);
        out.extend_from_slice(b"{\"time\":\"");
        out.extend_from_slice(rfc3339_nanos(OffsetDateTime::from(r.time)).as_bytes());
        out.extend_from_slice(b"\",\"request\":{");
        if let Some(ip) = r.ip {
            write!(out, "\"ip\":\"{ip}\",").unwrap();
        }
        out.extend_from_slice(b"\"path\":");
        push_json_str(&mut out, &path);
        if let Some(id) = identity.as_deref().filter(|id| !id.is_empty()) {
            out.extend_from_slice(b",\"identity\":");
            push_json_str(&mut out, id);
        }
        let nanos = u64::try_from(r.latency.as_nanos()).unwrap_or(u64::MAX);
        writeln!(
            out,
            "}},\"response\":{{\"code\":{},\"time\":{nanos}}}}}",
            r.status
        )
        .unwrap();
        out
    }

    proptest::proptest! {
        #[test]
        fn audit_line_equals_previous_implementation(
            secs in 0..YEAR_10000 as i64,
            nanos in 0..1_000_000_000u32,
            ip in proptest::option::of(proptest::array::uniform4(proptest::num::u8::ANY)),
            status in proptest::num::u16::ANY,
            latency in proptest::num::u64::ANY,
        ) {
            let mut r = record();
            r.time = at(secs, nanos);
            r.ip = ip.map(IpAddr::from);
            r.status = status;
            r.latency = Duration::from_nanos(latency);
            proptest::prop_assert_eq!(r.to_json_line(), previous_json_line(&r));
        }
    }

    #[test]
    fn audit_line_has_go_shape_with_nanoseconds() {
        let line = String::from_utf8(record().to_json_line()).unwrap();
        assert_eq!(
            line,
            "{\"time\":\"2025-05-01T12:00:00.123456789Z\",\"request\":{\"ip\":\"10.1.2.3\",\
             \"path\":\"/v1/key/create/k1\",\"identity\":\"3ecf\"},\
             \"response\":{\"code\":200,\"time\":1500000}}\n"
        );
        let mut r = record();
        r.ip = None;
        r.identity = None;
        r.time = datetime!(2025-05-01 14:00:00.5 +2).into();
        let line = String::from_utf8(r.to_json_line()).unwrap();
        assert_eq!(
            line,
            "{\"time\":\"2025-05-01T12:00:00.5Z\",\"request\":{\"path\":\"/v1/key/create/k1\"},\
             \"response\":{\"code\":200,\"time\":1500000}}\n"
        );
        let parsed: kes_types::api::AuditEvent = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(parsed.response.time, 1_500_000);
    }
}
