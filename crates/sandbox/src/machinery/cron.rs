//! CronJob schedules as kube-controller-manager reads them: the standard
//! five fields (`minute hour day-of-month month day-of-week`) with lists,
//! ranges, steps and month/weekday names, the `@hourly`-style descriptors
//! and `@every <duration>`, parsed and worded as robfig/cron v3's
//! `ParseStandard` does (its errors reach the learner through validation:
//! `spec.schedule: Invalid value: "61 * * * *": end of range (61) above
//! maximum (59): 61`). [`Schedule::next`] walks the calendar of the
//! schedule's time zone as the library's `Next` does (real-time hours, so
//! a daylight-saving change shifts a run rather than losing it).

use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, ToSpan as _, Zoned};

/// The bit robfig/cron sets on a field written `*` (or `?`): a day of the
/// month and a day of the week then both have to match, not either.
const STAR: u64 = 1 << 63;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub(crate) enum Schedule {
    /// Field bit sets (bit n = value n allowed), in `zone`.
    Spec {
        minute: u64,
        hour: u64,
        dom: u64,
        month: u64,
        dow: u64,
        zone: TimeZone,
    },
    /// `@every 1h30m`: a constant delay, in whole seconds (at least one).
    Every(i64),
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// Go's `strconv.Atoi` and robfig's wording around it.
fn parse_uint(expr: &str) -> Result<u32, String> {
    let syntax = || {
        format!("failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: invalid syntax")
    };
    let digits = expr.strip_prefix(['+', '-']).unwrap_or(expr);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax());
    }
    match expr.parse::<i64>() {
        Ok(n) if n < 0 => Err(format!("negative number ({n}) not allowed: {expr}")),
        Ok(n) => u32::try_from(n).map_err(|_| {
            format!("failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: value out of range")
        }),
        Err(_) => Err(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: value out of range"
        )),
    }
}

fn int_or_name(expr: &str, b: &Bounds) -> Result<u32, String> {
    let lower = expr.to_ascii_lowercase();
    match b.names.iter().find(|(n, _)| *n == lower) {
        Some((_, v)) => Ok(*v),
        None => parse_uint(expr),
    }
}

/// One comma-separated part of a field: `*`, `5`, `1-5`, `*/15`, `10/5`, `mon-fri`.
fn range(expr: &str, b: &Bounds) -> Result<u64, String> {
    let steps: Vec<&str> = expr.split('/').collect();
    let ends: Vec<&str> = steps[0].split('-').collect();
    let single = ends.len() == 1;
    let mut extra = 0;
    let (start, mut end) = if ends[0] == "*" || ends[0] == "?" {
        extra = STAR;
        (b.min, b.max)
    } else {
        let start = int_or_name(ends[0], b)?;
        let end = match ends.len() {
            1 => start,
            2 => int_or_name(ends[1], b)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        (start, end)
    };
    let step = match steps.len() {
        1 => 1,
        2 => {
            let step = parse_uint(steps[1])?;
            // "N/step" means "N-max/step".
            if single {
                end = b.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    let mut bits = 0u64;
    let mut v = start;
    while v <= end {
        bits |= 1 << v;
        v += step;
    }
    Ok(bits | extra)
}

fn field(text: &str, b: &Bounds) -> Result<u64, String> {
    let mut bits = 0;
    for part in text.split(',').filter(|p| !p.is_empty()) {
        bits |= range(part, b)?;
    }
    Ok(bits)
}

/// Go's `time.ParseDuration`, for `@every`: `1h30m`, `90s`, `1.5h`.
fn go_duration(s: &str) -> Result<f64, String> {
    let bad = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0.0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(n);
        let value: f64 = num.parse().map_err(|_| bad())?;
        let u = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(u);
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            other => return Err(format!("time: unknown unit {other:?} in duration {s:?}")),
        };
        total += value * seconds;
        rest = tail;
    }
    Ok(if neg { -total } else { total })
}

/// A time zone as Go's `time.LoadLocation` finds it, or its error text.
pub(crate) fn load_zone(name: &str) -> Result<TimeZone, String> {
    if name.is_empty() || name == "UTC" {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name).map_err(|_| format!("unknown time zone {name}"))
}

impl Schedule {
    /// `cron.ParseStandard`: the schedule in `zone` unless it names one
    /// itself (`CRON_TZ=...`, which validation refuses for new objects).
    pub(crate) fn parse(spec: &str, zone: &TimeZone) -> Result<Schedule, String> {
        let mut spec = spec;
        let mut zone = zone.clone();
        if spec.is_empty() {
            return Err("empty spec string".into());
        }
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            let space = spec.find(' ').unwrap_or(spec.len());
            let eq = spec.find('=').unwrap_or(0);
            let name = &spec[eq + 1..space];
            zone = load_zone(name).map_err(|e| format!("provided bad location {name}: {e}"))?;
            spec = spec[space..].trim();
        }
        if spec.starts_with('@') {
            return Self::descriptor(spec, zone);
        }
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: [{}]",
                fields.len(),
                fields.join(" ")
            ));
        }
        Ok(Schedule::Spec {
            minute: field(fields[0], &MINUTES)?,
            hour: field(fields[1], &HOURS)?,
            dom: field(fields[2], &DOM)?,
            month: field(fields[3], &MONTHS)?,
            dow: field(fields[4], &DOW)?,
            zone,
        })
    }

    fn descriptor(spec: &str, zone: TimeZone) -> Result<Schedule, String> {
        let all = |b: &Bounds| range("*", b).unwrap_or(0);
        let at = |v: u32| 1u64 << v;
        let (minute, hour, dom, month, dow) = match spec {
            "@yearly" | "@annually" => (at(0), at(0), at(1), at(1), all(&DOW)),
            "@monthly" => (at(0), at(0), at(1), all(&MONTHS), all(&DOW)),
            "@weekly" => (at(0), at(0), all(&DOM), all(&MONTHS), at(0)),
            "@daily" | "@midnight" => (at(0), at(0), all(&DOM), all(&MONTHS), all(&DOW)),
            "@hourly" => (at(0), all(&HOURS), all(&DOM), all(&MONTHS), all(&DOW)),
            _ => {
                if let Some(d) = spec.strip_prefix("@every ") {
                    let secs = go_duration(d)
                        .map_err(|e| format!("failed to parse duration {spec}: {e}"))?;
                    // Rounded down to the second, at least one.
                    return Ok(Schedule::Every((secs.floor() as i64).max(1)));
                }
                return Err(format!("unrecognized descriptor: {spec}"));
            }
        };
        Ok(Schedule::Spec {
            minute,
            hour,
            dom,
            month,
            dow,
            zone,
        })
    }

    /// The first activation strictly after `after`, or None when none
    /// comes within five years (an impossible date such as 30 February).
    pub(crate) fn next(&self, after: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Every(secs) => {
                let t = after.as_second() + secs;
                Timestamp::from_second(t).ok()
            }
            Schedule::Spec {
                minute,
                hour,
                dom,
                month,
                dow,
                zone,
            } => next_spec([*minute, *hour, *dom, *month, *dow], zone, after),
        }
    }
}

fn has(bits: u64, v: i8) -> bool {
    v >= 0 && bits & (1 << v) != 0
}

fn day_matches(dom: u64, dow: u64, t: &Zoned) -> bool {
    let d = has(dom, t.day());
    let w = has(dow, t.weekday().to_sunday_zero_offset());
    if dom & STAR != 0 || dow & STAR != 0 {
        d && w
    } else {
        d || w
    }
}

/// robfig's `SpecSchedule.Next` (seconds are always 0 here): advance the
/// first field that does not match to its next value, resetting the
/// smaller ones, and start over when a larger one wraps.
fn next_spec(f: [u64; 5], zone: &TimeZone, after: Timestamp) -> Option<Timestamp> {
    let [minute, hour, dom, month, dow] = f;
    let midnight = |t: &Zoned, day: i8| {
        jiff::civil::date(t.year(), t.month(), day)
            .at(0, 0, 0, 0)
            .to_zoned(zone.clone())
            .ok()
    };
    // The next whole second, then (seconds field 0) the next whole minute.
    let mut t = Timestamp::from_second(after.as_second() + 1)
        .ok()?
        .to_zoned(zone.clone());
    let limit = t.year() + 5;
    let mut reset = false;
    'wrap: loop {
        if t.year() > limit {
            return None;
        }
        while !has(month, t.month()) {
            if !reset {
                reset = true;
                t = midnight(&t, 1)?;
            }
            t = t.checked_add(1.month()).ok()?;
            if t.month() == 1 {
                continue 'wrap;
            }
        }
        while !day_matches(dom, dow, &t) {
            if !reset {
                reset = true;
                t = midnight(&t, t.day())?;
            }
            t = t.checked_add(1.day()).ok()?;
            if t.day() == 1 {
                continue 'wrap;
            }
        }
        while !has(hour, t.hour()) {
            if !reset {
                reset = true;
                t = t.checked_sub(minutes_seconds(&t)).ok()?;
            }
            t = t.checked_add(1.hour()).ok()?;
            if t.hour() == 0 {
                continue 'wrap;
            }
        }
        while !has(minute, t.minute()) {
            if !reset {
                reset = true;
                t = t.checked_sub(seconds_only(&t)).ok()?;
            }
            t = t.checked_add(1.minute()).ok()?;
            if t.minute() == 0 {
                continue 'wrap;
            }
        }
        if t.second() != 0 {
            // The seconds field is "0": the next minute boundary.
            reset = true;
            t = t.checked_sub(seconds_only(&t)).ok()?;
            t = t.checked_add(1.minute()).ok()?;
            continue 'wrap;
        }
        return Some(t.timestamp());
    }
}

fn minutes_seconds(t: &Zoned) -> Span {
    i64::from(t.minute())
        .minutes()
        .seconds(i64::from(t.second()))
        .nanoseconds(i64::from(t.subsec_nanosecond()))
}

fn seconds_only(t: &Zoned) -> Span {
    i64::from(t.second())
        .seconds()
        .nanoseconds(i64::from(t.subsec_nanosecond()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(spec: &str, after: &str) -> String {
        Schedule::parse(spec, &TimeZone::UTC)
            .unwrap()
            .next(ts(after))
            .map(|t| t.to_string())
            .unwrap_or_default()
    }

    fn err(spec: &str) -> String {
        Schedule::parse(spec, &TimeZone::UTC).unwrap_err()
    }

    #[test]
    fn fields_lists_ranges_steps_and_names() {
        assert_eq!(
            next("*/1 * * * *", "2025-01-01T10:00:30Z"),
            "2025-01-01T10:01:00Z"
        );
        assert_eq!(
            next("* * * * *", "2025-01-01T10:01:00Z"),
            "2025-01-01T10:02:00Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2025-01-01T10:16:00Z"),
            "2025-01-01T10:30:00Z"
        );
        assert_eq!(
            next("0 3 * * *", "2025-01-01T10:00:00Z"),
            "2025-01-02T03:00:00Z"
        );
        assert_eq!(
            next("5,10 1-2 * * *", "2025-01-01T01:07:00Z"),
            "2025-01-01T01:10:00Z"
        );
        assert_eq!(
            next("0 0 1 jan *", "2025-03-01T00:00:00Z"),
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(
            next("0 9 * * MON-FRI", "2025-01-03T10:00:00Z"),
            "2025-01-06T09:00:00Z"
        );
        assert_eq!(
            next("30 2/6 * * *", "2025-01-01T03:00:00Z"),
            "2025-01-01T08:30:00Z"
        );
        // Day of month and day of week both restricted: either matches.
        assert_eq!(
            next("0 0 13 * 5", "2025-01-01T00:00:00Z"),
            "2025-01-03T00:00:00Z"
        );
        assert_eq!(
            next("@hourly", "2025-01-01T10:00:00Z"),
            "2025-01-01T11:00:00Z"
        );
        assert_eq!(
            next("@daily", "2025-01-01T10:00:00Z"),
            "2025-01-02T00:00:00Z"
        );
        assert_eq!(
            next("@weekly", "2025-01-01T10:00:00Z"),
            "2025-01-05T00:00:00Z"
        );
        assert_eq!(
            next("@yearly", "2025-01-01T10:00:00Z"),
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(
            next("@every 1h30m", "2025-01-01T10:00:00Z"),
            "2025-01-01T11:30:00Z"
        );
        // 30 February never comes.
        assert_eq!(next("0 0 30 2 *", "2025-01-01T00:00:00Z"), "");
    }

    #[test]
    fn time_zones() {
        let paris = load_zone("Europe/Paris").unwrap();
        let s = Schedule::parse("0 3 * * *", &paris).unwrap();
        // 03:00 in Paris in winter is 02:00 UTC.
        assert_eq!(
            s.next(ts("2025-01-01T10:00:00Z")).unwrap().to_string(),
            "2025-01-02T02:00:00Z"
        );
        assert_eq!(
            load_zone("Europe/Pariss").unwrap_err(),
            "unknown time zone Europe/Pariss"
        );
        let tokyo = Schedule::parse("CRON_TZ=Asia/Tokyo 0 9 * * *", &TimeZone::UTC).unwrap();
        assert_eq!(
            tokyo.next(ts("2025-01-01T10:00:00Z")).unwrap().to_string(),
            "2025-01-02T00:00:00Z"
        );
    }

    #[test]
    fn errors_read_as_robfig_cron() {
        assert_eq!(err(""), "empty spec string");
        assert_eq!(err("off"), "expected exactly 5 fields, found 1: [off]");
        assert_eq!(
            err("0 */3 * *"),
            "expected exactly 5 fields, found 4: [0 */3 * *]"
        );
        assert_eq!(
            err("61 * * * *"),
            "end of range (61) above maximum (59): 61"
        );
        assert_eq!(
            err("* * 0 * *"),
            "beginning of range (0) below minimum (1): 0"
        );
        assert_eq!(
            err("5-2 * * * *"),
            "beginning of range (5) beyond end of range (2): 5-2"
        );
        assert_eq!(
            err("x * * * *"),
            "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(err("1-2-3 * * * *"), "too many hyphens: 1-2-3");
        assert_eq!(err("*/2/3 * * * *"), "too many slashes: */2/3");
        assert_eq!(err("* * * * 7"), "end of range (7) above maximum (6): 7");
        assert_eq!(
            err("*/0 * * * *"),
            "step of range should be a positive number: */0"
        );
        assert_eq!(err("@often"), "unrecognized descriptor: @often");
        assert_eq!(
            err("@every x"),
            "failed to parse duration @every x: time: invalid duration \"x\""
        );
        assert!(
            err("TZ=Nowhere/Never * * * * *").starts_with("provided bad location Nowhere/Never")
        );
    }
}
