//! EventBridge Scheduler expressions — `at(…)`, `rate(…)`, `cron(…)` — and when each fires
//! next. Cron has Scheduler's six fields (minutes hours day-of-month month day-of-week
//! year; day-of-week 1–7 = SUN–SAT), with `*`, `?`, lists, ranges, steps and names.

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, TimeZone, Timelike, Utc};

#[derive(Debug, Clone, PartialEq)]
pub enum Expression {
    At(DateTime<Utc>),
    Rate(Duration),
    Cron(Box<Cron>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    minutes: Vec<u32>,
    hours: Vec<u32>,
    days: Option<Vec<u32>>,
    months: Vec<u32>,
    weekdays: Option<Vec<u32>>,
    years: Option<Vec<u32>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule expression `{expression}`: {reason}")]
pub struct ExpressionError {
    pub expression: String,
    pub reason: String,
}

impl Expression {
    /// Parses an expression; only UTC is supported as its time zone.
    pub fn parse(text: &str, timezone: Option<&str>) -> Result<Self, ExpressionError> {
        let err = |reason: &str| ExpressionError {
            expression: text.to_string(),
            reason: reason.to_string(),
        };
        if let Some(tz) = timezone.filter(|tz| !tz.is_empty() && *tz != "UTC" && *tz != "Etc/UTC") {
            return Err(err(&format!(
                "time zone {tz}: the twin runs schedules in UTC only"
            )));
        }
        let inner = |prefix: &str| {
            text.strip_prefix(prefix)
                .and_then(|t| t.strip_suffix(')'))
                .map(str::trim)
        };
        if let Some(at) = inner("at(") {
            let t = NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S")
                .map_err(|e| err(&e.to_string()))?;
            return Ok(Expression::At(Utc.from_utc_datetime(&t)));
        }
        if let Some(rate) = inner("rate(") {
            let (n, unit) = rate
                .split_once(' ')
                .ok_or_else(|| err("rate needs a value and a unit"))?;
            let n: i64 = n.parse().map_err(|_| err("rate value is not a number"))?;
            if n <= 0 {
                return Err(err("rate value must be positive"));
            }
            let d = match unit.trim_end_matches('s') {
                "minute" => Duration::minutes(n),
                "hour" => Duration::hours(n),
                "day" => Duration::days(n),
                _ => return Err(err("rate unit must be minutes, hours or days")),
            };
            return Ok(Expression::Rate(d));
        }
        if let Some(cron) = inner("cron(") {
            return Cron::parse(cron)
                .map(|c| Expression::Cron(Box::new(c)))
                .map_err(|r| err(&r));
        }
        Err(err("not at(), rate() or cron()"))
    }

    /// The first firing strictly after `after` (`start` anchors rates).
    pub fn next_after(&self, after: DateTime<Utc>, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Expression::At(t) => (*t > after).then_some(*t),
            Expression::Rate(d) => {
                if start > after {
                    return Some(start);
                }
                let periods = (after - start).num_seconds() / d.num_seconds().max(1) + 1;
                Some(start + *d * periods as i32)
            }
            Expression::Cron(cron) => cron.next_after(after),
        }
    }
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<Option<Vec<u32>>, String> {
    if text == "?" {
        return Ok(None);
    }
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + min);
        }
        s.parse::<u32>()
            .map_err(|_| format!("`{s}` is not a value"))
    };
    let mut out = Vec::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .map_err(|_| format!("bad step in `{part}`"))?,
            ),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("zero step in `{part}`"));
        }
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!("`{part}` is outside {min}-{max}"));
        }
        out.extend((lo..=hi).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    Ok(Some(out))
}

impl Cron {
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [minutes, hours, days, months, weekdays, years] = parts[..] else {
            return Err("cron needs six fields".into());
        };
        let need =
            |f: Option<Vec<u32>>, name: &str| f.ok_or(format!("`?` is not allowed in {name}"));
        let cron = Cron {
            minutes: need(field(minutes, 0, 59, &[])?, "minutes")?,
            hours: need(field(hours, 0, 23, &[])?, "hours")?,
            days: field(days, 1, 31, &[])?,
            months: need(field(months, 1, 12, &MONTHS)?, "months")?,
            weekdays: field(weekdays, 1, 7, &WEEKDAYS)?,
            years: if years == "*" {
                None
            } else {
                field(years, 1970, 2199, &[])?
            },
        };
        if cron.days.is_some() == cron.weekdays.is_some() && days != "*" && weekdays != "*" {
            return Err("one of day-of-month and day-of-week must be `?`".into());
        }
        Ok(cron)
    }

    fn day_matches(&self, t: DateTime<Utc>) -> bool {
        let in_list =
            |list: &Option<Vec<u32>>, v: u32| list.as_ref().is_none_or(|l| l.contains(&v));
        self.months.contains(&t.month())
            && in_list(&self.years, t.year() as u32)
            && in_list(&self.days, t.day())
            && in_list(&self.weekdays, t.weekday().num_days_from_sunday() + 1)
    }

    /// The first minute strictly after `after` that the expression names (within 5 years).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let first = after.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
        let midnight = |t: DateTime<Utc>| {
            Utc.with_ymd_and_hms(t.year(), t.month(), t.day(), 0, 0, 0)
                .single()
        };
        let mut day = midnight(first)?;
        for _ in 0..(366 * 5) {
            if self.day_matches(day) {
                for &h in &self.hours {
                    for &m in &self.minutes {
                        let t = day + Duration::hours(h.into()) + Duration::minutes(m.into());
                        if t >= first {
                            return Some(t);
                        }
                    }
                }
            }
            day += Duration::days(1);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn given_the_daily_window_cron_when_the_next_time_is_asked_then_it_opens_at_three() {
        let e = Expression::parse("cron(0 3 * * ? *)", Some("UTC")).unwrap();
        let start = t("2026-03-10T09:00:00Z");
        assert_eq!(e.next_after(start, start), Some(t("2026-03-11T03:00:00Z")));
        assert_eq!(
            e.next_after(t("2026-03-11T03:00:00Z"), start),
            Some(t("2026-03-12T03:00:00Z"))
        );
        assert_eq!(
            e.next_after(t("2026-03-11T02:59:30Z"), start),
            Some(t("2026-03-11T03:00:00Z"))
        );
    }

    #[test]
    fn given_a_cron_with_weekdays_ranges_and_steps_when_the_next_time_is_asked_then_all_apply() {
        let e = Expression::parse("cron(*/15 9-10 ? * MON-FRI *)", None).unwrap();
        // 2026-03-14 is a Saturday.
        let after = t("2026-03-13T10:50:00Z");
        assert_eq!(e.next_after(after, after), Some(t("2026-03-16T09:00:00Z")));
    }

    #[test]
    fn given_at_and_rate_when_the_next_time_is_asked_then_at_fires_once_and_rate_repeats() {
        let at = Expression::parse("at(2026-03-11T03:00:00)", None).unwrap();
        let start = t("2026-03-10T00:00:00Z");
        assert_eq!(at.next_after(start, start), Some(t("2026-03-11T03:00:00Z")));
        assert_eq!(at.next_after(t("2026-03-11T03:00:00Z"), start), None);
        let rate = Expression::parse("rate(4 hours)", None).unwrap();
        assert_eq!(
            rate.next_after(t("2026-03-10T05:00:00Z"), start),
            Some(t("2026-03-10T08:00:00Z"))
        );
    }

    #[test]
    fn given_bad_expressions_when_parsed_then_each_is_refused() {
        for bad in [
            "cron(0 3 * *)",
            "cron(61 3 * * ? *)",
            "rate(0 minutes)",
            "every day",
            "cron(0 3 * * ? *)",
        ] {
            let tz = if bad == "cron(0 3 * * ? *)" {
                Some("Europe/Paris")
            } else {
                None
            };
            assert!(Expression::parse(bad, tz).is_err(), "{bad}");
        }
    }
}
