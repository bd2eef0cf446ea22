//! Wall-clock timestamps as RFC 3339 UTC strings (`2026-11-28T15:19:25.123Z`), the
//! format of every time the toolkit writes into manifests and recordings; and the HTTP
//! dates of recorded `Date` headers, read by `httpdate`.
//!
//! RFC 3339 is written and read here by hand: no crate in the tree converts it to and
//! from epoch milliseconds (`toml_datetime` parses its text but not to an instant), and
//! the one format the toolkit writes takes two short civil-date conversions.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now (the unit of Meshy's timestamps).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// How long ago an epoch-milliseconds time was; `None` for a negative or future one.
pub fn ago(ms: i64) -> Option<std::time::Duration> {
    let then = std::time::Duration::from_millis(u64::try_from(ms).ok()?);
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .checked_sub(then)
}

/// The current time, RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// `time` as RFC 3339 UTC with milliseconds. Times before 1970 print as the epoch.
pub fn rfc3339(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since_epoch.subsec_millis()
    )
}

/// Milliseconds since the epoch of an RFC 3339 UTC time as [`rfc3339`] writes it
/// (`2026-11-28T15:19:25.123Z`; the fraction is optional). `None` for anything else.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let (clock, millis) = match time.split_once('.') {
        Some((clock, fraction)) => {
            let digits: String = fraction.chars().chain("000".chars()).take(3).collect();
            (clock, digits.parse::<i64>().ok()?)
        }
        None => (time, 0),
    };
    let mut clock = clock.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    // Years outside 1970..=9999 are not times this toolkit wrote (and could overflow).
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || !(0..=23).contains(&hour)
        || !(0..=59).contains(&minute)
        || !(0..=60).contains(&second)
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000) + millis)
}

/// Milliseconds since the epoch of an HTTP date (`Tue, 01 Dec 2026 14:13:51 GMT`, the
/// `Date` header; RFC 9110's obsolete RFC 850 and asctime forms too), read by `httpdate`,
/// which hyper's servers write it with. `None` for anything else, a weekday that is not
/// the date's included.
pub fn parse_http_date_ms(text: &str) -> Option<i64> {
    let since_epoch = httpdate::parse_http_date(text)
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?;
    i64::try_from(since_epoch.as_millis()).ok()
}

/// A proleptic Gregorian date to days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        let at =
            |secs, millis| UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis);
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(at(951_782_400, 5)), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(at(1_763_500_000, 123)), "2025-11-18T21:06:40.123Z");
    }

    #[test]
    fn parses_http_dates() {
        assert_eq!(
            parse_http_date_ms("Tue, 18 Nov 2025 21:06:40 GMT"),
            Some(1_763_500_000_000)
        );
        assert_eq!(parse_http_date_ms("yesterday"), None);
        // The obsolete forms a server may still send (RFC 9110, section 5.6.7).
        for obsolete in [
            "Tuesday, 18-Nov-25 21:06:40 GMT",
            "Tue Nov 18 21:06:40 2025",
        ] {
            assert_eq!(parse_http_date_ms(obsolete), Some(1_763_500_000_000));
        }
        // A weekday that is not the date's, a missing zone, a time out of range.
        for bad in [
            "Wed, 18 Nov 2025 21:06:40 GMT",
            "Tue, 18 Nov 2025 21:06:40",
            "Tue, 18 Nov 2025 24:06:40 GMT",
        ] {
            assert_eq!(parse_http_date_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_what_it_writes_and_nothing_else() {
        assert_eq!(
            parse_rfc3339_ms("2025-11-18T21:06:40.123Z"),
            Some(1_763_500_000_123)
        );
        assert_eq!(
            parse_rfc3339_ms("2000-02-29T00:00:00Z"),
            Some(951_782_400_000)
        );
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00.000Z"), Some(0));
        for bad in [
            "300000000-01-01T00:00:00Z",
            "2026-12-01T-9999999999999999:00:00Z",
            "",
            "2025-11-18",
            "2025-13-01T00:00:00Z",
            "2025-11-18T21:06:40+01:00",
            "x-y-zT1:2:3Z",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }
}
